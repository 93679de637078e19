"""The picky token's contract: sends tracked credits, refuses credits with the refused note."""

from __future__ import annotations

from edgechain.sdk import Contract

from .abi import Credit, PickyTokenAbi, Send
from .state import PickyTokenState


class PickyTokenContract(Contract):
    """Balances move in tracked credits; a refused credit bounces back and is refunded."""

    abi = PickyTokenAbi
    State = PickyTokenState

    def instantiate(self, argument: int) -> None:
        self.state.balance.set(argument)

    def execute_operation(self, operation: Send) -> None:
        balance = self.state.balance.get()
        if operation.amount <= 0 or operation.amount > balance:
            raise ValueError("cannot send that amount")
        self.state.balance.set(balance - operation.amount)
        credit = Credit(operation.amount, operation.note)
        self.runtime.send_message(operation.target, credit, tracked=True)

    def execute_message(self, message: Credit) -> None:
        if (
            not self.runtime.message_is_bouncing()
            and message.note == self.runtime.application_parameters()
        ):
            raise ValueError("this chain refuses credits with that note")
        self.state.balance.set(self.state.balance.get() + message.amount)
