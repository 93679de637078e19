"""Inboxes (one per origin chain) and outboxes (one per recipient chain).

An inbox receives bundles in the order their origin sent them and gives them up in the
same order: a block may accept or reject a bundle, but never skip one or reorder them.
A confirmed block may take a bundle that this node has not received yet (the
certificate proves it exists); such a bundle is remembered in ``removed_bundles`` and
must match when it arrives. A *proposal* may only take bundles already received.

A delivery names the origin's previous block with messages for this chain
(``previous_height``); a bundle is received only if that previous block's bundles were,
so a lost delivery leaves no gap: later bundles are refused (``MissingEarlierBundles``)
until the sender delivers again, in order.

An outbox records the heights of this chain's blocks that have messages for one
recipient, until the recipient's inbox confirms it received them; the sender delivers
them again, in order, until then.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.values import BlockHeight
from edgechain.chain.block import MessageBundle
from edgechain.chain.errors import (
    BundleOutOfOrder,
    IncorrectBundle,
    MissingCrossChainUpdate,
    MissingEarlierBundles,
)
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A position in an origin's stream of bundles: (sending height, transaction index)."""

    height: BlockHeight
    """The sending block's height."""
    index: int
    """The transaction index within that block."""

    @classmethod
    def of(cls, bundle: MessageBundle) -> Cursor:
        return cls(bundle.height, bundle.transaction_index)

    def following(self) -> Cursor:
        """The smallest cursor after this one."""
        return Cursor(self.height, self.index + 1)

    def __str__(self) -> str:
        return f"{self.height}.{self.index}"


START = Cursor(BlockHeight(0), 0)


class InboxStateView(CompositeView):
    """The bundles received from one origin chain and not yet taken by a block."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.next_cursor_to_add = self.register("next_cursor_to_add", Cursor, START)
        """Bundles before this cursor have been received."""
        self.next_cursor_to_remove = self.register("next_cursor_to_remove", Cursor, START)
        """Bundles before this cursor have been taken by blocks."""
        self.added_bundles = self.queue("added_bundles", MessageBundle)
        """Received, not yet taken (ascending)."""
        self.removed_bundles = self.queue("removed_bundles", MessageBundle)
        """Taken by confirmed blocks before this node received them (ascending)."""

    def last_received_height(self) -> BlockHeight | None:
        """The height of the origin's latest block whose bundles were received (None: none yet)."""
        next_to_add = self.next_cursor_to_add.get()
        return None if next_to_add == START else next_to_add.height

    def add_bundles(
        self, bundles: list[MessageBundle], previous_height: BlockHeight | None
    ) -> list[MessageBundle]:
        """Receive ``bundles`` (ascending), which the origin sent after its block at
        ``previous_height`` (None: its first block with messages for this chain).

        Bundles received before are skipped (deliveries repeat). Raise
        ``MissingEarlierBundles`` if a new bundle's predecessor has not been received (a
        gap), ``IncorrectBundle`` if one differs from what a confirmed block already took;
        either way nothing changes. Return the bundles that were new.
        """
        new_bundles = select_new_bundles(
            self.next_cursor_to_add.get(), self.removed_bundles.elements(), bundles, previous_height
        )
        for bundle in new_bundles:
            if self.removed_bundles.front() is not None:
                self.removed_bundles.delete_front()
            else:
                self.added_bundles.push_back(bundle)
        if new_bundles:
            self.next_cursor_to_add.set(Cursor.of(new_bundles[-1]).following())
        return new_bundles

    def check_removals(self, bundles: list[MessageBundle], allow_unreceived: bool) -> None:
        """Raise an InboxError unless ``bundles`` can be taken, in this order; change nothing."""
        check_removals(
            self.added_bundles.elements(),
            self.next_cursor_to_remove.get(),
            self.next_cursor_to_add.get(),
            bundles,
            allow_unreceived,
        )

    def remove_bundle(self, bundle: MessageBundle, allow_unreceived: bool) -> None:
        """Take ``bundle`` (the next one from this origin) into a block."""
        self.check_removals([bundle], allow_unreceived)
        if self.added_bundles.front() is not None:
            self.added_bundles.delete_front()
        else:
            self.removed_bundles.push_back(bundle)
        self.next_cursor_to_remove.set(Cursor.of(bundle).following())

    def is_empty(self) -> bool:
        return self.added_bundles.count() == 0 and self.removed_bundles.count() == 0


