"""WorkerState shortcuts that must not weaken a check: a proposal executed on the loaded chain
view leaves it exactly as stored; a checked certificate is skipped only as the same object
against an equal committee."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import chain_state, next_block, tokens

from edgechain.base.identifiers import Account
from edgechain.chain.certificate import Certificate
from edgechain.chain.errors import InvalidCertificateSignature, SignerNotInCommittee
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast
from edgechain.core.cross_chain import UpdateRecipient
from edgechain.core.errors import InvalidCrossChainRequest
from edgechain.core.network import LocalNetwork
from edgechain.core.worker import WorkerState
from edgechain.execution.committee import Committee
from edgechain.execution.errors import InsufficientFunding
from edgechain.execution.messages import Credit
from edgechain.execution.operations import Transfer
from edgechain.storage.db_storage import DbStorage


def certify_transfer(network: LocalNetwork, amount: int) -> Certificate:
    block = next_block(
        network, 0, [Transfer(None, Account(network.user_chain_ids[1]), tokens(amount))]
    )
    proposal = BlockProposal.new(ProposalContent(block, Fast()), network.user_keys[0])
    votes = [network.workers[i].handle_block_proposal(proposal).vote for i in range(3)]
    assert all(vote is not None for vote in votes)
    return Certificate.from_votes(votes[0].value, Fast(), votes)  # type: ignore[union-attr,arg-type]


def test_voting_leaves_the_loaded_chain_view_equal_to_the_stored_state(
    network: LocalNetwork,
) -> None:
    certify_transfer(network, 5)
    loaded = chain_state(network, 0, 0)
    stored = network.storages[0].load_chain_scratch(network.user_chain_ids[0])
    assert not loaded.has_pending_changes()
    assert loaded is network.storages[0].load_chain(
        network.user_chain_ids[0]
    )  # still the cached view
    assert loaded.state_hash() == stored.state_hash()
    assert loaded.execution_state.system.balance.get() == tokens(100)
    assert stored.execution_state.system.balance.get() == tokens(100)


def test_a_failed_proposal_leaves_the_loaded_view_clean_and_usable(network: LocalNetwork) -> None:
    block = next_block(
        network, 0, [Transfer(None, Account(network.user_chain_ids[1]), tokens(1000))]
    )
    with pytest.raises(InsufficientFunding):
        network.workers[0].handle_block_proposal(
            BlockProposal.new(ProposalContent(block, Fast()), network.user_keys[0])
        )
    assert not chain_state(network, 0, 0).has_pending_changes()
    certificate = certify_transfer(network, 5)
    network.workers[0].handle_certificate(certificate)
    assert chain_state(network, 0, 0).execution_state.system.balance.get() == tokens(95)


def test_a_checked_certificate_is_checked_again_as_another_object_or_committee(
    network: LocalNetwork,
) -> None:
    worker = network.workers[3]
    certificate = certify_transfer(network, 5)
    committee = network.committee
    worker._check_certificate(certificate, committee)
    worker._check_certificate(certificate, committee)  # remembered: same object, equal committee
    # Same hash, a forged signature: another object, so it is verified and refused.
    (key, _), *rest = certificate.signatures
    forged = dataclasses.replace(certificate, signatures=[(key, rest[0][1]), *rest])
    assert forged.hash() == certificate.hash()
    with pytest.raises(InvalidCertificateSignature):
        worker._check_certificate(forged, committee)
    # The remembered object against a committee without its signers is checked again.
    stranger = Committee.of_equal_weights([network.validator_keys[3].public_key], committee.policy)
    with pytest.raises(SignerNotInCommittee):
        worker._check_certificate(certificate, stranger)


def test_stored_certificates_are_reused_only_while_the_store_holds_their_bytes(
    network: LocalNetwork,
) -> None:
    storage = network.storages[0]
    certificate = certify_transfer(network, 5)
    network.workers[0].handle_certificate(certificate)
    assert storage.read_certificate(certificate.hash()) is certificate
    other_reader = DbStorage(storage.store)
    decoded = other_reader.read_certificate(certificate.hash())
    assert decoded == certificate and decoded is not certificate


def test_a_sole_writer_worker_still_refuses_deliveries_no_stored_certificate_backs(
    network: LocalNetwork,
) -> None:
    worker = WorkerState(network.storages[0], network.validator_keys[0], sole_writer=True)
    alice, bob = network.user_chain_ids[0], network.user_chain_ids[1]
    certificate = certify_transfer(network, 5)
    _, requests = worker.handle_certificate(certificate)
    (update,) = requests
    assert isinstance(update, UpdateRecipient)
    (bundle,) = update.bundles
    (posted,) = bundle.messages
    assert isinstance(posted.message, Credit)
    inflated = dataclasses.replace(
        bundle,
        messages=[
            dataclasses.replace(
                posted, message=dataclasses.replace(posted.message, amount=tokens(1_000_000))
            )
        ],
    )
    with pytest.raises(InvalidCrossChainRequest):
        worker.handle_cross_chain_request(UpdateRecipient(alice, bob, None, [inflated]))
    assert worker.handle_cross_chain_request(update)  # the genuine one is taken and confirmed
    inbox = network.storages[0].load_chain(bob).inboxes.try_load_entry(alice)
    assert inbox is not None and [b.height for b in inbox.added_bundles.elements()] == [
        bundle.height
    ]
