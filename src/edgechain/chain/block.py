"""Blocks and their execution outcome: incoming bundles, operations, outgoing messages, state hash.

A block lists the bundles of messages it takes from its inboxes (each accepted or
rejected as a whole) and the operations its owner asks for. Executing it yields a
``BlockExecutionOutcome``: the outgoing messages of each transaction (one transaction per
incoming bundle, then one per operation), and the hash of the execution state after it.
``ExecutedBlock`` is what validators sign; its hash is computed once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import Account, AccountOwner, BlobId, ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.execution.messages import Message, MessageAction, MessageKind, OutgoingMessage
from edgechain.execution.operations import Operation


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message as it sits in a bundle: delivered to one recipient, in order."""

    authenticated_signer: AccountOwner | None
    """The owner on whose authority the message acts, if any."""
    grant: Amount
    """Tokens granted to pay its fees on the receiving chain."""
    refund_grant_to: Account | None
    """Where the unused grant goes back to."""
    kind: MessageKind
    """What a rejection does."""
    index: int
    """Its position among the messages of its transaction (all recipients counted)."""
    message: Message
    """The message itself."""


@dataclass(frozen=True, slots=True)
class MessageBundle:
    """The messages one transaction of one certified block sends to one recipient."""

    height: BlockHeight
    """Height of the sending block."""
    timestamp: Timestamp
    """Timestamp of the sending block."""
    certificate_hash: CryptoHash
    """Hash of the confirmed block that sent it."""
    transaction_index: int
    """Which transaction of the sending block sent it."""
    messages: list[PostedMessage]
    """The messages, in the order they were sent."""


@dataclass(frozen=True, slots=True)
class IncomingBundle:
    """A bundle taken into a block from the inbox of ``origin``, and what is done with it."""

    origin: ChainId
    """The sending chain."""
    bundle: MessageBundle
    """The bundle, exactly as delivered."""
    action: MessageAction
    """Accept (execute the messages) or reject (bounce tracked ones)."""


@dataclass(frozen=True, slots=True)
class Block:
    """A proposed block of a chain: what its owner wants executed at the next height."""

    chain_id: ChainId
    """The chain the block extends."""
    epoch: Epoch
    """The epoch whose committee must certify it (the chain's current epoch)."""
    height: BlockHeight
    """The chain's next height."""
    timestamp: Timestamp
    """Not earlier than the previous block's, not later than the validators' clocks."""
    authenticated_signer: AccountOwner | None
    """The owner proposing it, on whose authority operations act."""
    previous_block_hash: CryptoHash | None
    """Hash of the chain's previous confirmed block (None for the first block)."""
    incoming_bundles: list[IncomingBundle]
    """Bundles taken from the inboxes, in order per origin."""
    operations: list[Operation]
    """Operations, executed after the bundles."""
    published_blob_ids: list[BlobId]
    """Blobs whose bytes travel beside the block and that it publishes."""

    @property
    def transaction_count(self) -> int:
        return len(self.incoming_bundles) + len(self.operations)


@dataclass(frozen=True, slots=True)
class Event:
    """An entry an application appends to one of the chain's event streams."""

    stream_name: bytes
    """Which stream (chosen by the application)."""
    index: int
    """Its position in the stream."""
    value: bytes
    """The event's bytes."""


@dataclass(frozen=True, slots=True)
class BlockExecutionOutcome:
    """What executing a block produced; every validator must compute exactly the same."""

    messages: list[list[OutgoingMessage]]
    """Outgoing messages of each transaction (bundles first, then operations)."""
    state_hash: CryptoHash
    """Hash of the chain's execution state after the block."""
    oracle_responses: list[list[bytes]]
    """Per transaction, the answers of oracles (e.g. service queries) its execution used."""
    events: list[list[Event]]
    """Per transaction, the events it emitted."""
    fees: Amount
    """Fees the block paid under the committee's policy."""
    fuel_used: int = 0
    """Contract fuel all its transactions used (deterministic: every validator must agree)."""


class CachedHash:
    """Base providing one slot, outside the dataclass fields, where a value's hash is kept.

    Protocol values are frozen and never mutated after construction, so the hash is
    computed on first use and reused (encoding a large block is the expensive part).
    """

    __slots__ = ("_cached_hash",)
    _cached_hash: CryptoHash

    def _hash_once(self, tag: str, value: object) -> CryptoHash:
        try:
            return self._cached_hash
        except AttributeError:
            computed = CryptoHash.of(tag, value)
            object.__setattr__(self, "_cached_hash", computed)
            return computed


@dataclass(frozen=True, slots=True)
class ExecutedBlock(CachedHash):
    """A block with its outcome: the thing that validators vote for."""

    block: Block
    """The block."""
    outcome: BlockExecutionOutcome
    """What executing it produced."""

    def hash(self) -> CryptoHash:
        """The hash of the block and its outcome (computed once; values are never mutated)."""
        return self._hash_once("ExecutedBlock", self)

    def recipients(self) -> list[ChainId]:
        """Every chain that this block sends at least one message to, sorted."""
        return sorted(
            {message.destination for messages in self.outcome.messages for message in messages}
        )

    def message_bundles_for(
        self, recipient: ChainId, certificate_hash: CryptoHash
    ) -> list[MessageBundle]:
        """The bundles this block delivers to ``recipient``, one per transaction that sends any."""
        bundles: list[MessageBundle] = []
        for transaction_index, messages in enumerate(self.outcome.messages):
            posted = [
                PostedMessage(
                    authenticated_signer=message.authenticated_signer,
                    grant=message.grant,
                    refund_grant_to=message.refund_grant_to,
                    kind=message.kind,
                    index=index,
                    message=message.message,
                )
                for index, message in enumerate(messages)
                if message.destination == recipient
            ]
            if posted:
                bundles.append(
                    MessageBundle(
                        height=self.block.height,
                        timestamp=self.block.timestamp,
                        certificate_hash=certificate_hash,
                        transaction_index=transaction_index,
                        messages=posted,
                    )
                )
        return bundles
