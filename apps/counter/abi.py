"""The counter's ABI: one operation (increment by a value), a response (the new value)."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.sdk import Abi


@dataclass(frozen=True)
class Increment:
    """Add ``value`` to the counter."""

    value: int


class CounterAbi(Abi):
    """Operations are increments; the response is the new value; the argument is the start value."""

    Operation = Increment
    Response = int
    InstantiationArgument = int
