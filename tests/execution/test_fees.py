"""The resource-control policy on user applications: fees from the chain balance, limits."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest
from probe_app import SOURCES

from edgechain.base.encoding import encode
from edgechain.base.values import Amount
from edgechain.execution.errors import InsufficientFundingForFees, OutOfFuel, PolicyLimitExceeded
from edgechain.execution.modules import pack_application_sources
from edgechain.execution.operations import UserOperation
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.service_runtime import ServiceConfig, import_application_sources
from edgechain.testing import ApplicationTester

PROBE = import_application_sources(SOURCES).abi
MODULE = pack_application_sources(SOURCES)


def run(
    policy: ResourceControlPolicy, scenario: Callable[[ApplicationTester], Awaitable[None]]
) -> None:
    tester = ApplicationTester.create(validators=1, users=2, policy=policy)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def test_testnet_fees_are_paid_from_the_chain_balance_and_grow_with_fuel_and_bytes() -> None:
    policy = ResourceControlPolicy.testnet()

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(MODULE)
        app = await tester.create_application(
            module_id, abi=PROBE.ProbeAbi, argument=0, parameters=0
        )
        client = tester.clients[0]
        fees = []
        for value in (1, 2):
            before = await client.query_balance()
            certificate = await tester.execute_operation(app, PROBE.Add(value), abi=PROBE.ProbeAbi)
            outcome = certificate.value.executed_block.outcome
            assert await client.query_balance() == before.try_sub(outcome.fees)
            minimum = (
                policy.block.atto
                + policy.operation.atto
                + policy.fuel_unit.atto * outcome.fuel_used
            )
            assert outcome.fees.atto > minimum, "bytes read and written are charged too"
            fees.append(outcome.fees)
        assert fees[0] == fees[1], "the same work costs the same"
        heavier = await tester.execute_operation(
            app, PROBE.Send(tester.chain_id(1), 1, False), abi=PROBE.ProbeAbi
        )
        assert heavier.value.executed_block.outcome.fees > fees[0], "a message costs more"

    run(policy, scenario)


def test_published_module_blob_bytes_are_charged() -> None:
    policy = ResourceControlPolicy.testnet()

    async def scenario(tester: ApplicationTester) -> None:
        client = tester.clients[0]
        before = await client.query_balance()
        await tester.publish_module(MODULE)
        paid = before.try_sub(await client.query_balance())
        blob_bytes = len(MODULE.contract.content) + len(MODULE.service.content)
        assert (
            paid.atto
            >= 2 * policy.blob_published.atto + blob_bytes * policy.blob_byte_published.atto
        )

    run(policy, scenario)


def test_bytecode_larger_than_the_limit_is_refused() -> None:
    policy = dataclasses.replace(ResourceControlPolicy.no_fees(), maximum_bytecode_size=1000)

    async def scenario(tester: ApplicationTester) -> None:
        with pytest.raises(PolicyLimitExceeded, match="bytecode"):
            await tester.publish_module(MODULE)

    run(policy, scenario)


def test_bytes_written_per_block_are_limited() -> None:
    policy = dataclasses.replace(ResourceControlPolicy.no_fees(), maximum_bytes_written_per_block=4)

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(MODULE)
        with pytest.raises(PolicyLimitExceeded, match="write"):
            await tester.create_application(module_id, abi=PROBE.ProbeAbi, argument=1, parameters=0)

    run(policy, scenario)


def test_fuel_per_block_bounds_the_sum_of_its_transactions() -> None:
    policy = dataclasses.replace(
        ResourceControlPolicy.no_fees(),
        maximum_fuel_per_transaction=10_000,
        maximum_fuel_per_block=10_000,
    )

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(MODULE)
        app = await tester.create_application(
            module_id, abi=PROBE.ProbeAbi, argument=1, parameters=0
        )
        certificate = await tester.execute_operation(app, PROBE.Add(1), abi=PROBE.ProbeAbi)
        one = certificate.value.executed_block.outcome.fuel_used
        assert one < 10_000
        count = 10_000  # each costs at least one unit of fuel: together more than the block's
        operation = UserOperation(app, encode(PROBE.Add(1), PROBE.ProbeAbi.Operation))
        with pytest.raises(OutOfFuel):
            await tester.execute_operations([operation] * count)

    run(policy, scenario)


def test_a_chain_that_cannot_pay_its_fees_cannot_run_applications() -> None:
    policy = dataclasses.replace(ResourceControlPolicy.testnet(), fuel_unit=Amount.from_tokens(1))

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(MODULE)
        with pytest.raises(InsufficientFundingForFees):
            await tester.create_application(module_id, abi=PROBE.ProbeAbi, argument=1, parameters=0)

    run(policy, scenario)


def test_service_config_takes_its_http_limits_from_the_policy() -> None:
    config = ServiceConfig.from_policy(ResourceControlPolicy.testnet(), ["example.com"])
    assert config.allowed_hosts == ("example.com",)
    assert config.max_response_bytes == 10_000_000 and config.timeout_seconds == 10.0
