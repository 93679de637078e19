"""ChainManager: multi-owner rounds, two-phase certificates, locks and timeouts on 4 validators."""

from __future__ import annotations

from collections import Counter

import pytest
from ledger_helpers import Ledger, all_blobs_available, chain, key_pair, make_ledger, owner_of

from edgechain.base import Account, Amount, BlockHeight, ChainId, KeyPair, Timestamp
from edgechain.chain import (
    Block,
    BlockProposal,
    Certificate,
    ChainStateView,
    ConfirmedBlock,
    ExecutedBlock,
    Fast,
    MultiLeader,
    ProposalContent,
    Round,
    SingleLeader,
    ValidatedBlock,
    Vote,
    execute_block,
)
from edgechain.chain.certificate import Timeout
from edgechain.chain.errors import (
    ConflictingProposal,
    LockedBlockConflict,
    NotRoundLeader,
    RoundNotTimedOut,
    WrongCertificateKind,
    WrongRound,
)
from edgechain.chain.manager import first_round, next_round, round_duration, round_leader
from edgechain.execution import ChainOwnership, ChangeOwnership, TimeoutConfig, Transfer
from edgechain.views import Batch, MemoryStore, ViewContext

A, B = chain(1), chain(2)
VALIDATOR_KEYS = [key_pair(1000 + index) for index in range(4)]
ALICE, BOB = key_pair(1), key_pair(2)  # ALICE owns chain A in the ledger
TIMEOUTS = TimeoutConfig(fast_round_duration=None, base_timeout=1_000, timeout_increment=100)
MULTI = ChainOwnership.multiple({owner_of(ALICE): 1, owner_of(BOB): 1}, 1, TIMEOUTS)


def copy_state(ledger: Ledger, chain_id: ChainId) -> ChainStateView:
    store = MemoryStore()
    batch = Batch()
    for key, value in ledger.stores[chain_id].find_key_values_by_prefix(b""):
        batch.put(key, value)
    store.write_batch(batch)
    return ChainStateView(ViewContext(store), chain_id)


@pytest.fixture
def setup() -> tuple[Ledger, list[ChainStateView]]:
    """Chain A made multi-owner (Alice and Bob, one multi-leader round); 4 validator replicas."""
    ledger = make_ledger([1000, 1000])
    ledger.run(ledger.make_block(A, [ChangeOwnership(MULTI)]))
    replicas = [copy_state(ledger, A) for _ in VALIDATOR_KEYS]
    for replica in replicas:
        replica.manager.reset(MULTI, Timestamp(0))
        replica.save()
    return ledger, replicas


def proposal_by(pair: KeyPair, ledger: Ledger, round_: Round, amount: int = 5) -> BlockProposal:
    block = ledger.make_block(
        A, [Transfer(None, Account(B), Amount(amount))], signer=owner_of(pair)
    )
    return BlockProposal.new(ProposalContent(block, round_), pair)


def vote_on(replica: ChainStateView, proposal: BlockProposal, pair: KeyPair) -> Vote:
    """What a worker does: check the round, execute without keeping it, vote."""
    ownership = replica.execution_state.system.ownership.get()
    earlier = replica.manager.check_proposal(proposal, ownership)
    if earlier is not None:
        return earlier
    block: Block = proposal.content.block
    outcome = execute_block(replica, block, Timestamp(10**15), all_blobs_available)
    replica.rollback()
    vote = replica.manager.vote_for_proposal(proposal, ExecutedBlock(block, outcome), pair)
    replica.save()
    return vote


def certify(votes: list[Vote]) -> Certificate:
    certificate = Certificate.from_votes(votes[0].value, votes[0].round, votes)
    return certificate


def test_round_sequence_and_durations() -> None:
    single = ChainOwnership.single(owner_of(ALICE))
    assert first_round(single) == Fast()
    assert first_round(MULTI) == MultiLeader(0)
    assert next_round(MULTI, MultiLeader(0)) == SingleLeader(0)
    assert next_round(MULTI, SingleLeader(3)) == SingleLeader(4)
    assert next_round(single, Fast()) == SingleLeader(0)
    three = ChainOwnership.multiple({owner_of(ALICE): 1}, 3)
    assert next_round(three, MultiLeader(1)) == MultiLeader(2)
    assert round_duration(MULTI, MultiLeader(0)) == 1_000
    assert round_duration(MULTI, SingleLeader(2)) == 1_000 + 3 * 100
    assert round_duration(single, Fast()) is None


def test_leaders_are_deterministic_and_drawn_by_weight() -> None:
    heavy, light = owner_of(ALICE), owner_of(BOB)
    ownership = ChainOwnership.multiple({heavy: 9, light: 1}, 0)
    leaders = [
        round_leader(ownership, A, BlockHeight(0), SingleLeader(number)) for number in range(400)
    ]
    assert leaders == [
        round_leader(ownership, A, BlockHeight(0), SingleLeader(number)) for number in range(400)
    ]
    counts = Counter(leaders)
    assert counts[heavy] > 300 and counts[light] > 10
    assert round_leader(ownership, A, BlockHeight(0), MultiLeader(0)) is None


