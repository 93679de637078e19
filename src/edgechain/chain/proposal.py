"""Block proposals: a block and a round, signed by one of the chain's owners."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import KeyPair, PublicKey, Signature
from edgechain.base.errors import InvalidSignature
from edgechain.base.identifiers import AccountOwner
from edgechain.chain.block import Block
from edgechain.chain.certificate import Certificate
from edgechain.chain.errors import InvalidProposal
from edgechain.chain.rounds import Round

PROPOSAL_TAG = "ProposalContent"
"""The tag under which owners sign proposals."""


@dataclass(frozen=True, slots=True)
class ProposalContent:
    """What an owner signs when proposing."""

    block: Block
    """The proposed block."""
    round: Round
    """The round it is proposed in."""


@dataclass(frozen=True, slots=True)
class BlockProposal:
    """A block proposed by an owner, with the owner's signature."""

    content: ProposalContent
    """The block and round."""
    public_key: PublicKey
    """The proposing owner's key."""
    signature: Signature
    """The owner's signature over ``content``."""
    validated_block_certificate: Certificate | None = None
    """In a later round, the certificate of a validated block this proposal re-proposes."""

    @classmethod
    def new(
        cls,
        content: ProposalContent,
        key_pair: KeyPair,
        validated_block_certificate: Certificate | None = None,
    ) -> BlockProposal:
        signature = key_pair.sign(PROPOSAL_TAG, content)
        return cls(content, key_pair.public_key, signature, validated_block_certificate)

    @property
    def owner(self) -> AccountOwner:
        """The account owner of the proposing key."""
        return AccountOwner.from_public_key(self.public_key)

    def check_signature(self) -> None:
        """Raise InvalidProposal unless the signature verifies and the signer is the block's signer."""
        try:
            self.public_key.verify(self.signature, PROPOSAL_TAG, self.content)
        except InvalidSignature as exc:
            raise InvalidProposal(
                f"proposal for chain {self.content.block.chain_id} at height"
                f" {self.content.block.height} has a bad signature"
            ) from exc
        if self.content.block.authenticated_signer != self.owner:
            raise InvalidProposal(
                f"proposal signed by {self.owner} for a block whose signer is"
                f" {self.content.block.authenticated_signer}"
            )
