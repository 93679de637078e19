"""What validators sign and what a quorum of signatures proves: values, votes, certificates.

A validator signs a ``VoteContent`` (the value's hash and the round) with its key. Votes
worth a quorum of the committee's weight form a ``Certificate``. A ``ValidatedBlock``
certificate proves a block is valid (multi-owner rounds lock it); a ``ConfirmedBlock``
certificate makes it final; a ``Timeout`` certificate moves a multi-owner chain to its next
round. The kinds hash under different tags, so a signature for one is never a signature
for another.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey, Signature
from edgechain.base.errors import InvalidSignature
from edgechain.base.identifiers import ChainId
from edgechain.base.values import BlockHeight, Epoch
from edgechain.chain.block import CachedHash, ExecutedBlock
from edgechain.chain.errors import (
    DuplicateSigner,
    InsufficientQuorum,
    InvalidCertificateSignature,
    InvalidVote,
    SignerNotInCommittee,
    WrongCertificateKind,
)
from edgechain.chain.rounds import Round
from edgechain.execution.committee import Committee

VOTE_TAG = "VoteContent"
"""The tag under which validators sign votes."""


@dataclass(frozen=True, slots=True)
class ValidatedBlock(CachedHash):
    """A block that a quorum found valid in a multi-owner round (first phase)."""

    executed_block: ExecutedBlock
    """The block and its outcome."""

    def hash(self) -> CryptoHash:
        return self._hash_once("ValidatedBlock", self.executed_block.hash())


@dataclass(frozen=True, slots=True)
class ConfirmedBlock(CachedHash):
    """A block that a quorum confirmed: final. Its hash is the chain's block hash."""

    executed_block: ExecutedBlock
    """The block and its outcome."""

    def hash(self) -> CryptoHash:
        return self._hash_once("ConfirmedBlock", self.executed_block.hash())


@dataclass(frozen=True, slots=True)
class Timeout(CachedHash):
    """A quorum agreeing that a round of a multi-owner chain passed without a confirmed block."""

    chain_id: ChainId
    """The chain."""
    height: BlockHeight
    """The height that saw no block in time."""
    epoch: Epoch
    """The epoch of the committee that signs."""

    def hash(self) -> CryptoHash:
        return self._hash_once("Timeout", self)


CertificateValue = ValidatedBlock | ConfirmedBlock | Timeout
"""What a certificate certifies."""


@dataclass(frozen=True, slots=True)
class VoteContent:
    """The exact thing a validator signs."""

    value_hash: CryptoHash
    """Hash of the value voted for."""
    round: Round
    """The round of the vote."""


@dataclass(frozen=True, slots=True)
class Vote:
    """One validator's signature on a value in a round."""

    value: CertificateValue
    """The value voted for."""
    round: Round
    """The round."""
    validator: PublicKey
    """The voting validator."""
    signature: Signature
    """Its signature over ``VoteContent(value.hash(), round)``."""

    @classmethod
    def new(cls, value: CertificateValue, round_: Round, key_pair: KeyPair) -> Vote:
        signature = key_pair.sign(VOTE_TAG, VoteContent(value.hash(), round_))
        return cls(value, round_, key_pair.public_key, signature)

    @property
    def value_hash(self) -> CryptoHash:
        return self.value.hash()

    def check(self) -> None:
        """Raise InvalidVote unless the signature verifies over this value and round."""
        try:
            self.validator.verify(
                self.signature, VOTE_TAG, VoteContent(self.value.hash(), self.round)
            )
        except InvalidSignature as exc:
            raise InvalidVote(
                f"vote by {self.validator} does not verify for value {self.value.hash()}"
            ) from exc


@dataclass(frozen=True, slots=True)
class Certificate:
    """A value with signatures of validators whose weight reaches the committee's quorum."""

    value: CertificateValue
    """The certified value."""
    round: Round
    """The round the votes were cast in."""
    signatures: list[tuple[PublicKey, Signature]]
    """Each signer's key and signature, sorted by key."""

    @classmethod
    def from_votes(cls, value: CertificateValue, round_: Round, votes: list[Vote]) -> Certificate:
        """Assemble a certificate from votes for ``value`` in ``round_`` (not checked here)."""
        return cls(value, round_, sorted((vote.validator, vote.signature) for vote in votes))

    def hash(self) -> CryptoHash:
        """The certified value's hash (a certificate is stored and found under it)."""
        return self.value.hash()

    @property
    def executed_block(self) -> ExecutedBlock:
        """The certified block (raise WrongCertificateKind for a timeout certificate)."""
        if isinstance(self.value, Timeout):
            raise WrongCertificateKind(
                f"timeout certificate for chain {self.value.chain_id} at height"
                f" {self.value.height} carries no block"
            )
        return self.value.executed_block

    def check(self, committee: Committee) -> None:
        """Raise a ChainError leaf unless a quorum of ``committee`` signed this value and round.

        Every signature must verify, no signer may appear twice, every signer must be in the
        committee, and the signers' weights must add up to the quorum threshold.
        """
        content = VoteContent(self.value.hash(), self.round)
        seen: set[PublicKey] = set()
        weight = 0
        for public_key, signature in self.signatures:
            if public_key in seen:
                raise DuplicateSigner(
                    f"validator {public_key} signed certificate {content.value_hash} twice"
                )
            seen.add(public_key)
            signer_weight = committee.weight(public_key)
            if signer_weight == 0:
                raise SignerNotInCommittee(
                    f"certificate {content.value_hash} is signed by {public_key}, not in the committee"
                )
            try:
                public_key.verify(signature, VOTE_TAG, content)
            except InvalidSignature as exc:
                raise InvalidCertificateSignature(
                    f"signature of {public_key} does not verify for certificate {content.value_hash}"
                ) from exc
            weight += signer_weight
        if weight < committee.quorum_threshold:
            raise InsufficientQuorum(
                f"certificate {content.value_hash} has signatures of weight {weight},"
                f" below the quorum {committee.quorum_threshold}"
            )
