"""Cross-chain requests: how a certified block's messages reach the recipients' inboxes.

After a validator applies a confirmed block, it sends ``UpdateRecipient`` (the bundles the
block, and any earlier unconfirmed blocks, sent to one recipient) to the worker that holds
the recipient; that worker appends them to the recipient's inbox from the sender and
answers ``ConfirmUpdatedRecipient`` so that the sender can drop them from its outbox.
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
    bundles: list[MessageBundle]
    """The bundles, ascending by (height, transaction index)."""


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
