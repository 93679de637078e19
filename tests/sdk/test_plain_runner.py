"""PlainContractRunner: the same contract as plain Python leaves the same state as on chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edgechain.testing import ApplicationTester, PlainContractRunner

COUNTER = Path(__file__).resolve().parents[2] / "apps" / "counter"


def test_plain_run_matches_the_sandboxed_run_key_for_key() -> None:
    plain = PlainContractRunner(COUNTER)
    abi = plain.abi_module
    plain.instantiate(5)
    assert [plain.execute_operation(abi.Increment(value)) for value in (1, 2, 3)] == [6, 8, 11]
    with pytest.raises(ValueError, match="positive"):
        plain.execute_operation(abi.Increment(0))

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(COUNTER)
        app = await tester.create_application(module_id, abi=abi.CounterAbi, argument=5)
        for value in (1, 2, 3):
            await tester.execute_operation(app, abi.Increment(value), abi=abi.CounterAbi)
        on_chain = tester.chain_state().execution_state.application_states.load_entry(app)
        assert on_chain.entries.items() == plain._storage._view.entries.items()

    tester = ApplicationTester.create(validators=1, users=1)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()
