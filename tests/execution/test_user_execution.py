"""User applications on a real local network: publication, creation, runtime calls, messages, fuel."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from probe_app import SOURCES

from edgechain.base.identifiers import Account, ApplicationId
from edgechain.base.values import Amount
from edgechain.execution.errors import (
    ApplicationReentrancy,
    BlobNotListed,
    ContractFailed,
    InvalidApplicationData,
    InvalidModule,
    OutOfFuel,
    SandboxViolation,
    UnauthorizedOperation,
    UnknownApplication,
)
from edgechain.execution.messages import MessageAction
from edgechain.execution.modules import ApplicationModule, pack_application_sources
from edgechain.execution.operations import PublishModule, UserOperation
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.service_runtime import import_application_sources
from edgechain.testing import ApplicationTester

PROBE = import_application_sources(SOURCES).abi
ProbeAbi = PROBE.ProbeAbi
MODULE = pack_application_sources(SOURCES)


def run(
    scenario: Callable[[ApplicationTester], Awaitable[None]],
    validators: int = 1,
    policy: ResourceControlPolicy | None = None,
) -> None:
    tester = ApplicationTester.create(validators=validators, users=2, policy=policy)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


async def new_probe(
    tester: ApplicationTester, start: int = 0, parameters: int = 0, user: int = 0
) -> ApplicationId:
    module_id = await tester.publish_module(MODULE, user=user)
    return await tester.create_application(
        module_id, abi=ProbeAbi, argument=start, parameters=parameters, user=user
    )


async def operate(
    tester: ApplicationTester, app: ApplicationId, operation: Any, user: int = 0
) -> Any:
    return await tester.execute_operation(app, operation, abi=ProbeAbi, user=user)


def query(
    tester: ApplicationTester, app: ApplicationId, field: str, user: int = 0, validator: int = 0
) -> Any:
    response = tester.query(app, f"query {{ {field} }}", user=user, validator=validator)
    assert "errors" not in response, response
    return response["data"][field.split("(")[0]]


def test_parameters_and_argument_reach_instantiate() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester, start=10, parameters=5)
        assert query(tester, app, "total") == 15
        assert query(tester, app, "parameters") == 5

    run(scenario)


def test_application_id_is_the_hash_of_its_description() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        first = await new_probe(tester, parameters=1)
        second = await new_probe(tester, parameters=1)
        assert first != second, "created at another height: another application"
        description = tester.chain_state().execution_state.applications.get(first)
        assert description is not None and description.application_id() == first
        assert description.creator_chain_id == tester.chain_id()

    run(scenario)


def test_a_contract_that_breaks_a_sandbox_rule_is_refused_at_publication() -> None:
    bad = SOURCES | {"contract": "import os\n" + SOURCES["contract"]}

    async def scenario(tester: ApplicationTester) -> None:
        before = tester.chain_state().execution_state.hash()
        with pytest.raises(SandboxViolation, match="import"):
            await tester.publish_module(pack_application_sources(bad))
        assert tester.chain_state().execution_state.hash() == before

    run(scenario)


def test_publish_module_needs_its_blobs_listed_in_the_block() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        module = ApplicationModule(MODULE.contract, MODULE.service)
        with pytest.raises(BlobNotListed):
            await tester.execute_operations(
                [PublishModule(module.module_id)], blobs=[module.contract]
            )

    run(scenario)


def test_unknown_application_and_undecodable_operation_fail_the_block() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        with pytest.raises(UnknownApplication):
            await tester.execute_operations(
                [UserOperation(ApplicationId(app.hash.of_bytes(b"x")), b"")]
            )
        with pytest.raises(InvalidApplicationData):
            await tester.execute_operations([UserOperation(app, b"\xff")])
        assert query(tester, app, "total") == 0

    run(scenario)


def test_writes_of_a_failing_operation_do_not_persist() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester, start=3)
        with pytest.raises(ContractFailed, match="failed after writing"):
            await operate(tester, app, PROBE.FailAfterWrite())
        assert query(tester, app, "total") == 3

    run(scenario)


def test_an_endless_loop_runs_out_of_fuel_under_the_policy_limit() -> None:
    policy = dataclasses.replace(
        ResourceControlPolicy.no_fees(), maximum_fuel_per_transaction=50_000
    )

    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester, start=2)
        before = tester.chain_state().execution_state.hash()
        with pytest.raises(OutOfFuel):
            await operate(tester, app, PROBE.Loop())
        assert tester.chain_state().execution_state.hash() == before
        await operate(tester, app, PROBE.Add(1))
        assert query(tester, app, "total") == 3

    run(scenario, policy=policy)


def test_call_application_runs_the_callee_and_refuses_reentrancy() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        caller = await new_probe(tester)
        callee = await new_probe(tester, start=100)
        certificate = await operate(tester, caller, PROBE.Call(callee, 5))
        assert certificate.value.executed_block.outcome.fuel_used > 0
        assert query(tester, callee, "total") == 105
        assert query(tester, caller, "total") == 0
        with pytest.raises(ApplicationReentrancy):
            await operate(tester, caller, PROBE.CallSelf())

    run(scenario)


def test_runtime_facts() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        certificate = await operate(tester, app, PROBE.Facts())
        block = certificate.value.executed_block.block
        facts = query(tester, app, "facts")
        assert facts == [
            f"height {block.height}",
            f"time {block.timestamp}",
            f"owner {block.authenticated_signer}",
            "caller None",
            "bouncing None",
            "fuel left True",
        ]

    run(scenario)


def test_a_message_registers_the_application_on_the_receiving_chain() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        receiver = tester.chain_id(1)
        assert not tester.chain_state(1).execution_state.applications.contains(app)
        await operate(tester, app, PROBE.Send(receiver, 7, False))
        await operate(tester, app, PROBE.Send(receiver, 8, False))
        await tester.process_inbox(user=1)
        assert tester.chain_state(1).execution_state.applications.contains(app)
        assert query(tester, app, "notes", user=1) == [7, 8]
        assert query(tester, app, "senders", user=1) == 1

    run(scenario, validators=4)


def test_a_rejected_tracked_message_bounces_back_to_its_sender() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        await operate(tester, app, PROBE.Send(tester.chain_id(1), 9, True))
        receiver = tester.clients[1]
        bundles = await receiver.pending_bundles()
        rejected = [dataclasses.replace(bundle, action=MessageAction.REJECT) for bundle in bundles]
        await receiver.execute_operations([], incoming_bundles=rejected)
        await tester.process_inbox(user=0)
        assert query(tester, app, "bounced") == 9
        assert not tester.chain_state(1).execution_state.applications.contains(app)

    run(scenario)


def test_a_message_the_contract_refuses_fails_the_receiving_block() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        await operate(tester, app, PROBE.Send(tester.chain_id(1), -1, False))
        receiver = tester.clients[1]
        accepted = await receiver.pending_bundles()
        with pytest.raises(ContractFailed, match="negative note"):
            await receiver.execute_operations([], incoming_bundles=accepted)
        # process_inbox rejects the bundle that fails (the client's choice) and goes on.
        await tester.process_inbox(user=1)
        assert [str(failure) for _, failure in receiver.refused_bundles] == [
            "contract raised ValueError: negative note"
        ]
        assert not tester.chain_state(1).execution_state.applications.contains(app)

    run(scenario)


def test_read_data_blob() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        blob_id, _ = await tester.clients[0].publish_data_blob(b"model weights" * 100)
        await operate(tester, app, PROBE.ReadBlob(blob_id))
        assert query(tester, app, "total") == 1300

    run(scenario)


def test_transfer_moves_native_tokens_on_the_signers_authority_only() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        recipient = Account(tester.chain_id(1))
        await operate(tester, app, PROBE.Pay(None, recipient, Amount.from_tokens(1)))
        someone_else = tester.clients[1].owner
        with pytest.raises(UnauthorizedOperation):
            await operate(tester, app, PROBE.Pay(someone_else, recipient, Amount.from_tokens(1)))
        await tester.process_inbox(user=1)
        assert await tester.clients[1].query_balance() == Amount.from_tokens(101)
        assert await tester.clients[0].query_balance() == Amount.from_tokens(99)

    run(scenario)


def test_reading_a_blob_that_no_validator_stores_fails_the_block() -> None:
    from edgechain.base.identifiers import BlobId, BlobType
    from edgechain.core.errors import QuorumNotReached

    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester, start=4)
        missing = BlobId.for_content(BlobType.MANIFEST, b"never published")
        # The validators answer BlobsNotFound; the client looks for the blob elsewhere, fails.
        with pytest.raises(QuorumNotReached, match=f"no validator gave blob {missing}"):
            await operate(tester, app, PROBE.ReadBlob(missing))
        assert query(tester, app, "total") == 4

    run(scenario)


def test_an_authenticated_message_carries_the_signer_and_a_plain_one_does_not() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_probe(tester)
        receiver = tester.chain_id(1)
        await operate(tester, app, PROBE.Send(receiver, 1, False))
        await operate(tester, app, PROBE.SendAuthenticated(receiver, 2))
        await tester.process_inbox(user=1)
        assert query(tester, app, "facts", user=1) == [
            "message signed by None",
            f"message signed by {tester.clients[0].owner}",
        ]

    run(scenario)


# -- executed block by block on an in-memory chain (block_harness), against chosen blob stores

from block_harness import (  # noqa: E402
    CATCHER_MODULE,
    PROBE_MODULE,
    Chain,
    MemoryBlobs,
    SizedMemoryBlobs,
    VerifyingBlobs,
    create_operation,
    probe_operation,
)

from edgechain.base.blobs import Blob  # noqa: E402
from edgechain.execution.errors import (  # noqa: E402
    BlobsNotFound,
    ModuleNotPublished,
    PolicyLimitExceeded,
)


def test_a_missing_blob_fails_the_block_even_when_the_contract_catches_the_error() -> None:
    model = Blob.data(b"weights" * 10)
    holder = MemoryBlobs([*CATCHER_MODULE.blobs, model])
    chain = Chain()
    chain.publish(CATCHER_MODULE, holder)
    app = chain.create(CATCHER_MODULE, holder)
    operation = probe_operation(app, PROBE.ReadBlob(model.id))

    lacking = chain.block(holder.without(model.id))
    with pytest.raises(BlobsNotFound) as missing:
        lacking.execute_operation(operation)
    lacking.close()
    assert missing.value.blob_ids == [model.id]
    assert chain.total(app) == 0, "the contract's except-branch did not run to completion"

    holding = chain.block(holder)
    holding.execute_operation(operation)
    holding.close()
    assert chain.total(app) == 1


def test_a_callee_whose_bytecode_is_missing_fails_the_block_even_when_the_caller_catches() -> None:
    holder = MemoryBlobs([*CATCHER_MODULE.blobs, *PROBE_MODULE.blobs])
    chain = Chain()
    chain.publish(CATCHER_MODULE, holder)
    chain.publish(PROBE_MODULE, holder)
    caller = chain.create(CATCHER_MODULE, holder)
    callee = chain.create(PROBE_MODULE, holder)
    operation = probe_operation(caller, PROBE.Call(callee, 5))

    lacking = chain.block(holder.without(PROBE_MODULE.contract.id))
    with pytest.raises(BlobsNotFound):
        lacking.execute_operation(operation)
    lacking.close()

    holding = chain.block(holder)
    holding.execute_operation(operation)
    holding.close()
    assert chain.total(callee) == 5


@pytest.mark.parametrize("store", [MemoryBlobs, SizedMemoryBlobs, VerifyingBlobs])
def test_a_blob_read_is_charged_before_its_bytes_are_read(store: type[MemoryBlobs]) -> None:
    policy = dataclasses.replace(
        ResourceControlPolicy.no_fees(), maximum_bytes_read_per_block=10_000
    )
    large = Blob.data(b"w" * 20_000)
    small = Blob.data(b"s" * 5_000)
    blobs = store([*PROBE_MODULE.blobs, large, small])
    chain = Chain(policy)
    chain.publish(PROBE_MODULE, blobs)
    app = chain.create(PROBE_MODULE, blobs)

    executor = chain.block(blobs)
    with pytest.raises(PolicyLimitExceeded, match="read 20000 bytes"):
        executor.execute_operation(probe_operation(app, PROBE.ReadBlob(large.id)))
    executor.close()
    if issubclass(store, SizedMemoryBlobs):
        assert large.id not in blobs.reads, "the bytes were read before the read was charged"

    blobs.reads.clear()
    executor = chain.block(blobs)
    executor.execute_operation(probe_operation(app, PROBE.ReadBlob(small.id)))
    executor.close()
    assert blobs.reads.count(small.id) == 1, "a blob's bytes are read once"
    assert chain.total(app) == 5_000


def test_an_application_needs_its_module_published_on_the_chain() -> None:
    blobs = MemoryBlobs(PROBE_MODULE.blobs)  # stored here, but never published by a block
    chain = Chain()
    executor = chain.block(blobs)
    with pytest.raises(ModuleNotPublished, match="PublishModule first"):
        executor.execute_operation(create_operation(PROBE_MODULE, 0))
    executor.close()
    assert chain.state.applications.count() == 0

    chain.publish(PROBE_MODULE, blobs)
    app = chain.create(PROBE_MODULE, blobs, start=3)
    assert chain.total(app) == 3


def test_a_failed_instantiation_leaves_no_application_behind() -> None:
    blobs = MemoryBlobs(CATCHER_MODULE.blobs)
    chain = Chain()
    chain.publish(CATCHER_MODULE, blobs)
    executor = chain.block(blobs)
    with pytest.raises(ContractFailed, match="negative start"):
        executor.execute_operation(create_operation(CATCHER_MODULE, -1))
    executor.close()
    assert chain.state.applications.count() == 0
    assert chain.state.application_states.count() == 0


def test_a_module_without_a_contract_class_registers_nothing() -> None:
    sources = SOURCES | {"contract": "from __future__ import annotations\n"}
    module = pack_application_sources(sources)
    blobs = MemoryBlobs(module.blobs)
    chain = Chain()
    chain.publish(module, blobs)
    executor = chain.block(blobs)
    with pytest.raises(InvalidModule, match="exactly one Contract subclass"):
        executor.execute_operation(create_operation(module, 0))
    executor.close()
    assert chain.state.applications.count() == 0


def test_recording_a_failed_transactions_fuel_cannot_hide_its_error() -> None:
    blobs = MemoryBlobs(CATCHER_MODULE.blobs)
    chain = Chain()
    chain.publish(CATCHER_MODULE, blobs)
    app = chain.create(CATCHER_MODULE, blobs)
    executor = chain.block(blobs)

    def refuse(fuel: int) -> None:
        raise PolicyLimitExceeded(f"refused {fuel}")

    executor.user.tracker.add_fuel = refuse  # type: ignore[method-assign]
    with pytest.raises(ContractFailed, match="the catcher adds nothing"):
        executor.execute_operation(probe_operation(app, PROBE.Add(1)))
    executor.close()


def test_the_compiled_contract_cache_is_safe_across_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import threading
    import time
    from collections import OrderedDict

    from edgechain.base.blobs import Blob
    from edgechain.base.identifiers import BlobType
    from edgechain.execution import user_execution
    from edgechain.execution.modules import pack_sources

    class SlowCache(OrderedDict[Any, Any]):
        """Lets other threads run between a lookup and what follows it: races show up."""

        def get(self, key: Any, default: Any = None) -> Any:
            value = super().get(key, default)
            time.sleep(0.0002)
            return value

    monkeypatch.setattr(user_execution, "_COMPILED_CACHE_SIZE", 2)
    monkeypatch.setattr(user_execution, "_compiled_contracts", SlowCache())
    contracts = [
        Blob(
            BlobType.CONTRACT_BYTECODE,
            pack_sources({"abi": "", "contract": f"VALUE = {index}\n", "state": ""}),
        )
        for index in range(4)
    ]
    hashes = [blob.id.hash for blob in contracts]
    failures: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for step in range(150):
                index = (step * (offset + 1) + offset) % len(contracts)
                user_execution.compiled_contract(contracts[index].content, hashes[index])
        except BaseException as error:  # collected, reported below
            failures.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        threads = [threading.Thread(target=hammer, args=(offset,)) for offset in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(user_execution._compiled_contracts) <= 2


def test_running_many_blocks_does_not_keep_their_contract_classes_alive() -> None:
    import gc
    import warnings

    def live_contract_classes() -> int:
        """Classes that contract modules defined and that are still alive (with their modules'
        globals: a class's methods hold them)."""
        gc.collect()
        with warnings.catch_warnings():  # touching some libraries' deprecated objects warns
            warnings.simplefilter("ignore")
            return sum(
                1
                for value in gc.get_objects()
                if isinstance(value, type)
                and isinstance(value.__module__, str)  # some extension types carry no module name
                and value.__module__.startswith("edgechain_sandbox_")
            )

    blobs = MemoryBlobs(PROBE_MODULE.blobs)
    chain = Chain()
    chain.publish(PROBE_MODULE, blobs)
    app = chain.create(PROBE_MODULE, blobs)
    before = live_contract_classes()
    for _ in range(50):
        executor = chain.block(blobs)
        executor.execute_operation(probe_operation(app, PROBE.Add(1)))
        executor.close()
    assert chain.total(app) == 50
    # Each block loaded fresh classes (the contract's, its state's, its ABI's); none survive.
    assert live_contract_classes() <= before


def plain_values() -> Any:
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(2**200), max_value=2**200)
        | st.sampled_from([23, 24, 255, 256, 2**16 - 1, 2**16, 2**32 - 1, 2**32, 2**64 - 1, 2**64])
        | st.binary(max_size=300)
        | st.text(max_size=40)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=30)
            | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=30)
        ),
        max_leaves=25,
    )


