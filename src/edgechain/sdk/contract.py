"""`Contract`: the on-chain half of an application (runs in the sandbox on every validator).

Lifecycle per transaction, as in Linera's ``linera-sdk``::

    contract = MyContract.load(runtime)          # state loaded over the application's keys
    contract.instantiate(argument)               # once, in the block that creates the app
    response = contract.execute_operation(op)    # a user operation of a block, or a call
    contract.execute_message(message)            # a message from this app on another chain
    contract.store()                             # end of the transaction

Declare the ABI (``abi = MyAbi``) and the state class (``State = MyState``); the base
class loads ``self.state`` and keeps ``self.runtime``. Everything the contract does is
metered; raising an exception fails the operation and its whole block (nothing persists).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from edgechain.execution.runtime import ContractRuntime
from edgechain.sdk.abi import Abi
from edgechain.sdk.views import RootView

C = TypeVar("C", bound="Contract")


class Contract:
    """Base class of an application's contract; subclass it in ``contract.py`` (exactly one)."""

    abi: ClassVar[type[Abi]] = Abi
    """The application's ABI (its operation, message, response, parameter and argument types)."""
    State: ClassVar[type[RootView] | None] = None
    """The application's state class; loaded as ``self.state`` (None: no state)."""

    def __init__(self, runtime: ContractRuntime) -> None:
        self.runtime = runtime
        """What the contract may ask of the validator."""
        if self.State is not None:
            self.state = self.State.load(runtime)

    @classmethod
    def load(cls: type[C], runtime: ContractRuntime) -> C:
        """A contract instance for one transaction (Linera's ``Contract::load``)."""
        return cls(runtime)

    def instantiate(self, argument: Any) -> None:
        """Called once, when the application is created (on its creator chain)."""
        return None

    def execute_operation(self, operation: Any) -> Any:
        """Execute an operation (``abi.Operation``); return ``abi.Response``."""
        raise NotImplementedError(f"{type(self).__name__} executes no operations")

    def execute_message(self, message: Any) -> None:
        """Execute a message (``abi.Message``) sent by this application on another chain."""
        raise NotImplementedError(f"{type(self).__name__} executes no messages")

    def store(self) -> None:
        """Called at the end of each transaction (state changes are already staged in the chain)."""
        return None
