"""Cross-chain requests: how a certified block's messages reach the recipients' inboxes.

After a validator applies a confirmed block, it sends one ``UpdateRecipient`` per recipient
whose outbox is not empty: the bundles of *every* block the recipient has not confirmed yet,
in order, naming the last confirmed block as their predecessor. The worker that holds the
recipient checks each bundle against the sender's certificate in its own storage (signed by
a committee it trusts, and sending exactly those bundles), appends the new ones to the
inbox (refusing a gap), and answers ``ConfirmUpdatedRecipient`` so that the sender drops
those heights from its outbox. Until then the sender delivers them again whenever it
handles a certificate of that chain (a new one, or one it already applied) and, on an
in-process node, a chain-info query: a lost delivery is repaired, never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.identifiers import ChainId
from edgechain.base.values import BlockHeight
from edgechain.chain.block import MessageBundle


@dataclass(frozen=True, slots=True)
class UpdateRecipient:
    """Bundles for ``recipient``'s inbox from ``sender``, in the order they were sent."""

    sender: ChainId
    """The sending chain."""
    recipient: ChainId
    """The receiving chain."""
    previous_height: BlockHeight | None
    """The sender's block with messages for ``recipient`` just before the first bundle's
    (the last one the recipient confirmed); None if there is none."""
    bundles: list[MessageBundle]
    """The bundles, ascending by (height, transaction index), whole blocks at a time."""


@dataclass(frozen=True, slots=True)
class ConfirmUpdatedRecipient:
    """The recipient has every bundle ``sender`` sent it up to ``latest_height``."""

    sender: ChainId
    """The sending chain (whose outbox is trimmed)."""
    recipient: ChainId
    """The receiving chain."""
    latest_height: BlockHeight
    """The height of the last sending block received."""


CrossChainRequest = UpdateRecipient | ConfirmUpdatedRecipient
"""A request from one chain's worker to another's."""
