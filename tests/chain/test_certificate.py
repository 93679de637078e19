"""Votes and certificates: quorum by weight, and every way a certificate can be wrong."""

from __future__ import annotations

import pytest
from ledger_helpers import key_pair, make_ledger

from edgechain.base import Amount, KeyPair, PublicKey
from edgechain.chain import (
    Certificate,
    ConfirmedBlock,
    DuplicateSigner,
    ExecutedBlock,
    Fast,
    InsufficientQuorum,
    InvalidCertificateSignature,
    InvalidVote,
    MultiLeader,
    SignerNotInCommittee,
    ValidatedBlock,
    Vote,
)
from edgechain.execution import Committee, ResourceControlPolicy, ValidatorState

FAST = Fast()
VALIDATORS = [key_pair(1000 + index) for index in range(4)]


def committee_of(pairs: list[KeyPair], weights: list[int] | None = None) -> Committee:
    weights = weights if weights is not None else [1] * len(pairs)
    return Committee(
        {
            pair.public_key: ValidatorState(weight, f"local:{i}")
            for i, (pair, weight) in enumerate(zip(pairs, weights, strict=True))
        },
        ResourceControlPolicy.no_fees(),
    )


@pytest.fixture(scope="module")
def two_blocks() -> tuple[ExecutedBlock, ExecutedBlock]:
    from ledger_helpers import chain

    ledger = make_ledger([100, 100])
    first = ledger.transfer(chain(1), chain(2), Amount(1))
    second = ledger.transfer(chain(1), chain(2), Amount(2))
    return first, second


def certificate_by(
    value: ConfirmedBlock | ValidatedBlock,
    signers: list[KeyPair],
    round_: Fast | MultiLeader = FAST,
) -> Certificate:
    return Certificate.from_votes(
        value, round_, [Vote.new(value, round_, pair) for pair in signers]
    )


@pytest.mark.parametrize(
    ("total", "validity", "quorum"),
    [(1, 1, 1), (3, 1, 2), (4, 2, 3), (7, 3, 5), (10, 4, 7), (100, 34, 67)],
)
def test_thresholds_follow_linera(total: int, validity: int, quorum: int) -> None:
    committee = committee_of([key_pair(i) for i in range(total)])
    assert committee.total_weight == total
    assert committee.validity_threshold == validity
    assert committee.quorum_threshold == quorum


