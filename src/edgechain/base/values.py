"""Numeric protocol values: `Amount` (atto-units, checked), `Timestamp` (µs), `BlockHeight`, `Epoch`.

All are integers with checked arithmetic: an operation that would leave the range raises
`ArithmeticOverflow` instead of wrapping, so a balance can never go negative.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from edgechain.base.errors import ArithmeticOverflow

U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
ATTO_PER_TOKEN = 10**18
_TOKEN_TEXT = re.compile(r"([0-9]+)(?:\.([0-9]{0,18}))?")


def _check_range(kind: str, value: int, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArithmeticOverflow(f"{kind} must be an integer, got {type(value).__name__}")
    if value < 0 or value > maximum:
        raise ArithmeticOverflow(f"{kind} {value} is outside 0..{maximum}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class Amount:
    """An amount of native tokens, in atto-units (10^-18 of a token), from 0 to 2^128 - 1."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    atto: int
    """The amount in atto-units."""

    def __post_init__(self) -> None:
        _check_range("amount", self.atto, U128_MAX)

    @classmethod
    def zero(cls) -> Amount:
        return cls(0)

    @classmethod
    def from_tokens(cls, tokens: int | str | Decimal) -> Amount:
        """Parse a token count such as ``5`` or ``"1.25"`` exactly (no floats, no rounding)."""
        if isinstance(tokens, bool) or not isinstance(tokens, (int, str, Decimal)):
            raise ArithmeticOverflow(f"not a token amount: {tokens!r}")
        if isinstance(tokens, int):
            return cls(tokens * ATTO_PER_TOKEN)
        text = str(tokens).strip()
        match = _TOKEN_TEXT.fullmatch(text)
        if match is None:
            raise ArithmeticOverflow(
                f"not a token amount (digits with at most 18 decimals): {tokens!r}"
            )
        whole, fraction = match.group(1), match.group(2) or ""
        return cls(int(whole) * ATTO_PER_TOKEN + int(fraction.ljust(18, "0") or "0"))

    def try_add(self, other: Amount) -> Amount:
        return Amount(_check_range("amount", self.atto + other.atto, U128_MAX))

    def try_sub(self, other: Amount) -> Amount:
        if other.atto > self.atto:
            raise ArithmeticOverflow(f"cannot subtract {other} from {self}")
        return Amount(self.atto - other.atto)

    def saturating_sub(self, other: Amount) -> Amount:
        return Amount(max(0, self.atto - other.atto))

    def __str__(self) -> str:
        whole, fraction = divmod(self.atto, ATTO_PER_TOKEN)
        if fraction == 0:
            return f"{whole}."
        return f"{whole}.{fraction:018d}".rstrip("0")


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """Microseconds since the Unix epoch."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    micros: int
    """Microseconds since 1970-01-01T00:00:00Z."""

    def __post_init__(self) -> None:
        _check_range("timestamp", self.micros, U64_MAX)

    @classmethod
    def now(cls) -> Timestamp:
        return cls(time.time_ns() // 1000)

    def __str__(self) -> str:
        return f"{self.micros}µs"


@dataclass(frozen=True, slots=True, order=True)
class BlockHeight:
    """The index of a block in its chain, starting at 0."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    value: int
    """The height."""

    def __post_init__(self) -> None:
        _check_range("block height", self.value, U64_MAX)

    def next(self) -> BlockHeight:
        return BlockHeight(_check_range("block height", self.value + 1, U64_MAX))

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True, order=True)
class Epoch:
    """The number of a committee configuration, starting at 0."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    value: int
    """The epoch number."""

    def __post_init__(self) -> None:
        _check_range("epoch", self.value, U64_MAX)

    def next(self) -> Epoch:
        return Epoch(_check_range("epoch", self.value + 1, U64_MAX))

    def __str__(self) -> str:
        return str(self.value)
