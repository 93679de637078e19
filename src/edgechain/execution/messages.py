"""Messages between chains: system messages, user messages, and how they are sent.

An operation (or a message) produces ``OutgoingMessage``s. Once the block is certified,
they are delivered to the recipients' inboxes; the recipient's owner accepts or rejects
them in a later block. The ``MessageKind`` decides what a rejection does: a *tracked*
message bounces back to its sender, a *simple* one is dropped, and *protected* and
*bouncing* ones cannot be rejected (a bounced credit must return to its sender, so that
no tokens are ever lost in transit; Linera drops rejected bounces instead).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgechain.base.identifiers import Account, AccountOwner, ApplicationId, ChainId
from edgechain.base.values import Amount, Epoch
from edgechain.execution.applications import ApplicationDescription
from edgechain.execution.committee import Committee
from edgechain.execution.description import ChildChain, InitialChainConfig


@dataclass(frozen=True, slots=True)
class Credit:
    """Add tokens to an account of the receiving chain (sent by a transfer to another chain)."""

    target: AccountOwner | None
    """The owner credited on the receiving chain, or None for the chain's own balance."""
    amount: Amount
    """How much."""
    source: AccountOwner | None
    """The sender's account on the sending chain: where the tokens go if the credit bounces."""


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Take tokens from an owner's account on the receiving chain and send them to ``recipient``."""

    owner: AccountOwner
    """Whose account is debited (must be the message's authenticated signer)."""
    amount: Amount
    """How much."""
    recipient: Account
    """Where the tokens go."""


@dataclass(frozen=True, slots=True)
class OpenChainMessage:
    """Initialise a chain that its parent just opened."""

    description: ChildChain
    """The new chain's description (its id is the hash of it)."""
    config: InitialChainConfig
    """Its ownership, epoch, committees, admin chain and balance."""


@dataclass(frozen=True, slots=True)
class CommitteeCreated:
    """(From the admin chain.) A new epoch and its committee."""

    epoch: Epoch
    """The new epoch."""
    committee: Committee
    """Its committee."""


@dataclass(frozen=True, slots=True)
class CommitteeRemoved:
    """(From the admin chain.) An old epoch's committee is no longer trusted."""

    epoch: Epoch
    """The removed epoch."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """(To the admin chain.) Announce new and removed committees to ``subscriber`` from now on."""

    subscriber: ChainId
    """The chain that wants the committee announcements."""


SystemMessage = (
    Credit | Withdraw | OpenChainMessage | CommitteeCreated | CommitteeRemoved | Subscribe
)
"""A message of the system application."""

SYSTEM_MESSAGE_TYPES: tuple[type, ...] = (
    Credit,
    Withdraw,
    OpenChainMessage,
    CommitteeCreated,
    CommitteeRemoved,
    Subscribe,
)
"""The classes of ``SystemMessage``, for isinstance checks."""


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A message of a user application, executed by its contract on the receiving chain."""

    application_id: ApplicationId
    """The application that executes it."""
    payload: bytes
    """The message, serialized as the application's ABI says."""
    description: ApplicationDescription | None = None
    """The application's description, so that a chain that does not know it yet can register it
    (checked: its hash must be ``application_id``)."""


Message = SystemMessage | UserMessage
"""Anything one chain may send another."""


class MessageKind(enum.Enum):
    """What happens when the recipient rejects a message."""

    def may_be_rejected(self) -> bool:
        """Whether a block may reject a bundle holding a message of this kind."""
        return self not in (MessageKind.PROTECTED, MessageKind.BOUNCING)

    SIMPLE = "Simple"
    """Dropped when rejected."""
    TRACKED = "Tracked"
    """Bounces back to the sender (as a ``BOUNCING`` message) when rejected."""
    BOUNCING = "Bouncing"
    """A tracked message on its way back to its sender; cannot be rejected."""
    PROTECTED = "Protected"
    """Cannot be rejected."""


class MessageAction(enum.Enum):
    """What the receiving block does with an incoming bundle."""

    ACCEPT = "Accept"
    """Execute its messages."""
    REJECT = "Reject"
    """Skip them (tracked messages bounce back; protected and bouncing ones may not be rejected)."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message produced by a transaction, with its destination and delivery terms."""

    destination: ChainId
    """The receiving chain."""
    authenticated_signer: AccountOwner | None
    """The owner on whose authority the message acts, if any (carried from the block)."""
    grant: Amount
    """Tokens granted to pay the message's fees on the receiving chain (zero for now)."""
    refund_grant_to: Account | None
    """Where the unused grant goes back to."""
    kind: MessageKind
    """What a rejection does."""
    message: Message
    """The message itself."""
