"""The counter's contract: starts at the instantiation argument, adds each increment."""

from __future__ import annotations

from edgechain.sdk import Contract

from .abi import CounterAbi, Increment
from .state import CounterState


class CounterContract(Contract):
    """Keeps one integer; refuses increments that are not positive."""

    abi = CounterAbi
    State = CounterState

    def instantiate(self, argument: int) -> None:
        if argument < 0:
            raise ValueError("the counter starts at zero or more")
        self.state.value.set(argument)

    def execute_operation(self, operation: Increment) -> int:
        if operation.value <= 0:
            raise ValueError("increments must be positive")
        value = self.state.value.get() + operation.value
        self.state.value.set(value)
        return value

    def execute_message(self, message: None) -> None:
        raise ValueError("the counter sends and receives no messages")