def test_two_phase_commit_in_a_multi_leader_round(
    setup: tuple[Ledger, list[ChainStateView]],
) -> None:
    ledger, replicas = setup
    committee = ledger.committee
    proposal = proposal_by(BOB, ledger, MultiLeader(0))
    votes = [
        vote_on(replica, proposal, pair)
        for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True)
    ]
    assert all(isinstance(vote.value, ValidatedBlock) for vote in votes)
    assert vote_on(replicas[0], proposal, VALIDATOR_KEYS[0]) == votes[0], "same proposal, same vote"
    validated = certify(votes[:3])
    validated.check(committee)
    confirm_votes = []
    for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True):
        vote = replica.manager.handle_validated_certificate(validated, pair)
        assert vote is not None and isinstance(vote.value, ConfirmedBlock)
        assert replica.manager.locked.get() == validated
        confirm_votes.append(vote)
        replica.save()
    confirmed = certify(confirm_votes[1:])
    confirmed.check(committee)
    for replica in replicas:
        replica.apply_confirmed_block(confirmed.executed_block, all_blobs_available)
        replica.save()
        assert replica.manager.locked.get() is None, "the next height starts unlocked"
        assert replica.manager.current_round.get() == MultiLeader(0)
    hashes = {replica.execution_state.hash() for replica in replicas}
    assert hashes == {confirmed.executed_block.outcome.state_hash}
    assert replicas[0].execution_state.system.balance.get() == Amount(995)


def test_one_vote_per_round_and_only_in_the_current_round(
    setup: tuple[Ledger, list[ChainStateView]],
) -> None:
    ledger, replicas = setup
    replica, pair = replicas[0], VALIDATOR_KEYS[0]
    ownership = replica.execution_state.system.ownership.get()
    vote_on(replica, proposal_by(BOB, ledger, MultiLeader(0)), pair)
    with pytest.raises(ConflictingProposal):
        replica.manager.check_proposal(proposal_by(ALICE, ledger, MultiLeader(0), 7), ownership)
    with pytest.raises(WrongRound):
        replica.manager.check_proposal(proposal_by(BOB, ledger, SingleLeader(0)), ownership)
    with pytest.raises(WrongRound):
        replica.manager.check_proposal(proposal_by(BOB, ledger, Fast()), ownership)
    outsider = key_pair(31)
    with pytest.raises(NotRoundLeader):
        replicas[1].manager.check_proposal(proposal_by(outsider, ledger, MultiLeader(0)), ownership)


def timeout_certificate(
    replicas: list[ChainStateView], ledger: Ledger, now: Timestamp
) -> Certificate:
    votes = []
    for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True):
        ownership = replica.execution_state.system.ownership.get()
        votes.append(
            replica.manager.vote_timeout(
                A,
                replica.next_block_height(),
                replica.execution_state.system.epoch.get(),
                ownership,
                pair,
                now,
            )
        )
        replica.save()
    certificate = certify(votes)
    certificate.check(ledger.committee)
    return certificate


def test_timeouts_move_to_single_leader_rounds_with_one_leader(
    setup: tuple[Ledger, list[ChainStateView]],
) -> None:
    ledger, replicas = setup
    ownership = replicas[0].execution_state.system.ownership.get()
    with pytest.raises(RoundNotTimedOut):
        replicas[0].manager.vote_timeout(
            A,
            BlockHeight(1),
            replicas[0].execution_state.system.epoch.get(),
            ownership,
            VALIDATOR_KEYS[0],
            Timestamp(999),
        )
    certificate = timeout_certificate(replicas, ledger, Timestamp(1_000))
    assert isinstance(certificate.value, Timeout)
    with pytest.raises(WrongCertificateKind):
        _ = certificate.executed_block
    for replica in replicas:
        assert replica.manager.handle_timeout_certificate(certificate, ownership, Timestamp(1_000))
        assert replica.manager.current_round.get() == SingleLeader(0)
        assert replica.manager.round_timeout.get() == Timestamp(1_000 + 1_000 + 100)
        replica.save()
    assert not replicas[0].manager.handle_timeout_certificate(
        certificate, ownership, Timestamp(2_000)
    )
    leader = round_leader(ownership, A, BlockHeight(1), SingleLeader(0))
    leader_pair, other_pair = (ALICE, BOB) if leader == owner_of(ALICE) else (BOB, ALICE)
    with pytest.raises(NotRoundLeader):
        replicas[0].manager.check_proposal(
            proposal_by(other_pair, ledger, SingleLeader(0)), ownership
        )
    vote = vote_on(
        replicas[0], proposal_by(leader_pair, ledger, SingleLeader(0)), VALIDATOR_KEYS[0]
    )
    assert isinstance(vote.value, ValidatedBlock) and vote.round == SingleLeader(0)


