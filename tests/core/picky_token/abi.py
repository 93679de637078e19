"""A test token that refuses credits carrying one note (its parameters): for inbox tests."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.sdk import Abi, ChainId


@dataclass(frozen=True)
class Send:
    """Debit ``amount`` here and send it to ``target`` in a tracked ``Credit`` with ``note``."""

    target: ChainId
    """The receiving chain."""
    amount: int
    """How much; positive."""
    note: str
    """Carried by the credit; the receiving chain refuses the parameters' note."""


@dataclass(frozen=True)
class Credit:
    """Add ``amount`` to the receiving chain's balance (refunded to the sender if it bounces)."""

    amount: int
    """How much."""
    note: str
    """A credit whose note equals the application's parameters is refused."""


class PickyTokenAbi(Abi):
    """Operation: Send; message: Credit; parameters: the refused note; argument: the start balance."""

    Operation = Send
    Response = None
    Message = Credit
    Parameters = str
    InstantiationArgument = int
