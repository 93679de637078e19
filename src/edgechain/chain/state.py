"""`ChainStateView`: everything a node keeps about one chain, in one root view.

execution_state   the applications' state (its hash is the block's state hash)
tip_state         hash and next height of the chain's latest confirmed block
inboxes           per origin chain: received bundles not yet taken
outboxes          per recipient chain: heights with messages not yet acknowledged
confirmed_heights per recipient chain: the latest height it acknowledged
manager           consensus rounds: the pending proposal, the locked block, timeouts
confirmed_log     the hashes of the confirmed blocks, by height
"""

from __future__ import annotations

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import ChainId
from edgechain.base.values import BlockHeight, Timestamp
from edgechain.chain.block import ExecutedBlock, IncomingBundle, MessageBundle
from edgechain.chain.errors import OutcomeMismatch
from edgechain.chain.execution import execute_block
from edgechain.chain.inbox import START, InboxStateView, OutboxStateView, select_new_bundles
from edgechain.chain.manager import ChainManager
from edgechain.chain.tip import GENESIS_TIP, ChainTipState
from edgechain.execution.blobs import BlobChecker
from edgechain.execution.description import ChainDescription, InitialChainConfig
from edgechain.execution.messages import MessageAction, OpenChainMessage
from edgechain.execution.state import ExecutionStateView
from edgechain.views.composite_view import RootView
from edgechain.views.context import ViewContext


