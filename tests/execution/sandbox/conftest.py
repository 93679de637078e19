"""Shared helpers of the sandbox tests: compile a contract from source and call into it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from edgechain.execution.sandbox import ContractSandbox, FuelMeter, compile_contract, run_in_sandbox


@dataclass
class ContractRun:
    """The result of one metered call and the meter it used."""

    result: Any
    meter: FuelMeter


RunContract = Callable[..., ContractRun]


@pytest.fixture
def run_contract() -> RunContract:
    """Compile `source` as the 'contract' module, load it and call `entry` under a meter."""
    sandboxes: list[ContractSandbox] = []

    def run(
        source: str,
        entry: str = "main",
        *args: Any,
        fuel: int = 1_000_000,
        siblings: Mapping[str, str] | None = None,
    ) -> ContractRun:
        compiled = compile_contract({"contract": source, **(siblings or {})})
        sandbox = ContractSandbox(compiled)
        sandboxes.append(sandbox)
        meter = FuelMeter(fuel)
        result = run_in_sandbox(sandbox, entry, *args, meter=meter)
        return ContractRun(result, meter)

    yield run  # type: ignore[misc]
    for sandbox in sandboxes:
        sandbox.close()
