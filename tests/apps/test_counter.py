"""The counter application end to end on a local network of four validators."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgechain.execution.errors import ContractFailed
from edgechain.execution.modules import pack_application_sources, read_application_sources
from edgechain.testing import ApplicationTester, import_application

COUNTER = Path(__file__).resolve().parents[2] / "apps" / "counter"
COUNTER_APP = import_application(COUNTER)
CounterAbi = COUNTER_APP.abi.CounterAbi
Increment = COUNTER_APP.abi.Increment


def run(scenario: Callable[[ApplicationTester], Awaitable[None]], validators: int = 4) -> None:
    tester = ApplicationTester.create(validators=validators, users=2)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


async def new_counter(tester: ApplicationTester, start: int = 0) -> Any:
    module_id = await tester.publish_module(COUNTER)
    return await tester.create_application(module_id, abi=CounterAbi, argument=start)


def value_of(tester: ApplicationTester, app: Any, validator: int = 0) -> int:
    response = tester.query(app, "query { value }", validator=validator)
    assert "errors" not in response, response
    return int(response["data"]["value"])


def test_publish_create_increment_and_read_by_graphql() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_counter(tester, start=5)
        assert value_of(tester, app) == 5
        certificate = await tester.execute_operation(app, Increment(3), abi=CounterAbi)
        assert certificate.value.executed_block.outcome.fuel_used > 0
        assert [value_of(tester, app, validator) for validator in range(4)] == [8, 8, 8, 8]

    run(scenario)


def test_mutation_schedules_an_operation_that_the_next_block_runs() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_counter(tester)
        response, certificate = await tester.mutate(app, "mutation { increment(value: 7) }")
        assert response == {"data": {"increment": True}}
        assert certificate is not None
        (operation,) = certificate.value.executed_block.block.operations
        assert operation.application_id == app
        assert value_of(tester, app) == 7

    run(scenario)


def test_a_contract_that_raises_fails_its_block_and_leaves_the_state_unharmed() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_counter(tester, start=1)
        before = tester.chain_state().execution_state.hash()
        with pytest.raises(ContractFailed, match="increments must be positive"):
            await tester.execute_operation(app, Increment(0), abi=CounterAbi)
        assert tester.chain_state().execution_state.hash() == before
        assert value_of(tester, app) == 1
        await tester.execute_operation(app, Increment(2), abi=CounterAbi)
        assert value_of(tester, app) == 3, "the chain goes on after the failed block"

    run(scenario)


WRITING_SERVICE = textwrap.dedent(
    """\
    from __future__ import annotations

    import strawberry

    from edgechain.sdk import Service

    from .abi import CounterAbi
    from .state import CounterState


    @strawberry.type
    class Query:
        @strawberry.field
        def value(self, info: strawberry.Info) -> int:
            return info.context.state.value.get()


    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def reset(self, info: strawberry.Info) -> bool:
            info.context.state.value.set(0)
            return True


    class WritingService(Service):
        abi = CounterAbi
        State = CounterState
        Query = Query
        Mutation = Mutation
    """
)


def test_a_service_that_writes_gets_an_error_and_changes_nothing() -> None:
    sources = read_application_sources(COUNTER) | {"service": WRITING_SERVICE}

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(pack_application_sources(sources))
        app = await tester.create_application(module_id, abi=CounterAbi, argument=4)
        response, certificate = await tester.mutate(app, "mutation { reset }")
        assert certificate is None
        assert response["data"] is None
        assert "cannot change application state" in response["errors"][0]["message"]
        assert value_of(tester, app) == 4

    run(scenario, validators=1)


def test_every_validator_signs_the_same_fuel() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_counter(tester)
        certificate = await tester.execute_operation(app, Increment(1), abi=CounterAbi)
        executed = certificate.value.executed_block
        assert executed.outcome.fuel_used > 0
        assert len(certificate.signatures) >= 3, "a quorum signed the outcome, fuel included"
        for storage in tester.network.storages:
            chain = storage.load_chain_scratch(tester.chain_id())
            assert chain.tip_state.get().block_hash == certificate.value.hash()

    run(scenario)


FUEL_SCRIPT = textwrap.dedent(
    """\
    import asyncio, json, sys
    from edgechain.testing import ApplicationTester, import_application

    counter = sys.argv[1]
    abi = import_application(counter).abi

    async def main():
        tester = ApplicationTester.create(validators=1, users=1)
        from edgechain.base.values import Timestamp
        tester.clients[0].clock = (lambda c=iter(range(10**6, 2 * 10**6)): Timestamp(next(c)))
        module_id = await tester.publish_module(counter)
        app = await tester.create_application(module_id, abi=abi.CounterAbi, argument=1)
        fuel = []
        for value in (1, 2, 3):
            certificate = await tester.execute_operation(app, abi.Increment(value), abi=abi.CounterAbi)
            fuel.append(certificate.value.executed_block.outcome.fuel_used)
        state = tester.chain_state().execution_state.hash()
        print(json.dumps({"fuel": fuel, "state": state.hex()}))

    asyncio.run(main())
    """
)


def test_fuel_and_state_are_identical_under_different_hash_seeds(tmp_path: Path) -> None:
    script = tmp_path / "fuel.py"
    script.write_text(FUEL_SCRIPT)
    results = []
    for seed in ("1", "2024"):
        environment = dict(os.environ, PYTHONHASHSEED=seed)
        completed = subprocess.run(
            [sys.executable, str(script), str(COUNTER)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]
    assert all(fuel > 0 for fuel in results[0]["fuel"])