def select_new_bundles(
    next_to_add: Cursor,
    taken_early: list[MessageBundle],
    bundles: list[MessageBundle],
    previous_height: BlockHeight | None,
) -> list[MessageBundle]:
    """The bundles of a delivery that an inbox has not received yet; raise an InboxError if
    one would leave a gap or differs from what a confirmed block took (``taken_early``).
    An absent inbox is ``(START, [])``. Changes nothing."""
    last_received = None if next_to_add == START else next_to_add.height
    predecessor = previous_height
    new_bundles: list[MessageBundle] = []
    for bundle in bundles:
        cursor = Cursor.of(bundle)
        if cursor >= next_to_add:
            if predecessor != last_received:
                raise MissingEarlierBundles(
                    f"bundle {cursor} follows the origin's block at height {predecessor},"
                    f" but the last block received from it is at {last_received}"
                )
            position = len(new_bundles)
            if position < len(taken_early) and taken_early[position] != bundle:
                raise IncorrectBundle(
                    f"bundle {cursor} differs from the bundle"
                    f" {Cursor.of(taken_early[position])} that a confirmed block already took"
                )
            new_bundles.append(bundle)
            next_to_add = cursor.following()
            last_received = bundle.height
        predecessor = bundle.height
    return new_bundles


def check_removals(
    pending: list[MessageBundle],
    next_to_remove: Cursor,
    next_to_add: Cursor,
    bundles: list[MessageBundle],
    allow_unreceived: bool,
) -> None:
    """Raise an InboxError unless ``bundles`` can be taken in order from an inbox whose
    received, untaken bundles are ``pending``; an absent inbox is ``([], START, START)``."""
    position = 0
    for bundle in bundles:
        cursor = Cursor.of(bundle)
        if cursor < next_to_remove:
            raise BundleOutOfOrder(
                f"bundle {cursor} is taken again or out of order (next is {next_to_remove} or later)"
            )
        if position < len(pending):
            _check_is_next(pending[position], bundle)
            position += 1
        elif not allow_unreceived:
            raise MissingCrossChainUpdate(f"bundle {cursor} has not been received yet")
        elif cursor < next_to_add:
            raise IncorrectBundle(f"bundle {cursor} was not received, yet later ones were")
        next_to_remove = cursor.following()


def _check_is_next(pending: MessageBundle, bundle: MessageBundle) -> None:
    if pending == bundle:
        return
    pending_cursor, cursor = Cursor.of(pending), Cursor.of(bundle)
    if pending_cursor < cursor:
        raise BundleOutOfOrder(
            f"bundle {cursor} is taken while the earlier {pending_cursor} is pending"
        )
    raise IncorrectBundle(f"bundle {cursor} differs from the received bundle {pending_cursor}")


class OutboxStateView(CompositeView):
    """Heights of this chain's blocks with messages for one recipient, not yet acknowledged."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.next_height_to_schedule = self.register(
            "next_height_to_schedule", BlockHeight, BlockHeight(0)
        )
        """Heights below this one have been scheduled already."""
        self.heights = self.queue("queue", BlockHeight)
        """Heights whose messages the recipient has not confirmed receiving (ascending)."""

    def schedule_message(self, height: BlockHeight) -> bool:
        """Record that the block at ``height`` has messages for this recipient."""
        if height < self.next_height_to_schedule.get():
            return False
        self.heights.push_back(height)
        self.next_height_to_schedule.set(height.next())
        return True

    def mark_messages_as_received(self, height: BlockHeight) -> list[BlockHeight]:
        """The recipient received everything up to ``height``: drop those heights; return them."""
        dropped: list[BlockHeight] = []
        while True:
            front = self.heights.front()
            if front is None or front > height:
                break
            self.heights.delete_front()
            dropped.append(front)
        return dropped

    def pending_heights(self) -> list[BlockHeight]:
        return self.heights.elements()
