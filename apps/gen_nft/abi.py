"""The gen_nft application's types: NFTs whose content a pinned model generates from their prompt."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.sdk import Abi, Account, AccountOwner, ApplicationId, ChainId, CryptoHash

MAX_NAME_CHARACTERS = 200
"""Longest NFT name."""
MAX_PROMPT_CHARACTERS = 2000
"""Longest NFT prompt."""
MAX_CONTENT_TOKENS = 512
"""Most tokens an NFT's content may ask for."""
MILLI = 1000
"""Temperatures and top-p are recorded in thousandths: contracts hold no floats."""
TOKEN_ID_TAG = "GenNftTokenId"
"""The hash tag of token ids."""


@dataclass(frozen=True)
class PinnedModel:
    """Which model generates the content: an on-chain file (manifest) or a URL with its BLAKE3."""

    name: str
    """A human name for the model (shown on the model card)."""
    manifest_id: str | None
    """The root manifest blob of the model file published on-chain, as ``publish-model``
    prints it (``manifest:HEX``; text so that parameters can be given as JSON), or None."""
    url: str | None
    """Where to fetch the model file (allowed hosts only), or None."""
    content_hash: str | None
    """BLAKE3 of the model file, 64 hex digits: required with ``url``."""


@dataclass(frozen=True)
class ContentSettings:
    """How an NFT's content is generated (the seed is the token id)."""

    max_tokens: int
    """Most tokens of content."""
    temperature_milli: int
    """Temperature in thousandths (0: greedy)."""
    top_p_milli: int
    """Nucleus threshold in thousandths (1..1000)."""
    top_k: int
    """Keep the k most likely tokens (0 keeps all)."""


@dataclass(frozen=True)
class Nft:
    """One generative NFT: a prompt whose content everyone regenerates identically."""

    token_id: CryptoHash
    """Hash of (chain, application, prompt, minter, mint counter)."""
    owner: AccountOwner
    """Who owns it now."""
    name: str
    """Its name."""
    minter: AccountOwner
    """Who minted it."""
    prompt: str
    """What the model is asked."""
    settings: ContentSettings
    """How the content is generated."""


@dataclass(frozen=True)
class TokenIdSource:
    """What a token id hashes."""

    chain_id: ChainId
    """The chain that minted it."""
    application_id: ApplicationId
    """This application."""
    prompt: str
    """The prompt."""
    minter: AccountOwner
    """The minter."""
    minted_before: int
    """How many NFTs this application minted on that chain before."""


@dataclass(frozen=True)
class Mint:
    """Mint an NFT owned by its minter (who must sign)."""

    minter: AccountOwner
    """The minter and first owner."""
    name: str
    """The NFT's name."""
    prompt: str
    """The prompt."""
    settings: ContentSettings
    """How its content is generated."""


@dataclass(frozen=True)
class Transfer:
    """Give an NFT held on this chain to an account here or on another chain."""

    source_owner: AccountOwner
    """Its current owner (who must sign)."""
    token_id: CryptoHash
    """Which NFT."""
    target_account: Account
    """Who receives it (the account must name an owner)."""


@dataclass(frozen=True)
class Claim:
    """Ask the chain holding an NFT of ours to send it to an account (authenticated message)."""

    source_account: Account
    """Where the NFT is, and its owner (who must sign)."""
    token_id: CryptoHash
    """Which NFT."""
    target_account: Account
    """Who receives it."""


@dataclass(frozen=True)
class TransferMessage:
    """An NFT travelling to another chain (tracked: it bounces back if rejected)."""

    nft: Nft
    """The NFT, still naming its previous owner (who gets it back on a bounce)."""
    target_account: Account
    """Its new owner."""


@dataclass(frozen=True)
class ClaimMessage:
    """An owner's authenticated request to the chain holding their NFT."""

    source_account: Account
    """Where the NFT is, and its owner."""
    token_id: CryptoHash
    """Which NFT."""
    target_account: Account
    """Who receives it."""


@dataclass(frozen=True)
class GenNftParameters:
    """The model that generates every NFT's content."""

    model: PinnedModel
    """The pinned model."""


class GenNftAbi(Abi):
    """Mint / Transfer / Claim operations; Transfer / Claim messages; Mint answers the token id."""

    Parameters = GenNftParameters
    Operation = Mint | Transfer | Claim
    Message = TransferMessage | ClaimMessage
    Response = CryptoHash | None
