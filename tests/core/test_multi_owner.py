"""Multi-owner chains through the client: multi-leader rounds with validated-then-confirmed
certificates, leader timeouts, single-leader rounds."""

from __future__ import annotations

import dataclasses
import time

import pytest
from core_helpers import chain_state, run, tokens

from edgechain.base.identifiers import AccountOwner
from edgechain.base.values import BlockHeight, Epoch
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Timeout
from edgechain.chain.errors import NotRoundLeader
from edgechain.chain.manager import round_leader
from edgechain.chain.rounds import MultiLeader, SingleLeader
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.network import LocalNetwork
from edgechain.execution.errors import UnauthorizedOperation
from edgechain.execution.operations import ChangeOwnership
from edgechain.execution.ownership import ChainOwnership, TimeoutConfig


def make_shared_chain(network: LocalNetwork, base_timeout: int) -> tuple[AccountOwner, AccountOwner]:
    """Turn user chain 0 into a chain owned by users 0 and 1 (one multi-leader round)."""
    alice = network.client(0)
    alice_owner = AccountOwner.from_public_key(network.user_keys[0].public_key)
    bob_owner = AccountOwner.from_public_key(network.user_keys[1].public_key)
    ownership = ChainOwnership.multiple(
        {alice_owner: 1, bob_owner: 1},
        multi_leader_rounds=1,
        timeout_config=TimeoutConfig(base_timeout=base_timeout, timeout_increment=0),
    )
    run(alice.execute_operations([ChangeOwnership(ownership)]))
    return alice_owner, bob_owner


def test_owners_propose_in_a_multi_leader_round_with_two_phases(network: LocalNetwork) -> None:
    make_shared_chain(network, base_timeout=60_000_000)
    bob_on_shared = network.client_for(network.user_chain_ids[0], network.user_keys[1])

    async def scenario() -> None:
        await bob_on_shared.synchronize()
        assert await bob_on_shared.current_round() == MultiLeader(0)
        certificate = await bob_on_shared.transfer_to_chain(tokens(7), network.user_chain_ids[2])
        assert isinstance(certificate.value, ConfirmedBlock)
        assert certificate.round == MultiLeader(0)
        certificate.check(network.committee)
        # The other owner continues the chain in the next height's multi-leader round.
        alice = network.client(0)
        await alice.synchronize()
        assert alice.next_block_height == BlockHeight(2)
        await alice.transfer_to_chain(tokens(3), network.user_chain_ids[2])

    run(scenario())
    for validator in range(4):
        chain = chain_state(network, validator, 0)
        assert chain.next_block_height() == BlockHeight(3)
        assert chain.execution_state.system.balance.get() == tokens(90)
        assert chain.manager.locked.get() is None  # reset at the new height
    assert len({chain_state(network, v, 0).state_hash() for v in range(4)}) == 1


def test_leader_timeout_moves_to_a_single_leader_round(network: LocalNetwork) -> None:
    alice_owner, bob_owner = make_shared_chain(network, base_timeout=1)
    alice = network.client(0)
    bob_on_shared = network.client_for(network.user_chain_ids[0], network.user_keys[1])
    run(alice.synchronize())
    run(bob_on_shared.synchronize())
    time.sleep(0.01)  # the 1 µs round deadline passes
    certificate = run(alice.request_leader_timeout())
    assert isinstance(certificate.value, Timeout)
    assert certificate.round == MultiLeader(0)
    assert run(alice.current_round()) == SingleLeader(0)
    leader = round_leader(
        chain_state(network, 0, 0).execution_state.system.ownership.get(),
        network.user_chain_ids[0],
        BlockHeight(1),
        SingleLeader(0),
    )
    leader_client, other_client = (alice, bob_on_shared) if leader == alice_owner else (bob_on_shared, alice)
    assert leader in (alice_owner, bob_owner)
    with pytest.raises(NotRoundLeader):
        run(other_client.transfer_to_chain(tokens(1), network.user_chain_ids[2]))
    confirmed = run(leader_client.transfer_to_chain(tokens(2), network.user_chain_ids[2]))
    assert confirmed.round == SingleLeader(0)
    for validator in range(4):
        assert chain_state(network, validator, 0).next_block_height() == BlockHeight(2)
        assert chain_state(network, validator, 0).execution_state.system.balance.get() == tokens(98)


def test_anyone_may_propose_in_open_multi_leader_rounds(network: LocalNetwork) -> None:
    """``open_multi_leader_rounds``: a non-owner's proposal passes the round check and the
    block's signer check alike (and gains no authority over the chain's tokens)."""
    alice = network.client(0)
    alice_owner = AccountOwner.from_public_key(network.user_keys[0].public_key)
    ownership = dataclasses.replace(
        ChainOwnership.multiple({alice_owner: 1}, multi_leader_rounds=2), open_multi_leader_rounds=True
    )
    run(alice.execute_operations([ChangeOwnership(ownership)]))
    run(network.client(2).transfer_to_chain(tokens(4), network.user_chain_ids[0]))
    outsider = network.client_for(network.user_chain_ids[0], network.user_keys[2])

    async def scenario() -> None:
        await outsider.synchronize()
        assert await outsider.current_round() == MultiLeader(0)
        certificate = await outsider.process_inbox()
        assert certificate is not None and certificate.round == MultiLeader(0)
        outsider_owner = AccountOwner.from_public_key(network.user_keys[2].public_key)
        assert certificate.executed_block.block.authenticated_signer == outsider_owner
        with pytest.raises(UnauthorizedOperation):
            await outsider.transfer_to_chain(tokens(1), network.user_chain_ids[2])

    run(scenario())
    for validator in range(4):
        assert chain_state(network, validator, 0).execution_state.system.balance.get() == tokens(104)


def test_a_stalled_first_round_of_a_multi_owner_child_chain_times_out(network: LocalNetwork) -> None:
    """Height 0 of a child chain has a round deadline from when its opening message arrives."""
    alice_owner = AccountOwner.from_public_key(network.user_keys[0].public_key)
    bob_owner = AccountOwner.from_public_key(network.user_keys[1].public_key)
    ownership = ChainOwnership.multiple(
        {alice_owner: 1, bob_owner: 1},
        multi_leader_rounds=1,
        timeout_config=TimeoutConfig(base_timeout=200_000, timeout_increment=0),
    )
    child_id, _ = run(network.client(0).open_chain(ownership, tokens(5)))
    for storage in network.storages:
        child = storage.load_chain(child_id)
        assert not child.is_active()
        assert child.manager.round_timeout.get() is not None
    time.sleep(0.25)
    votes = []
    for worker in network.workers[:3]:
        vote = worker.handle_chain_info_query(
            ChainInfoQuery(child_id, request_timeout_vote=True)
        ).vote
        assert vote is not None
        votes.append(vote)
    assert votes[0].value == Timeout(child_id, BlockHeight(0), Epoch(0))
    certificate = Certificate.from_votes(votes[0].value, votes[0].round, votes)
    for worker in network.workers:
        worker.handle_certificate(certificate)
        child = worker.storage.load_chain(child_id)
        assert child.manager.effective_round(ownership) == SingleLeader(0)
    # The chain's owners can still open it, in the single-leader round.
    leader = round_leader(ownership, child_id, BlockHeight(0), SingleLeader(0))
    leader_key = network.user_keys[0] if leader == alice_owner else network.user_keys[1]
    owner_client = network.client_for(child_id, leader_key)
    assert run(owner_client.process_inbox()) is not None
    assert all(storage.load_chain(child_id).is_active() for storage in network.storages)
