"""ChainClient over 4 in-process validators: faults, cross-chain transfers, catching up, typed errors."""

from __future__ import annotations

import contextlib

import pytest
from core_helpers import chain_state, run, tokens
from hypothesis import given, settings
from hypothesis import strategies as st

from edgechain.base.identifiers import AccountOwner
from edgechain.base.values import BlockHeight
from edgechain.core.client import ChainClient
from edgechain.core.errors import QuorumNotReached
from edgechain.core.faults import FaultType
from edgechain.core.network import LocalNetwork
from edgechain.execution.errors import InsufficientFunding
from edgechain.execution.ownership import ChainOwnership

HONEST = (0, 1, 2)
FAULTY = 3


def honest_states_agree(network: LocalNetwork, user_index: int, validators=HONEST) -> None:  # type: ignore[no-untyped-def]
    states = [chain_state(network, i, user_index) for i in validators]
    assert len({state.state_hash() for state in states}) == 1
    assert len({state.tip_state.get() for state in states}) == 1


@pytest.mark.parametrize("fault", list(FaultType))
def test_blocks_are_certified_with_one_faulty_validator(network: LocalNetwork, fault: FaultType) -> None:
    network.nodes[FAULTY].fault = fault
    network.nodes[FAULTY].delay = 0.05
    sender, receiver = network.client(0), network.client(1)

    async def scenario() -> None:
        for amount in (1, 2, 3):
            certificate = await sender.transfer_to_chain(tokens(amount), network.user_chain_ids[1])
            signers = {public_key for public_key, _ in certificate.signatures}
            certificate.check(network.committee)
            if fault is not FaultType.SLOW:
                assert network.validator_keys[FAULTY].public_key not in signers
        assert await receiver.process_inbox() is not None

    run(scenario())
    assert sender.next_block_height == BlockHeight(3)
    bad_keys = {record.validator for record in sender.rejected_votes}
    if fault in (FaultType.SIGNS_WRONG_VALUE, FaultType.EXECUTES_WRONGLY):
        # The faulty validator's votes were seen and refused (the client may stop listening
        # once it has a quorum, so not every one of them is necessarily seen).
        assert bad_keys == {network.validator_keys[FAULTY].public_key}
    else:
        assert bad_keys == set()
    for user_index in (0, 1):
        honest_states_agree(network, user_index)
    assert chain_state(network, 0, 0).execution_state.system.balance.get() == tokens(94)
    assert chain_state(network, 0, 1).execution_state.system.balance.get() == tokens(106)
    if fault is not FaultType.OFFLINE:
        # Every fault but OFFLINE still takes the certificates: its own state is honest.
        honest_states_agree(network, 0, validators=range(4))


def test_transfer_is_taken_into_the_recipients_next_block(network: LocalNetwork) -> None:
    alice, bob = network.client(0), network.client(1)

    async def scenario() -> None:
        await alice.transfer_to_chain(tokens(30), network.user_chain_ids[1])
        assert await bob.query_balance() == tokens(100)  # not yet taken
        pending = await bob.pending_bundles()
        assert [bundle.origin for bundle in pending] == [network.user_chain_ids[0]]
        certificate = await bob.process_inbox()
        assert certificate is not None
        assert certificate.executed_block.block.height == BlockHeight(0)
        assert certificate.executed_block.block.incoming_bundles == pending
        assert await bob.pending_bundles() == []
        assert await bob.process_inbox() is None
        assert await alice.query_balance() == tokens(70)
        assert await bob.query_balance() == tokens(130)

    run(scenario())
    for validator in range(4):
        assert chain_state(network, validator, 0).execution_state.system.balance.get() == tokens(70)
        assert chain_state(network, validator, 1).execution_state.system.balance.get() == tokens(130)
        assert chain_state(network, validator, 0).unconfirmed_outboxes() == []  # delivery confirmed


def test_overdraft_through_the_client_raises_the_validators_error(network: LocalNetwork) -> None:
    alice = network.client(0)
    with pytest.raises(InsufficientFunding):
        run(alice.transfer_to_chain(tokens(1000), network.user_chain_ids[1]))
    assert alice.next_block_height == BlockHeight(0)
    for validator in range(4):
        assert chain_state(network, validator, 0).next_block_height() == BlockHeight(0)
    # The chain is not stuck: a valid block at the same height still goes through.
    run(alice.transfer_to_chain(tokens(10), network.user_chain_ids[1]))
    assert alice.next_block_height == BlockHeight(1)


def test_no_quorum_with_two_validators_offline_then_the_pending_block_finishes(
    network: LocalNetwork,
) -> None:
    network.nodes[2].fault = FaultType.OFFLINE
    network.nodes[3].fault = FaultType.OFFLINE
    alice = network.client(0)
    with pytest.raises(QuorumNotReached):
        run(alice.transfer_to_chain(tokens(1), network.user_chain_ids[1]))
    assert alice.next_block_height == BlockHeight(0)
    assert alice.pending_block is not None
    # Validators 0 and 1 voted for that block; they will vote for no other at height 0.
    network.nodes[2].fault = None
    network.nodes[3].fault = None
    certificate = run(alice.transfer_to_chain(tokens(2), network.user_chain_ids[1]))
    assert certificate.executed_block.block.height == BlockHeight(1)
    assert alice.pending_block is None
    for validator in range(4):
        assert chain_state(network, validator, 0).next_block_height() == BlockHeight(2)
        assert chain_state(network, validator, 0).execution_state.system.balance.get() == tokens(97)


