"""What a validator tells about a chain: the query, the chain info, and the (signed) response.

A response may carry the validator's vote for a proposal. Responses are signed by the
validator when it has a key, so a client can tell who said what; the vote inside is
checked on its own (`Vote.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey, Signature
from edgechain.base.errors import InvalidSignature
from edgechain.base.identifiers import ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import IncomingBundle
from edgechain.chain.certificate import Certificate, Vote
from edgechain.chain.rounds import Round
from edgechain.core.errors import WorkerError
from edgechain.execution.ownership import ChainOwnership

CHAIN_INFO_TAG = "ChainInfo"
"""The tag under which validators sign chain info."""


@dataclass(frozen=True, slots=True)
class ChainInfoQuery:
    """A request for a chain's info, with optional extra parts."""

    chain_id: ChainId
    """The chain asked about."""
    request_pending_message_bundles: bool = False
    """Whether to list the bundles waiting in the chain's inboxes (as accepting bundles)."""
    request_sent_certificate_hashes_from: BlockHeight | None = None
    """If set, list the hashes of the chain's confirmed blocks from this height on."""
    request_sent_certificate_hashes_limit: int = 1000
    """At most this many hashes."""
    request_timeout_vote: bool = False
    """Ask the validator to sign a timeout for the chain's current round (if its deadline passed)."""


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """A validator's view of one chain."""

    chain_id: ChainId
    """The chain."""
    is_active: bool
    """Whether the chain has been created on this validator (and not closed)."""
    epoch: Epoch | None
    """The chain's current epoch, if active."""
    next_block_height: BlockHeight
    """The height of the next block."""
    block_hash: CryptoHash | None
    """The hash of the chain's last confirmed block, if any."""
    timestamp: Timestamp
    """The timestamp of the last confirmed block (or of the chain's creation)."""
    chain_balance: Amount
    """The chain's own balance."""
    state_hash: CryptoHash
    """The hash of the chain's execution state (what block outcomes report)."""
    ownership: ChainOwnership | None = None
    """Who may propose, if the chain is active."""
    current_round: Round | None = None
    """The round the chain's next block is proposed in, on this validator."""
    round_timeout: Timestamp | None = None
    """When this validator will sign a timeout for the current round (None: never)."""
    locked: Certificate | None = None
    """The validated-block certificate this validator is locked on at the next height."""
    requested_pending_message_bundles: list[IncomingBundle] = field(default_factory=list)
    """The bundles waiting in the inboxes, if asked for, in the order they may be taken."""
    requested_sent_certificate_hashes: list[CryptoHash] = field(default_factory=list)
    """Hashes of confirmed blocks from the requested height on, if asked for."""


@dataclass(frozen=True, slots=True)
class ChainInfoResponse:
    """A validator's answer: the chain info, its vote if any, and its signature over the info."""

    info: ChainInfo
    """The chain's info after the request was handled."""
    vote: Vote | None = None
    """The validator's vote, when the request was a proposal it accepted."""
    validator: PublicKey | None = None
    """The answering validator (None for a client's local node)."""
    signature: Signature | None = None
    """The validator's signature over ``info``."""

    @classmethod
    def new(
        cls, info: ChainInfo, key_pair: KeyPair | None, vote: Vote | None = None
    ) -> ChainInfoResponse:
        if key_pair is None:
            return cls(info, vote)
        return cls(info, vote, key_pair.public_key, key_pair.sign(CHAIN_INFO_TAG, info))

    def check(self, validator: PublicKey) -> None:
        """Raise WorkerError unless ``validator`` signed this info."""
        if self.validator != validator or self.signature is None:
            raise WorkerError(f"chain info response is not signed by validator {validator}")
        try:
            validator.verify(self.signature, CHAIN_INFO_TAG, self.info)
        except InvalidSignature as exc:
            raise WorkerError(f"chain info signature of {validator} does not verify") from exc
