"""`ChainManager`: the consensus state of one chain at its next height, on one validator.

Rounds (see ``rounds.py``) go: the fast round (super owners only, confirmed in one phase),
then ``multi_leader_rounds`` multi-leader rounds (any owner), then single-leader rounds
(one leader per round, drawn by weight from a hash of chain, height and round). Outside
the fast round, consensus has two phases, as in Linera:

1. an owner proposes; each validator checks the proposal, executes it and votes for a
   ``ValidatedBlock``; a quorum of those votes is a validated-block certificate;
2. on that certificate each validator *locks* the block and votes for the
   ``ConfirmedBlock``; a quorum of those is final.

A validator votes at most once per round, and once locked, it only votes for a proposal
of the locked block or one that carries a validated certificate of a later round. When a
round's deadline passes without a confirmed block, validators sign a ``Timeout``; a
quorum of those moves everyone to the next round. All of it resets at the next height.

The manager holds no key: the worker passes its key pair and its local time in.
"""

from __future__ import annotations

from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import BlockHeight, Epoch, Timestamp
from edgechain.chain.block import ExecutedBlock
from edgechain.chain.certificate import (
    Certificate,
    ConfirmedBlock,
    Timeout,
    ValidatedBlock,
    Vote,
)
from edgechain.chain.errors import (
    ConflictingProposal,
    LockedBlockConflict,
    NotRoundLeader,
    RoundNotTimedOut,
    WrongCertificateKind,
    WrongRound,
)
from edgechain.chain.proposal import BlockProposal
from edgechain.chain.rounds import Fast, MultiLeader, Round, SingleLeader, round_order
from edgechain.execution.ownership import ChainOwnership
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext
from edgechain.views.register_view import RegisterView


def first_round(ownership: ChainOwnership) -> Round:
    """The round a height starts in: fast with super owners, else the first multi-leader round."""
    if ownership.super_owners:
        return Fast()
    if ownership.multi_leader_rounds > 0:
        return MultiLeader(0)
    return SingleLeader(0)


def next_round(ownership: ChainOwnership, round_: Round) -> Round:
    """The round after ``round_``."""
    if isinstance(round_, Fast):
        if ownership.multi_leader_rounds > 0:
            return MultiLeader(0)
        return SingleLeader(0)
    if isinstance(round_, MultiLeader):
        if round_.number + 1 < ownership.multi_leader_rounds:
            return MultiLeader(round_.number + 1)
        return SingleLeader(0)
    return SingleLeader(round_.number + 1)


def round_leader(
    ownership: ChainOwnership, chain_id: ChainId, height: BlockHeight, round_: Round
) -> AccountOwner | None:
    """The one owner who may propose in a single-leader round (None for other rounds).

    Drawn by weight: a BLAKE3 hash of (chain, height, round) picks a point in the owners'
    cumulative weights, in their canonical (sorted) order, so every validator agrees.
    """
    if not isinstance(round_, SingleLeader) or not ownership.owners:
        return None
    owners = sorted(ownership.owners.items())
    total_weight = sum(weight for _, weight in owners)
    seed = CryptoHash.of("RoundLeader", [chain_id, height, round_.number])
    point = int.from_bytes(seed.digest, "big") % total_weight
    for owner, weight in owners:
        if point < weight:
            return owner
        point -= weight
    raise AssertionError("unreachable: the point is below the total weight")


def round_duration(ownership: ChainOwnership, round_: Round) -> int | None:
    """How long ``round_`` lasts in microseconds (None: no deadline)."""
    config = ownership.timeout_config
    if isinstance(round_, Fast):
        return config.fast_round_duration
    number = round_.number
    if isinstance(round_, SingleLeader):
        number += ownership.multi_leader_rounds
    return config.base_timeout + number * config.timeout_increment