def test_a_locked_block_must_be_reproposed_or_superseded(
    setup: tuple[Ledger, list[ChainStateView]],
) -> None:
    ledger, replicas = setup
    first = proposal_by(BOB, ledger, MultiLeader(0), amount=5)
    votes = [
        vote_on(replica, first, pair)
        for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True)
    ]
    validated = certify(votes[:3])
    for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True):
        replica.manager.handle_validated_certificate(validated, pair)
        replica.save()
    # nobody gathers the confirmations; the round times out
    timeout = timeout_certificate(replicas, ledger, Timestamp(5_000))
    ownership = replicas[0].execution_state.system.ownership.get()
    for replica in replicas:
        replica.manager.handle_timeout_certificate(timeout, ownership, Timestamp(5_000))
        replica.save()
    leader = round_leader(ownership, A, BlockHeight(1), SingleLeader(0))
    leader_pair = ALICE if leader == owner_of(ALICE) else BOB
    other_block = proposal_by(leader_pair, ledger, SingleLeader(0), amount=9)
    with pytest.raises(LockedBlockConflict):
        replicas[0].manager.check_proposal(other_block, ownership)
    same_block = BlockProposal.new(
        ProposalContent(first.content.block, SingleLeader(0)), leader_pair, validated
    )
    # a re-proposal of the locked block passes even though another owner built it
    assert replicas[0].manager.check_proposal(same_block, ownership) is None
    # a validated certificate of an earlier round than the lock does not release it
    stale_release = BlockProposal.new(other_block.content, leader_pair, validated)
    with pytest.raises(LockedBlockConflict):
        replicas[1].manager.check_proposal(stale_release, ownership)


def test_fast_round_is_for_super_owners_only() -> None:
    ledger = make_ledger([1000, 1000])
    replica = copy_state(ledger, A)
    ownership = replica.execution_state.system.ownership.get()
    assert replica.manager.effective_round(ownership) == Fast()
    replica.manager.check_proposal(proposal_by(ALICE, ledger, Fast()), ownership)
    with pytest.raises(NotRoundLeader):
        replica.manager.check_proposal(proposal_by(BOB, ledger, Fast()), ownership)
    vote = vote_on(replica, proposal_by(ALICE, ledger, Fast()), VALIDATOR_KEYS[0])
    assert isinstance(vote.value, ConfirmedBlock), "fast round: one phase"


def test_a_later_validated_certificate_releases_the_lock(
    setup: tuple[Ledger, list[ChainStateView]],
) -> None:
    ledger, replicas = setup
    first = proposal_by(BOB, ledger, MultiLeader(0), amount=5)
    votes = [
        vote_on(replica, first, pair)
        for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True)
    ]
    for replica, pair in zip(replicas, VALIDATOR_KEYS, strict=True):
        replica.manager.handle_validated_certificate(certify(votes[:3]), pair)
        replica.save()
    ownership = replicas[0].execution_state.system.ownership.get()
    timeout = timeout_certificate(replicas, ledger, Timestamp(5_000))
    for replica in replicas:
        replica.manager.handle_timeout_certificate(timeout, ownership, Timestamp(5_000))
        replica.save()
    leader = round_leader(ownership, A, BlockHeight(1), SingleLeader(0))
    leader_pair = ALICE if leader == owner_of(ALICE) else BOB
    other = proposal_by(leader_pair, ledger, SingleLeader(0), amount=9)
    scratch = copy_state(ledger, A)
    outcome = execute_block(scratch, other.content.block, Timestamp(10**15), all_blobs_available)
    scratch.rollback()
    later_value = ValidatedBlock(ExecutedBlock(other.content.block, outcome))
    later = certify([Vote.new(later_value, SingleLeader(0), pair) for pair in VALIDATOR_KEYS[:3]])
    later.check(ledger.committee)
    release = BlockProposal.new(other.content, leader_pair, later)
    assert replicas[2].manager.check_proposal(release, ownership) is None
    # once locked on the later block, the earlier one's certificate no longer helps
    replicas[3].manager.handle_validated_certificate(later, VALIDATOR_KEYS[3])
    assert replicas[3].manager.locked.get() == later
    assert replicas[3].manager.handle_validated_certificate(certify(votes[:3]), None) is None
    assert replicas[3].manager.locked.get() == later
    back = BlockProposal.new(
        ProposalContent(first.content.block, SingleLeader(0)), leader_pair, certify(votes[:3])
    )
    with pytest.raises((LockedBlockConflict, ConflictingProposal)):
        replicas[3].manager.check_proposal(back, ownership)