class ChainStateView(RootView):
    """The state of one chain as a node keeps it."""

    def __init__(self, context: ViewContext, chain_id: ChainId) -> None:
        super().__init__(context)
        self.chain_id = chain_id
        """The chain this state belongs to (not stored: the caller's key prefix says it)."""
        self.execution_state = self.subview("execution_state", ExecutionStateView)
        """The applications' state; ``execution_state.hash()`` is the state hash."""
        self.tip_state = self.register("tip_state", ChainTipState, GENESIS_TIP)
        """The latest confirmed block."""
        self.inboxes = self.collection("inboxes", ChainId, InboxStateView)
        """Per origin chain, the bundles received and not yet taken."""
        self.outboxes = self.collection("outboxes", ChainId, OutboxStateView)
        """Per recipient chain, the heights with messages not yet acknowledged."""
        self.confirmed_heights = self.map("confirmed_heights", ChainId, BlockHeight)
        """Per recipient chain, the latest height it acknowledged: what the next delivery to
        it follows (kept apart from ``outboxes``, which hold only recipients still owed)."""
        self.manager = self.subview("manager", ChainManager)
        """Consensus round state."""
        self.confirmed_log = self.log("confirmed_log", CryptoHash)
        """Hashes of the confirmed blocks, by height."""

    def initialize(self, description: ChainDescription, config: InitialChainConfig) -> None:
        """Open a chain at genesis (root chains); child chains are opened by a message."""
        self.execution_state.system.initialize(description, config)

    def is_active(self) -> bool:
        return self.execution_state.system.is_active()

    def state_hash(self) -> CryptoHash:
        """The hash a block's outcome carries: that of the execution state."""
        return self.execution_state.hash()

    def next_block_height(self) -> BlockHeight:
        return self.tip_state.get().next_block_height

    def receive_bundles(
        self,
        origin: ChainId,
        bundles: list[MessageBundle],
        previous_height: BlockHeight | None,
        local_time: Timestamp | None = None,
    ) -> int:
        """Add bundles delivered from ``origin`` to its inbox; return how many were new.

        ``previous_height`` is the origin's block with messages for this chain just before
        the first bundle (None: there is none). A delivery that would leave a gap raises
        ``MissingEarlierBundles`` and changes nothing (see `InboxStateView.add_bundles`).
        A delivery that brings this (not yet active) chain's opening message starts the
        clock of its first round at ``local_time``, so that a stalled round can time out.
        """
        if self.inboxes.try_load_entry(origin) is None:
            # Validate before creating the inbox: a refused delivery leaves nothing staged.
            select_new_bundles(START, [], bundles, previous_height)
        inbox = self.inboxes.load_entry(origin)
        new_bundles = inbox.add_bundles(bundles, previous_height)
        if local_time is not None and not self.is_active():
            for bundle in new_bundles:
                opening = self._opening_in(origin, bundle)
                if opening is not None:
                    self.manager.ensure_deadline(opening.config.ownership, local_time)
        return len(new_bundles)

    def _opening_in(self, origin: ChainId, bundle: MessageBundle) -> OpenChainMessage | None:
        """The message opening this chain, if ``bundle`` from ``origin`` begins with it."""
        if not bundle.messages:
            return None
        message = bundle.messages[0].message
        if (
            isinstance(message, OpenChainMessage)
            and message.description.chain_id() == self.chain_id
            and message.description.parent == origin
        ):
            return message
        return None

    def received_opening(self) -> OpenChainMessage | None:
        """For a chain not yet active: its parent's ``OpenChain`` message, if received and
        not yet taken (its ownership and epoch govern the rounds of height 0)."""
        if self.is_active():
            return None
        for origin in self.inboxes.indices():
            inbox = self.inboxes.try_load_entry(origin)
            first = inbox.added_bundles.front() if inbox is not None else None
            opening = self._opening_in(origin, first) if first is not None else None
            if opening is not None:
                return opening
        return None

    def mark_messages_as_received(
        self, recipient: ChainId, height: BlockHeight
    ) -> list[BlockHeight]:
        """``recipient`` acknowledged our messages up to ``height``: drop them from its outbox.

        The last acknowledged height is remembered: the next delivery to ``recipient`` names
        it as its predecessor.
        """
        outbox = self.outboxes.try_load_entry(recipient)
        if outbox is None:
            return []
        dropped = outbox.mark_messages_as_received(height)
        if dropped:
            self.confirmed_heights.insert(recipient, dropped[-1])
        if not outbox.pending_heights():
            self.outboxes.remove_entry(recipient)
        return dropped

    def unconfirmed_outboxes(self) -> list[tuple[ChainId, BlockHeight | None, list[BlockHeight]]]:
        """Per recipient with unconfirmed messages (sorted): the last confirmed height and the
        heights still to deliver, ascending. A sender delivers these again until confirmed."""
        unconfirmed: list[tuple[ChainId, BlockHeight | None, list[BlockHeight]]] = []
        for recipient in self.outboxes.indices():
            outbox = self.outboxes.try_load_entry(recipient)
            if outbox is None:
                continue
            heights = outbox.pending_heights()
            if heights:
                unconfirmed.append((recipient, self.confirmed_heights.get(recipient), heights))
        return unconfirmed

    def pending_incoming_bundles(
        self, action: MessageAction = MessageAction.ACCEPT
    ) -> list[IncomingBundle]:
        """Every received bundle not yet taken, ready for the next block, with ``action``.

        Bundles of one origin stay in order; origins follow their ids, except that the
        bundle opening this chain (its parent's ``OpenChain`` message) comes first, as a
        child chain's first block must begin with it. Bundles holding protected or bouncing
        messages are always accepted (they may not be rejected).
        """
        incoming: list[IncomingBundle] = []
        for origin in self.inboxes.indices():
            inbox = self.inboxes.try_load_entry(origin)
            if inbox is None:
                continue
            for bundle in inbox.added_bundles.elements():
                must_accept = any(not posted.kind.may_be_rejected() for posted in bundle.messages)
                incoming.append(
                    IncomingBundle(origin, bundle, MessageAction.ACCEPT if must_accept else action)
                )
        opening = self.received_opening()
        if opening is not None:
            parent = opening.description.parent
            from_parent = [candidate for candidate in incoming if candidate.origin == parent]
            others = [candidate for candidate in incoming if candidate.origin != parent]
            incoming = from_parent + others
        return incoming

    def apply_confirmed_block(
        self,
        executed_block: ExecutedBlock,
        blob_checker: BlobChecker,
        local_time: Timestamp | None = None,
    ) -> None:
        """Execute a certified block and check that it gives the certified outcome.

        Bundles the block takes may not have arrived here yet (the certificate vouches for
        them). On a different outcome, every change is rolled back and OutcomeMismatch raised.
        The caller saves the state afterwards.
        """
        outcome = execute_block(
            self,
            executed_block.block,
            local_time,
            blob_checker,
            require_received_bundles=False,
        )
        if outcome != executed_block.outcome:
            self.rollback()
            raise OutcomeMismatch(
                f"block {executed_block.block.height} of chain {self.chain_id}: re-execution gives"
                f" state hash {outcome.state_hash}, the certificate says"
                f" {executed_block.outcome.state_hash}"
                + (
                    ""
                    if outcome.messages == executed_block.outcome.messages
                    else ", and other messages"
                )
            )