def test_canonical_size_is_the_length_of_the_canonical_encoding() -> None:
    import cbor2
    from hypothesis import given, settings

    from edgechain.execution.user_execution import canonical_size

    @settings(max_examples=50, deadline=None)
    @given(plain_values())
    def check(plain: Any) -> None:
        assert canonical_size(plain) == len(cbor2.dumps(plain, canonical=True))
        negated = [-1 - value for value in (2**64 - 1, 2**64, 2**70)]
        assert canonical_size(negated) == len(cbor2.dumps(negated, canonical=True))

    check()
    assert canonical_size(1.5) is None


def test_a_message_is_charged_before_it_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    import cbor2

    from edgechain.execution.errors import OutOfFuel as FuelExhausted

    huge = 2**400_000  # 50 kB once encoded: 3125 fuel at 16 bytes per unit
    blobs = MemoryBlobs(PROBE_MODULE.blobs)
    chain = Chain()
    chain.publish(PROBE_MODULE, blobs)
    app = chain.create(PROBE_MODULE, blobs)

    def fuel_of(value: int) -> int:
        executor = chain.block(blobs)
        executor.execute_operation(
            probe_operation(app, PROBE.Send(chain_id_elsewhere(), value, False))
        )
        used = executor.fuel_used
        executor.close()
        return used

    small_fuel = fuel_of(1)
    assert fuel_of(huge) - small_fuel >= 3125
    encoded: list[int] = []
    dumps = cbor2.dumps

    def spying_dumps(value: Any, *args: Any, **kwargs: Any) -> bytes:
        if value == huge or value == [huge]:
            encoded.append(1)  # the message itself, not the operation that carried it
        return dumps(value, *args, **kwargs)

    monkeypatch.setattr(cbor2, "dumps", spying_dumps)
    chain.policy = dataclasses.replace(chain.policy, maximum_fuel_per_transaction=small_fuel + 1000)
    executor = chain.block(blobs)
    with pytest.raises(FuelExhausted):
        executor.execute_operation(
            probe_operation(app, PROBE.Send(chain_id_elsewhere(), huge, False))
        )
    executor.close()
    assert encoded == [], "the message was encoded before its bytes were paid for"


