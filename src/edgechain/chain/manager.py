"""`ChainManager`: the consensus state of one chain at its next height.

It remembers what this validator proposed, voted for and locked in the current round,
so that it never signs two different blocks at the same height and round, and so that
multi-owner chains can go through multi-leader, then single-leader rounds, with a
validated-then-confirmed two-phase commit. It is reset when a block is confirmed.
"""

from __future__ import annotations

from edgechain.chain.certificate import Certificate, Vote
from edgechain.chain.proposal import BlockProposal
from edgechain.chain.rounds import Fast, Round
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext
from edgechain.views.register_view import RegisterView


class ChainManager(CompositeView):
    """Round state of one chain: the proposal, the locked block and this validator's vote."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.current_round: RegisterView[Round] = self.register("current_round", Round, Fast())
        """The round this validator is in."""
        self.proposed: RegisterView[BlockProposal | None] = self.register(
            "proposed", BlockProposal | None, None
        )
        """The latest proposal this validator accepted at the next height."""
        self.locked: RegisterView[Certificate | None] = self.register(
            "locked", Certificate | None, None
        )
        """The latest validated-block certificate at the next height (a multi-owner lock)."""
        self.pending_vote: RegisterView[Vote | None] = self.register(
            "pending_vote", Vote | None, None
        )
        """This validator's latest vote at the next height."""

    def reset(self) -> None:
        """Forget the round state (a block was confirmed: the next height starts afresh)."""
        self.current_round.set(Fast())
        self.proposed.set(None)
        self.locked.set(None)
        self.pending_vote.set(None)