def test_offline_validator_catches_up_when_the_client_next_talks_to_it(network: LocalNetwork) -> None:
    alice, bob = network.client(0), network.client(1)
    network.nodes[FAULTY].fault = FaultType.OFFLINE

    async def while_offline() -> None:
        for _ in range(3):
            await alice.transfer_to_chain(tokens(1), network.user_chain_ids[1])
        await bob.process_inbox()

    run(while_offline())
    assert chain_state(network, FAULTY, 0).next_block_height() == BlockHeight(0)
    assert chain_state(network, FAULTY, 1).next_block_height() == BlockHeight(0)
    network.nodes[FAULTY].fault = None

    async def back_online() -> None:
        # Bob's next block: the validator lacks Bob's block 0, which took Alice's bundles,
        # so the client sends it Bob's certificate; the validator took Alice's bundles
        # as unreceived and Alice's chain is updated when her client next talks to it.
        await bob.transfer_to_chain(tokens(1), network.user_chain_ids[0])
        await alice.transfer_to_chain(tokens(1), network.user_chain_ids[1])

    run(back_online())
    for user_index in (0, 1):
        honest_states_agree(network, user_index, validators=range(4))
    assert chain_state(network, FAULTY, 0).next_block_height() == BlockHeight(4)
    assert chain_state(network, FAULTY, 1).next_block_height() == BlockHeight(2)
    assert chain_state(network, FAULTY, 1).execution_state.system.balance.get() == tokens(102)


def test_synchronize_learns_the_tip_from_validators(network: LocalNetwork) -> None:
    alice = network.client(0)
    run(alice.transfer_to_chain(tokens(1), network.user_chain_ids[1]))
    run(alice.transfer_to_chain(tokens(1), network.user_chain_ids[1]))
    fresh = network.client(0)
    assert fresh.next_block_height == BlockHeight(0)
    run(fresh.synchronize())
    assert fresh.next_block_height == BlockHeight(2)
    assert fresh.block_hash == alice.block_hash
    run(fresh.transfer_to_chain(tokens(1), network.user_chain_ids[1]))
    assert fresh.next_block_height == BlockHeight(3)


def test_open_chain_and_use_it(network: LocalNetwork) -> None:
    alice = network.client(0)
    child_key = network.user_keys[2]
    ownership = ChainOwnership.single(AccountOwner.from_public_key(child_key.public_key))
    child_id, _ = run(alice.open_chain(ownership, tokens(10)))
    child: ChainClient = network.client_for(child_id, child_key)
    assert run(child.process_inbox()) is not None  # takes the OpenChain message: the chain is open
    run(child.transfer_to_chain(tokens(4), network.user_chain_ids[1]))
    assert run(child.query_balance()) == tokens(6)
    assert run(alice.query_balance()) == tokens(90)


@settings(max_examples=8, deadline=None)
@given(
    transfers=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 60)), min_size=1, max_size=5
    )
)
def test_total_supply_is_conserved(transfers: list[tuple[int, int, int]]) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=3)
    clients = [network.client(i) for i in range(3)]

    async def scenario() -> None:
        for sender, recipient, amount in transfers:
            with contextlib.suppress(InsufficientFunding):
                await clients[sender].transfer_to_chain(tokens(amount), network.user_chain_ids[recipient])
            await clients[recipient].process_inbox()
        for client in clients:
            await client.process_inbox()

    run(scenario())
    for validator in range(4):
        total = sum(
            chain_state(network, validator, i).execution_state.system.total_balance().atto
            for i in range(3)
        )
        assert total == tokens(300).atto
    network.close()


def test_published_blob_reaches_a_validator_that_was_offline(network: LocalNetwork) -> None:
    alice = network.client(0)
    network.nodes[FAULTY].fault = FaultType.OFFLINE
    blob_id, certificate = run(alice.publish_data_blob(b"tiny model weights"))
    assert certificate.executed_block.block.published_blob_ids == [blob_id]
    for validator in HONEST:
        assert network.storages[validator].read_blob(blob_id).content == b"tiny model weights"
    assert network.storages[FAULTY].missing_blobs([blob_id]) == [blob_id]
    network.nodes[FAULTY].fault = None
    # The next block makes the client update the validator: the certificate it lacks needs
    # the blob, which the client fetches from another validator and uploads.
    run(alice.transfer_to_chain(tokens(1), network.user_chain_ids[1]))
    assert network.storages[FAULTY].read_blob(blob_id).content == b"tiny model weights"
    honest_states_agree(network, 0, validators=range(4))


def test_seven_validators_tolerate_two_faulty_ones() -> None:
    network = LocalNetwork.create(validator_count=7, user_chain_count=2)
    assert network.committee.quorum_threshold == 5
    network.nodes[5].fault = FaultType.EXECUTES_WRONGLY
    network.nodes[6].fault = FaultType.OFFLINE
    alice, bob = network.client(0), network.client(1)

    async def scenario() -> None:
        await alice.transfer_to_chain(tokens(8), network.user_chain_ids[1])
        await bob.process_inbox()
        await bob.transfer_to_chain(tokens(3), network.user_chain_ids[0])
        await alice.process_inbox()

    run(scenario())
    for user_index in (0, 1):
        honest_states_agree(network, user_index, validators=range(5))
    assert chain_state(network, 0, 0).execution_state.system.balance.get() == tokens(95)
    assert chain_state(network, 0, 1).execution_state.system.balance.get() == tokens(105)
    assert {r.validator for r in alice.rejected_votes} <= {network.validator_keys[5].public_key}
    network.close()