def chain_id_elsewhere() -> Any:
    from edgechain.base import ChainId

    return ChainId.root(7)


def test_a_failed_first_message_leaves_its_application_unknown_on_the_receiver() -> None:
    from edgechain.base import BlockHeight, ChainId
    from edgechain.base.encoding import encode
    from edgechain.execution.applications import ApplicationDescription
    from edgechain.execution.messages import UserMessage

    sender = ChainId.root(5)
    description = ApplicationDescription(
        PROBE_MODULE.module_id, sender, BlockHeight(2), 0, encode(0, int), []
    )
    app = description.application_id()
    blobs = MemoryBlobs(PROBE_MODULE.blobs)
    chain = Chain()

    def message(value: int) -> UserMessage:
        return UserMessage(app, encode(PROBE.Note(value), PROBE.Note), description)

    executor = chain.block(blobs)
    with pytest.raises(ContractFailed, match="negative note"):
        executor.execute_message(sender, None, False, message(-1))
    executor.close()
    assert not chain.state.applications.contains(app)

    executor = chain.block(blobs)
    executor.execute_message(sender, None, False, message(4))
    executor.close()
    assert chain.state.applications.contains(app)


def test_a_blob_whose_bytes_disagree_with_its_measured_size_fails_the_block() -> None:
    from edgechain.base.identifiers import BlobId

    class ShrinkingBlobs(SizedMemoryBlobs):
        """Measures a blob one byte short of its bytes (a file replaced between the two)."""

        def blob_size(self, blob_id: BlobId) -> int:
            return super().blob_size(blob_id) - 1

    model = Blob.data(b"weights" * 10)
    honest = MemoryBlobs([*CATCHER_MODULE.blobs, model])
    chain = Chain()
    chain.publish(CATCHER_MODULE, honest)
    app = chain.create(CATCHER_MODULE, honest)
    executor = chain.block(ShrinkingBlobs(honest.blobs.values()))
    with pytest.raises(BlobsNotFound):
        executor.execute_operation(probe_operation(app, PROBE.ReadBlob(model.id)))
    executor.close()
    assert chain.total(app) == 0


def test_validators_agree_when_one_of_them_lacks_the_blob_a_contract_catches_errors_of(
    tmp_path: Any,
) -> None:
    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(CATCHER_MODULE)
        app = await tester.create_application(module_id, abi=ProbeAbi, argument=0, parameters=0)
        blob_id, _ = await tester.clients[0].publish_data_blob(b"model weights" * 100)
        lacking = tester.network.storages[3]
        assert lacking.blob_store is not None and lacking.blob_store.delete(blob_id)
        # Validator 3 fails the block (BlobsNotFound, uncatchable), gets the blob, executes
        # it again: every validator computes the same outcome and stores the same state.
        await operate(tester, app, PROBE.ReadBlob(blob_id))
        assert [query(tester, app, "total", validator=index) for index in range(4)] == [1] * 4
        assert lacking.contains_blob(blob_id)

    run_at = ApplicationTester.create(validators=4, users=1, directory=str(tmp_path))
    try:
        asyncio.run(scenario(run_at))
    finally:
        run_at.close()