def test_thresholds_are_by_weight(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    committee = committee_of(VALIDATORS, [5, 1, 1, 1])
    assert committee.total_weight == 8
    assert committee.validity_threshold == 3
    assert committee.quorum_threshold == 6
    value = ConfirmedBlock(two_blocks[0])
    certificate_by(value, VALIDATORS[:2]).check(committee)  # 5 + 1 = 6
    with pytest.raises(InsufficientQuorum):
        certificate_by(value, VALIDATORS[1:]).check(committee)  # 1 + 1 + 1 = 3


def test_a_quorum_of_valid_votes_makes_a_valid_certificate(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    value = ConfirmedBlock(two_blocks[0])
    certificate = certificate_by(value, VALIDATORS[:3])
    certificate.check(committee_of(VALIDATORS))
    assert certificate.hash() == value.hash()


def test_below_quorum_is_rejected(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    certificate = certificate_by(ConfirmedBlock(two_blocks[0]), VALIDATORS[:2])
    with pytest.raises(InsufficientQuorum):
        certificate.check(committee_of(VALIDATORS))


def test_signatures_over_another_block_are_rejected(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    first, second = two_blocks
    signed_second = certificate_by(ConfirmedBlock(second), VALIDATORS[:3])
    forged = Certificate(ConfirmedBlock(first), Fast(), signed_second.signatures)
    with pytest.raises(InvalidCertificateSignature):
        forged.check(committee_of(VALIDATORS))


def test_signatures_for_another_round_or_phase_are_rejected(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    first = two_blocks[0]
    signed_validated = certificate_by(ValidatedBlock(first), VALIDATORS[:3])
    assert ValidatedBlock(first).hash() != ConfirmedBlock(first).hash()
    with pytest.raises(InvalidCertificateSignature):
        Certificate(ConfirmedBlock(first), Fast(), signed_validated.signatures).check(
            committee_of(VALIDATORS)
        )
    signed_round_1 = certificate_by(ConfirmedBlock(first), VALIDATORS[:3], MultiLeader(1))
    with pytest.raises(InvalidCertificateSignature):
        Certificate(ConfirmedBlock(first), MultiLeader(0), signed_round_1.signatures).check(
            committee_of(VALIDATORS)
        )


def test_a_corrupted_signature_is_rejected(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    from edgechain.base import Signature

    certificate = certificate_by(ConfirmedBlock(two_blocks[0]), VALIDATORS[:3])
    public_key, signature = certificate.signatures[1]
    flipped = bytes([signature.signature_bytes[0] ^ 1]) + signature.signature_bytes[1:]
    signatures = list(certificate.signatures)
    signatures[1] = (public_key, Signature(flipped))
    with pytest.raises(InvalidCertificateSignature):
        Certificate(certificate.value, certificate.round, signatures).check(
            committee_of(VALIDATORS)
        )


def test_one_validators_vote_counted_twice_is_rejected(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    certificate = certificate_by(ConfirmedBlock(two_blocks[0]), VALIDATORS[:2])
    doubled = Certificate(
        certificate.value, certificate.round, [*certificate.signatures, certificate.signatures[0]]
    )
    with pytest.raises(DuplicateSigner):
        doubled.check(committee_of(VALIDATORS))


def test_a_signer_outside_the_committee_is_rejected(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    outsider = key_pair(4242)
    certificate = certificate_by(ConfirmedBlock(two_blocks[0]), [*VALIDATORS[:2], outsider])
    with pytest.raises(SignerNotInCommittee):
        certificate.check(committee_of(VALIDATORS))
    # the same three signatures are fine for a committee that includes the outsider
    certificate.check(committee_of([*VALIDATORS[:2], outsider]))


def test_votes_check_their_own_signature(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    first, second = two_blocks
    vote = Vote.new(ConfirmedBlock(first), Fast(), VALIDATORS[0])
    vote.check()
    wrong_value = Vote(ConfirmedBlock(second), Fast(), vote.validator, vote.signature)
    with pytest.raises(InvalidVote):
        wrong_value.check()
    wrong_signer = Vote(vote.value, Fast(), VALIDATORS[1].public_key, vote.signature)
    with pytest.raises(InvalidVote):
        wrong_signer.check()


def test_hashes_are_cached_and_stable(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    from edgechain.base import decode, encode

    first = two_blocks[0]
    again = decode(encode(first), ExecutedBlock)
    assert again == first
    assert again.hash() == first.hash() == first.hash()
    assert ConfirmedBlock(again).hash() == ConfirmedBlock(first).hash()
    assert first.hash() != two_blocks[1].hash()


def test_proposal_signatures(two_blocks: tuple[ExecutedBlock, ExecutedBlock]) -> None:
    from ledger_helpers import chain
    from ledger_helpers import key_pair as owner_key

    from edgechain.chain import BlockProposal, InvalidProposal, ProposalContent

    block = two_blocks[0].block
    owner = owner_key(1)  # chain 1's owner
    assert block.chain_id == chain(1)
    proposal = BlockProposal.new(ProposalContent(block, Fast()), owner)
    proposal.check_signature()
    with pytest.raises(InvalidProposal):
        BlockProposal.new(ProposalContent(block, Fast()), owner_key(2)).check_signature()
    tampered = BlockProposal(
        ProposalContent(two_blocks[1].block, Fast()), proposal.public_key, proposal.signature
    )
    with pytest.raises(InvalidProposal):
        tampered.check_signature()


def test_public_keys_are_ordered_for_canonical_certificates(
    two_blocks: tuple[ExecutedBlock, ExecutedBlock],
) -> None:
    value = ConfirmedBlock(two_blocks[0])
    votes = [Vote.new(value, Fast(), pair) for pair in reversed(VALIDATORS)]
    certificate = Certificate.from_votes(value, Fast(), votes)
    keys: list[PublicKey] = [public_key for public_key, _ in certificate.signatures]
    assert keys == sorted(keys)
