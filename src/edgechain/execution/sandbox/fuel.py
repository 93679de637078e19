"""Fuel: the deterministic price list of contract execution and the meter that enforces it."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.execution.errors import OutOfFuel, SandboxViolation


@dataclass(frozen=True, slots=True)
class CostTable:
    """Fuel prices of the sandbox's instrumented steps (referenced by `ResourceControlPolicy`)."""

    statement: int = 1
    """Per statement of a block, charged when the block is entered (a loop body: every iteration)."""
    call: int = 4
    """Per call of a function or lambda defined by the contract."""
    iteration: int = 1
    """Per item an iterator yields to contract code or to a builtin the contract called."""
    element: int = 1
    """Per element, character, byte or 64-bit integer word created, copied or scanned by an
    operation whose cost scales with its data (charged before the operation runs)."""
    import_module: int = 100
    """Per `import` statement executed."""

    def __post_init__(self) -> None:
        for name in ("statement", "call", "iteration", "element", "import_module"):
            if getattr(self, name) < 0:
                raise ValueError(f"CostTable.{name} must not be negative")


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Hard limits of the sandbox that fuel alone does not express."""

    max_call_depth: int = 100
    """Deepest nesting of contract-defined calls; deeper recursion is a `SandboxViolation`."""
    max_int_digits: int = 4000
    """Largest decimal size of an integer converted to or from text (below CPython's 4300)."""

    def __post_init__(self) -> None:
        if self.max_call_depth < 1:
            raise ValueError("SandboxLimits.max_call_depth must be at least 1")
        if not 0 < self.max_int_digits <= 4300:
            raise ValueError("SandboxLimits.max_int_digits must be in 1..4300")


class FuelMeter:
    """Counts fuel down from a limit; `charge` refuses, before the work, what the limit cannot pay."""

    __slots__ = ("_limit", "_used")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"fuel limit must not be negative, got {limit}")
        self._limit = limit
        self._used = 0

    @property
    def limit(self) -> int:
        """The fuel this meter started with."""
        return self._limit

    @property
    def used(self) -> int:
        """The fuel charged so far."""
        return self._used

    @property
    def remaining(self) -> int:
        """The fuel left to charge."""
        return self._limit - self._used

    @property
    def exhausted(self) -> bool:
        """Whether nothing is left (any further charge fails)."""
        return self._used >= self._limit

    def charge(self, amount: int) -> None:
        """Take `amount` fuel, or raise `OutOfFuel` and take everything that was left."""
        if amount < 0:
            raise SandboxViolation(f"negative fuel charge {amount}")
        if amount > self._limit - self._used:
            used_before = self._used
            self._used = self._limit
            raise OutOfFuel(self._limit, used_before, amount)
        self._used += amount
