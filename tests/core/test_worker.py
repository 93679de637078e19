"""WorkerState: votes, certificates, cross-chain delivery, and typed rejections that change nothing."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import chain_state, next_block, run, state_summary, tokens

from edgechain.base.blobs import Blob
from edgechain.base.identifiers import Account, AccountOwner
from edgechain.base.values import BlockHeight, Epoch, Timestamp
from edgechain.chain.block import ExecutedBlock
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Vote
from edgechain.chain.errors import (
    ConflictingProposal,
    DuplicateSigner,
    InsufficientQuorum,
    InvalidCertificateSignature,
    InvalidProposal,
    InvalidTimestamp,
    NotRoundLeader,
    OutcomeMismatch,
    SignerNotInCommittee,
    StaleEpoch,
    UnexpectedBlockHeight,
    WrongPreviousBlockHash,
)
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.cross_chain import ConfirmUpdatedRecipient, UpdateRecipient
from edgechain.core.errors import BlobsNotFound, MissingEarlierBlocks, WorkerError
from edgechain.core.network import LocalNetwork, derive_key_pair
from edgechain.core.worker import WorkerState
from edgechain.execution.errors import InsufficientFunding
from edgechain.execution.operations import PublishDataBlob, Transfer


def transfer_to(network: LocalNetwork, user_index: int, amount: int) -> Transfer:
    return Transfer(None, Account(network.user_chain_ids[user_index]), tokens(amount))


def propose(network: LocalNetwork, user_index: int, block, key=None) -> BlockProposal:  # type: ignore[no-untyped-def]
    key_pair = key if key is not None else network.user_keys[user_index]
    return BlockProposal.new(ProposalContent(block, Fast()), key_pair)


def certify(network: LocalNetwork, proposal: BlockProposal, validators=range(3)) -> Certificate:  # type: ignore[no-untyped-def]
    votes = [network.workers[i].handle_block_proposal(proposal).vote for i in validators]
    assert all(vote is not None for vote in votes)
    return Certificate.from_votes(votes[0].value, Fast(), votes)  # type: ignore[union-attr,arg-type]


def test_vote_is_signed_for_the_executed_block_and_changes_no_state(network: LocalNetwork) -> None:
    before = state_summary(network, 0, 0)
    block = next_block(network, 0, [transfer_to(network, 1, 5)])
    response = network.workers[0].handle_block_proposal(propose(network, 0, block))
    vote = response.vote
    assert vote is not None
    vote.check()
    assert vote.validator == network.validator_keys[0].public_key
    assert isinstance(vote.value, ConfirmedBlock)
    assert vote.value.executed_block.block == block
    after = state_summary(network, 0, 0)
    assert after[:3] == before[:3]  # tip, state hash and balance untouched
    assert after[3] == vote  # only the vote is remembered
    assert chain_state(network, 0, 0).execution_state.system.balance.get() == tokens(100)


def test_same_proposal_twice_gets_the_same_vote(network: LocalNetwork) -> None:
    proposal = propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)]))
    first = network.workers[0].handle_block_proposal(proposal).vote
    second = network.workers[0].handle_block_proposal(proposal).vote
    assert first == second


def test_no_vote_for_a_second_block_at_the_same_height_and_round(network: LocalNetwork) -> None:
    worker = network.workers[0]
    worker.handle_block_proposal(propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)])))
    before = state_summary(network, 0, 0)
    other = propose(network, 0, next_block(network, 0, [transfer_to(network, 2, 7)]))
    with pytest.raises(ConflictingProposal):
        worker.handle_block_proposal(other)
    assert state_summary(network, 0, 0) == before


def test_certificate_applies_block_and_delivers_messages(network: LocalNetwork) -> None:
    block = next_block(network, 0, [transfer_to(network, 1, 5)])
    certificate = certify(network, propose(network, 0, block))
    worker = network.workers[0]
    response, requests = worker.handle_certificate(certificate)
    assert response.info.next_block_height == BlockHeight(1)
    assert response.info.block_hash == certificate.hash()
    assert response.info.chain_balance == tokens(95)
    assert response.info.state_hash == certificate.executed_block.outcome.state_hash
    assert worker.storage.read_certificate(certificate.hash()) == certificate
    assert [type(request) for request in requests] == [UpdateRecipient]
    (update,) = requests
    assert isinstance(update, UpdateRecipient)
    assert update.recipient == network.user_chain_ids[1]
    confirmations = worker.handle_cross_chain_request(update)
    assert confirmations == [
        ConfirmUpdatedRecipient(network.user_chain_ids[0], network.user_chain_ids[1], BlockHeight(0))
    ]
    info = worker.handle_chain_info_query(
        ChainInfoQuery(network.user_chain_ids[1], request_pending_message_bundles=True)
    ).info
    (pending,) = info.requested_pending_message_bundles
    assert pending.origin == network.user_chain_ids[0]
    assert pending.bundle.certificate_hash == certificate.hash()
    assert worker.handle_cross_chain_request(confirmations[0]) == []
    assert chain_state(network, 0, 0).unconfirmed_outboxes() == []
    # Applying the same certificate again changes nothing and, all confirmed, sends nothing.
    before = state_summary(network, 0, 0)
    again, more = worker.handle_certificate(certificate)
    assert more == [] and again.info.next_block_height == BlockHeight(1)
    assert state_summary(network, 0, 0) == before


def test_certificate_from_the_future_needs_earlier_blocks(network: LocalNetwork) -> None:
    first = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 1)])))
    for i in range(3):
        network.workers[i].handle_certificate(first)
    second = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 1)], first)))
    before = state_summary(network, 3, 0)
    with pytest.raises(MissingEarlierBlocks):
        network.workers[3].handle_certificate(second)
    assert state_summary(network, 3, 0) == before
    network.workers[3].handle_certificate(first)
    network.workers[3].handle_certificate(second)
    network.workers[0].handle_certificate(second)
    assert chain_state(network, 3, 0).next_block_height() == BlockHeight(2)
    assert chain_state(network, 3, 0).state_hash() == chain_state(network, 0, 0).state_hash()
    assert chain_state(network, 3, 0).state_hash() == second.executed_block.outcome.state_hash


# ---------------------------------------------------------------- rejections


def test_proposal_by_a_non_owner_is_rejected(network: LocalNetwork) -> None:
    before = state_summary(network, 0, 0)
    intruder = derive_key_pair(99, "intruder", 0)
    block = dataclasses.replace(
        next_block(network, 0, [transfer_to(network, 1, 5)]),
        authenticated_signer=AccountOwner.from_public_key(intruder.public_key),
    )
    with pytest.raises(NotRoundLeader):
        network.workers[0].handle_block_proposal(propose(network, 0, block, key=intruder))
    assert state_summary(network, 0, 0) == before


def test_proposal_whose_signature_does_not_verify_is_rejected(network: LocalNetwork) -> None:
    before = state_summary(network, 0, 0)
    block = next_block(network, 0, [transfer_to(network, 1, 5)])
    good = propose(network, 0, block)
    forged = dataclasses.replace(good, signature=propose(network, 1, block, key=network.user_keys[1]).signature)
    with pytest.raises(InvalidProposal):
        network.workers[0].handle_block_proposal(forged)
    assert state_summary(network, 0, 0) == before


def test_proposal_at_the_wrong_height_is_rejected(network: LocalNetwork) -> None:
    before = state_summary(network, 0, 0)
    block = dataclasses.replace(next_block(network, 0, [transfer_to(network, 1, 5)]), height=BlockHeight(1))
    with pytest.raises(UnexpectedBlockHeight):
        network.workers[0].handle_block_proposal(propose(network, 0, block))
    assert state_summary(network, 0, 0) == before


def test_proposal_with_a_wrong_previous_hash_is_rejected(network: LocalNetwork) -> None:
    first = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 1)])))
    network.workers[0].handle_certificate(first)
    before = state_summary(network, 0, 0)
    block = dataclasses.replace(
        next_block(network, 0, [transfer_to(network, 1, 1)], first),
        previous_block_hash=first.executed_block.block.chain_id.hash,
    )
    with pytest.raises(WrongPreviousBlockHash):
        network.workers[0].handle_block_proposal(propose(network, 0, block))
    assert state_summary(network, 0, 0) == before


def test_overdraft_is_rejected(network: LocalNetwork) -> None:
    before = state_summary(network, 0, 0)
    block = next_block(network, 0, [transfer_to(network, 1, 101)])
    with pytest.raises(InsufficientFunding):
        network.workers[0].handle_block_proposal(propose(network, 0, block))
    assert state_summary(network, 0, 0) == before


def test_stale_epoch_is_rejected(network: LocalNetwork) -> None:
    # Move the chain to epoch 1 on this validator (as a committee change would), keeping epoch 1's committee.
    chain = chain_state(network, 0, 0)
    chain.execution_state.system.epoch.set(Epoch(1))
    chain.execution_state.system.committees.insert(Epoch(1), network.committee)
    chain.execution_state.system.committees.remove(Epoch(0))
    chain.save()
    before = state_summary(network, 0, 0)
    block = next_block(network, 0, [transfer_to(network, 1, 5)])  # still in epoch 0
    with pytest.raises(StaleEpoch):
        network.workers[0].handle_block_proposal(propose(network, 0, block))
    certificate = certify(network, propose(network, 0, block), validators=range(1, 4))
    with pytest.raises(StaleEpoch):
        network.workers[0].handle_certificate(certificate)
    assert state_summary(network, 0, 0) == before


def test_certificate_with_signatures_over_another_block_is_rejected(network: LocalNetwork) -> None:
    real = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)])))
    other_block = next_block(network, 0, [transfer_to(network, 1, 50)])
    other_value = ConfirmedBlock(ExecutedBlock(other_block, real.executed_block.outcome))
    forged = Certificate(other_value, Fast(), real.signatures)
    before = state_summary(network, 3, 0)
    with pytest.raises(InvalidCertificateSignature):
        network.workers[3].handle_certificate(forged)
    assert state_summary(network, 3, 0) == before


def test_one_validators_vote_counted_twice_is_rejected(network: LocalNetwork) -> None:
    proposal = propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)]))
    votes = [network.workers[i].handle_block_proposal(proposal).vote for i in (0, 1)]
    assert votes[0] is not None and votes[1] is not None
    doubled = Certificate(
        votes[0].value,
        Fast(),
        [(v.validator, v.signature) for v in (votes[0], votes[1], votes[1])],
    )
    before = state_summary(network, 3, 0)
    with pytest.raises(DuplicateSigner):
        network.workers[3].handle_certificate(doubled)
    short = Certificate.from_votes(votes[0].value, Fast(), votes)  # type: ignore[arg-type]
    with pytest.raises(InsufficientQuorum):
        network.workers[3].handle_certificate(short)
    assert state_summary(network, 3, 0) == before


def test_signer_outside_the_committee_is_rejected(network: LocalNetwork) -> None:
    proposal = propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)]))
    votes = [network.workers[i].handle_block_proposal(proposal).vote for i in (0, 1)]
    assert votes[0] is not None and votes[1] is not None
    outsider = derive_key_pair(7, "validator", 0)
    outsider_vote = Vote.new(votes[0].value, Fast(), outsider)
    certificate = Certificate.from_votes(votes[0].value, Fast(), [*votes, outsider_vote])  # type: ignore[list-item]
    before = state_summary(network, 3, 0)
    with pytest.raises(SignerNotInCommittee):
        network.workers[3].handle_certificate(certificate)
    assert state_summary(network, 3, 0) == before


def test_no_vote_without_the_published_blobs(network: LocalNetwork) -> None:
    blob = Blob.data(b"a model chunk")
    block = dataclasses.replace(
        next_block(network, 0, [PublishDataBlob(blob.id)]), published_blob_ids=[blob.id]
    )
    proposal = propose(network, 0, block)
    before = state_summary(network, 0, 0)
    with pytest.raises(BlobsNotFound) as caught:
        network.workers[0].handle_block_proposal(proposal)
    assert caught.value.blob_ids == [blob.id]
    assert state_summary(network, 0, 0) == before
    run(network.nodes[0].upload_blob(blob))
    assert network.workers[0].handle_block_proposal(proposal).vote is not None


def test_proposal_with_a_future_timestamp_is_rejected(network: LocalNetwork) -> None:
    block = dataclasses.replace(
        next_block(network, 0, [transfer_to(network, 1, 5)]),
        timestamp=Timestamp(Timestamp.now().micros + 3_600_000_000),
    )
    with pytest.raises(InvalidTimestamp):
        network.workers[0].handle_block_proposal(propose(network, 0, block))


def test_certificate_whose_outcome_differs_from_local_execution_is_refused(
    network: LocalNetwork,
) -> None:
    # Validator 3's state has diverged (one more token): re-executing gives another state hash.
    diverged = chain_state(network, 3, 0)
    diverged.execution_state.system.balance.set(tokens(101))
    diverged.save()
    before = state_summary(network, 3, 0)
    certificate = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)])))
    with pytest.raises(OutcomeMismatch):
        network.workers[3].handle_certificate(certificate)
    assert state_summary(network, 3, 0) == before
    assert not network.storages[3].contains_certificate(certificate.hash())


def test_worker_handles_only_the_chains_of_its_shard(network: LocalNetwork) -> None:
    own_chain = network.user_chain_ids[0]
    worker = WorkerState(network.storages[0], network.validator_keys[0], frozenset({own_chain}))
    worker.handle_chain_info_query(ChainInfoQuery(own_chain))
    with pytest.raises(WorkerError):
        worker.handle_chain_info_query(ChainInfoQuery(network.user_chain_ids[1]))
    block = next_block(network, 1, [transfer_to(network, 0, 5)])
    with pytest.raises(WorkerError):
        worker.handle_block_proposal(propose(network, 1, block))
