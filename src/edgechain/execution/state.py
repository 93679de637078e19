"""The execution state of one chain (the system application's and the user applications'),
and the per-block executor that dispatches operations and messages to the right application.
"""

from __future__ import annotations

from edgechain.base.identifiers import AccountOwner, ApplicationId, ChainId
from edgechain.execution.applications import ApplicationDescription, ApplicationStorageView
from edgechain.execution.blobs import BlobChecker, BlobReader, no_blobs_available
from edgechain.execution.messages import Message, OutgoingMessage, UserMessage
from edgechain.execution.operations import (
    CreateApplication,
    Operation,
    PublishModule,
    UserOperation,
)
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.system import BlockContext, SystemExecution
from edgechain.execution.system_state import SystemExecutionStateView
from edgechain.execution.user_execution import UserExecution
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext


class ExecutionStateView(CompositeView):
    """Everything a chain's transactions may change; its hash is the block's state hash."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.system = self.subview("system", SystemExecutionStateView)
        """The system application's state."""
        self.applications = self.map("applications", ApplicationId, ApplicationDescription)
        """The user applications known on this chain (created here, or whose message arrived)."""
        self.application_states = self.collection(
            "application_states", ApplicationId, ApplicationStorageView
        )
        """Each user application's own key-value space."""

    def block_executor(
        self,
        block: BlockContext,
        policy: ResourceControlPolicy | None = None,
        blob_checker: BlobChecker = no_blobs_available,
        blob_source: BlobReader | None = None,
    ) -> BlockExecutor:
        """An executor for the transactions of one block (under ``policy``; no fees by default)."""
        return BlockExecutor(
            self, block, policy or ResourceControlPolicy.no_fees(), blob_checker, blob_source
        )


class BlockExecutor:
    """Dispatches one block's operations and messages to the applications that execute them."""

    def __init__(
        self,
        state: ExecutionStateView,
        block: BlockContext,
        policy: ResourceControlPolicy,
        blob_checker: BlobChecker,
        blob_source: BlobReader | None,
    ) -> None:
        self.block = block
        self.system = SystemExecution(state.system, block)
        self.user = UserExecution(state, block, self.system, policy, blob_checker, blob_source)
        self.operation_count = 0

    @property
    def fuel_used(self) -> int:
        """Fuel the block's contracts used so far."""
        return self.user.tracker.fuel_used

    def close(self) -> None:
        """Release what the block loaded (contract sandboxes)."""
        self.user.close()

    def execute_operation(self, operation: Operation) -> list[OutgoingMessage]:
        """Execute the block's next operation; return the messages it sends."""
        operation_index = self.operation_count
        self.operation_count += 1
        if isinstance(operation, UserOperation):
            self.system.check_open()
            return self.user.execute_operation(operation.application_id, operation.payload)
        if isinstance(operation, PublishModule):
            self.system.check_open()
            return self.user.publish_module(operation)
        if isinstance(operation, CreateApplication):
            self.system.check_open()
            return self.user.create_application(operation, operation_index)
        return self.system.execute_operation(operation)

    def execute_message(
        self,
        origin: ChainId,
        authenticated_signer: AccountOwner | None,
        is_bouncing: bool,
        message: Message,
    ) -> list[OutgoingMessage]:
        """Execute one accepted message; return the messages it sends."""
        if isinstance(message, UserMessage):
            return self.user.execute_message(origin, authenticated_signer, is_bouncing, message)
        return self.system.execute_message(origin, authenticated_signer, is_bouncing, message)
