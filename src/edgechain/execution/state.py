"""The execution state of one chain (the system application's, and later the user applications'),
and the per-block executor that dispatches operations and messages to the right application.
"""

from __future__ import annotations

from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.execution.errors import UnsupportedApplication
from edgechain.execution.messages import Message, OutgoingMessage, UserMessage
from edgechain.execution.operations import Operation, UserOperation
from edgechain.execution.system import BlockContext, SystemExecution
from edgechain.execution.system_state import SystemExecutionStateView
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext


class ExecutionStateView(CompositeView):
    """Everything a chain's transactions may change; its hash is the block's state hash."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.system = self.subview("system", SystemExecutionStateView)
        """The system application's state."""

    def block_executor(self, block: BlockContext) -> BlockExecutor:
        """An executor for the transactions of one block."""
        return BlockExecutor(self, block)


class BlockExecutor:
    """Dispatches one block's operations and messages to the applications that execute them."""

    def __init__(self, state: ExecutionStateView, block: BlockContext) -> None:
        self.block = block
        self.system = SystemExecution(state.system, block)

    def execute_operation(self, operation: Operation) -> list[OutgoingMessage]:
        if isinstance(operation, UserOperation):
            raise UnsupportedApplication(
                f"user operation for application {operation.application_id} on chain"
                f" {self.block.chain_id}: no contract runtime is available to execute it"
            )
        return self.system.execute_operation(operation)

    def execute_message(
        self,
        origin: ChainId,
        authenticated_signer: AccountOwner | None,
        is_bouncing: bool,
        message: Message,
    ) -> list[OutgoingMessage]:
        if isinstance(message, UserMessage):
            raise UnsupportedApplication(
                f"user message for application {message.application_id} on chain"
                f" {self.block.chain_id}: no contract runtime is available to execute it"
            )
        return self.system.execute_message(origin, authenticated_signer, is_bouncing, message)
