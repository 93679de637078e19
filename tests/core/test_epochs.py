"""Committees and epochs: the admin chain creates a new committee, user chains take the
announcement from their inbox and move to the new epoch; blocks of a removed epoch are refused."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import chain_state, next_block, run, tokens

from edgechain.base.identifiers import Account
from edgechain.base.values import Epoch
from edgechain.chain.errors import StaleEpoch
from edgechain.core.network import LocalNetwork
from edgechain.execution.committee import Committee, ValidatorState
from edgechain.execution.operations import CreateCommittee, RemoveCommittee, Transfer


def test_chains_follow_the_admin_chain_to_a_new_epoch(network: LocalNetwork) -> None:
    admin, alice = network.admin_client(), network.client(0)
    # Epoch 1: the same validators, validator 0 with twice the weight.
    validators = dict(network.committee.validators)
    first_key = network.validator_keys[0].public_key
    validators[first_key] = ValidatorState(2, validators[first_key].network_address)
    new_committee = Committee(validators, network.committee.policy)

    async def scenario() -> None:
        await admin.execute_operations([CreateCommittee(Epoch(1), new_committee)])
        assert admin.epoch == Epoch(1)
        await alice.process_inbox()  # takes CommitteeCreated from the admin chain
        assert alice.epoch == Epoch(1)
        assert alice.committees[Epoch(1)] == new_committee
        await admin.execute_operations([RemoveCommittee(Epoch(0))])
        await alice.process_inbox()
        assert Epoch(0) not in alice.committees
        certificate = await alice.transfer_to_chain(tokens(4), network.user_chain_ids[1])
        assert certificate.executed_block.block.epoch == Epoch(1)
        certificate.check(new_committee)

    run(scenario())
    for validator in range(4):
        system = chain_state(network, validator, 0).execution_state.system
        assert system.epoch.get() == Epoch(1)
        assert system.committees.keys() == [Epoch(1)]
        assert system.balance.get() == tokens(96)

    # A block of the removed epoch is refused, and changes nothing.
    old_epoch_block = dataclasses.replace(
        next_block(network, 0, [Transfer(None, Account(network.user_chain_ids[1]), tokens(1))]),
        epoch=Epoch(0),
        height=alice.next_block_height,
        previous_block_hash=alice.block_hash,
    )
    with pytest.raises(StaleEpoch):
        run(alice.propose_block(old_epoch_block))
    assert chain_state(network, 0, 0).next_block_height() == alice.next_block_height