class ChainManager(CompositeView):
    """Round state of one chain on one validator: what it saw, voted for and locked."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.current_round: RegisterView[Round] = self.register("current_round", Round, Fast())
        """The round this validator is in."""
        self.proposed: RegisterView[BlockProposal | None] = self.register(
            "proposed", BlockProposal | None, None
        )
        """The latest proposal this validator voted for at the next height."""
        self.locked: RegisterView[Certificate | None] = self.register(
            "locked", Certificate | None, None
        )
        """The validated-block certificate of the latest round seen (the lock)."""
        self.pending_vote: RegisterView[Vote | None] = self.register(
            "pending_vote", Vote | None, None
        )
        """This validator's latest vote at the next height (block or timeout)."""
        self.round_timeout: RegisterView[Timestamp | None] = self.register(
            "round_timeout", Timestamp | None, None
        )
        """When the current round may be timed out (None: never)."""

    # ---------------------------------------------------------------------- lifecycle

    def reset(
        self, ownership: ChainOwnership | None = None, local_time: Timestamp | None = None
    ) -> None:
        """Start a new height: first round, nothing proposed, voted or locked."""
        round_ = first_round(ownership) if ownership is not None else Fast()
        self.current_round.set(round_)
        self.proposed.set(None)
        self.locked.set(None)
        self.pending_vote.set(None)
        self._set_deadline(ownership, round_, local_time)

    def _set_deadline(
        self, ownership: ChainOwnership | None, round_: Round, local_time: Timestamp | None
    ) -> None:
        duration = round_duration(ownership, round_) if ownership is not None else None
        if duration is None or local_time is None:
            self.round_timeout.set(None)
        else:
            self.round_timeout.set(Timestamp(local_time.micros + duration))

    def ensure_deadline(self, ownership: ChainOwnership, local_time: Timestamp) -> bool:
        """Give the current round a deadline from ``local_time`` if it has none; return
        whether it did. For a round that started without a clock: a child chain's height 0
        (its opening message just arrived) or a genesis chain's. Nothing else changes."""
        if self.round_timeout.get() is not None:
            return False
        self._set_deadline(ownership, self.effective_round(ownership), local_time)
        return self.round_timeout.get() is not None

    def effective_round(self, ownership: ChainOwnership) -> Round:
        """The current round, where a chain without super owners never sits in the fast round."""
        current = self.current_round.get()
        if isinstance(current, Fast) and not ownership.super_owners:
            return first_round(ownership)
        return current

    # ---------------------------------------------------------------------- proposals

    def check_proposal(self, proposal: BlockProposal, ownership: ChainOwnership) -> Vote | None:
        """Raise a RoundError unless this validator may vote for ``proposal`` now.

        Returns this validator's earlier vote when it is the same proposal again (answer
        with that vote; do not execute twice), else None (execute it, then ``vote_for``).
        """
        content = proposal.content
        block, round_ = content.block, content.round
        current = self.effective_round(ownership)
        if round_order(round_) != round_order(current):
            raise WrongRound(
                f"chain {block.chain_id} at height {block.height} is in round {current},"
                f" the proposal is for {round_}"
            )
        signer = proposal.owner
        if isinstance(round_, Fast):
            allowed = signer in ownership.super_owners
        elif isinstance(round_, MultiLeader):
            allowed = ownership.open_multi_leader_rounds or ownership.is_owner(signer)
        else:
            allowed = signer == round_leader(ownership, block.chain_id, block.height, round_)
        if not allowed:
            raise NotRoundLeader(
                f"{signer} may not propose on chain {block.chain_id} in round {round_}"
            )
        earlier = self.pending_vote.get()
        if earlier is not None and round_order(earlier.round) == round_order(round_):
            if isinstance(earlier.value, Timeout) or earlier.value.executed_block.block != block:
                raise ConflictingProposal(
                    f"already voted in round {round_} at height {block.height} of chain"
                    f" {block.chain_id} for something else"
                )
            return earlier
        self._check_lock(proposal)
        return None

    def _check_lock(self, proposal: BlockProposal) -> None:
        lock = self.locked.get()
        if lock is None:
            return
        block = proposal.content.block
        if lock.executed_block.block == block:
            return
        carried = proposal.validated_block_certificate
        if (
            carried is not None
            and isinstance(carried.value, ValidatedBlock)
            and carried.executed_block.block == block
            and round_order(carried.round) > round_order(lock.round)
        ):
            return
        raise LockedBlockConflict(
            f"chain {block.chain_id} is locked on a block validated in round {lock.round};"
            " the proposal neither re-proposes it nor carries a later validated certificate"
        )

    def vote_for_proposal(
        self, proposal: BlockProposal, executed_block: ExecutedBlock, key_pair: KeyPair
    ) -> Vote:
        """Record ``proposal`` and sign this validator's vote for its executed block.

        Fast round: a vote to confirm. Other rounds: a vote to validate (phase one).
        """
        round_ = proposal.content.round
        value: ConfirmedBlock | ValidatedBlock = (
            ConfirmedBlock(executed_block)
            if isinstance(round_, Fast)
            else ValidatedBlock(executed_block)
        )
        vote = Vote.new(value, round_, key_pair)
        self.proposed.set(proposal)
        self.pending_vote.set(vote)
        return vote

    # ------------------------------------------------------------------- certificates

    def handle_validated_certificate(
        self, certificate: Certificate, key_pair: KeyPair | None
    ) -> Vote | None:
        """Lock on a (checked) validated-block certificate and vote to confirm its block.

        A certificate of an earlier round than the current lock is ignored (returns None).
        """
        if not isinstance(certificate.value, ValidatedBlock):
            raise WrongCertificateKind("expected a validated-block certificate")
        lock = self.locked.get()
        if lock is not None and round_order(lock.round) > round_order(certificate.round):
            return None
        self.locked.set(certificate)
        if round_order(certificate.round) > round_order(self.current_round.get()):
            self.current_round.set(certificate.round)  # catch up with the quorum
        if key_pair is None:
            return None
        vote = Vote.new(ConfirmedBlock(certificate.executed_block), certificate.round, key_pair)
        self.pending_vote.set(vote)
        return vote

    def handle_timeout_certificate(
        self, certificate: Certificate, ownership: ChainOwnership, local_time: Timestamp
    ) -> bool:
        """Move past the (checked) timeout certificate's round; return whether the round changed."""
        if not isinstance(certificate.value, Timeout):
            raise WrongCertificateKind("expected a timeout certificate")
        following = next_round(ownership, certificate.round)
        if round_order(following) <= round_order(self.effective_round(ownership)):
            return False
        self.current_round.set(following)
        self.proposed.set(None)
        self._set_deadline(ownership, following, local_time)
        return True

    # ----------------------------------------------------------------------- timeouts

    def vote_timeout(
        self,
        chain_id: ChainId,
        height: BlockHeight,
        epoch: Epoch,
        ownership: ChainOwnership,
        key_pair: KeyPair,
        local_time: Timestamp,
    ) -> Vote:
        """Sign a timeout for the current round; raise RoundNotTimedOut before its deadline."""
        deadline = self.round_timeout.get()
        current = self.effective_round(ownership)
        if deadline is None or local_time < deadline:
            raise RoundNotTimedOut(
                f"round {current} of chain {chain_id} at height {height} has not timed out"
                f" (deadline {deadline}, now {local_time})"
            )
        vote = Vote.new(Timeout(chain_id, height, epoch), current, key_pair)
        self.pending_vote.set(vote)
        return vote
