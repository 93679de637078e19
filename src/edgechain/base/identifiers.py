"""Identifiers: chains, owners, accounts, blobs, modules and applications.

Each is its own type wrapping a `CryptoHash`, so that raw bytes never cross a layer
boundary as an id. Text forms are lowercase hex, as Linera prints them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.errors import CryptoError
from edgechain.base.values import BlockHeight


@dataclass(frozen=True, slots=True, order=True)
class ChainId:
    """The id of a microchain: the hash of the description that created it."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    hash: CryptoHash
    """Hash of the chain's description."""

    @classmethod
    def root(cls, index: int) -> ChainId:
        """The id of the ``index``-th root chain created at genesis."""
        return cls(CryptoHash.of("ChainDescription", ["Root", index]))

    @classmethod
    def child(cls, parent: ChainId, height: BlockHeight, index: int) -> ChainId:
        """The id of a chain opened by ``parent``'s block at ``height`` (its ``index``-th)."""
        return cls(CryptoHash.of("ChainDescription", ["Child", parent, height, index]))

    @classmethod
    def from_hex(cls, text: str) -> ChainId:
        return cls(CryptoHash.from_hex(text))

    def __str__(self) -> str:
        return self.hash.hex()

    def __repr__(self) -> str:
        return f"ChainId({self.hash.hex()[:12]}…)"


@dataclass(frozen=True, slots=True, order=True)
class AccountOwner:
    """Who may own tokens or chains: a user (hash of a public key) or an application."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    hash: CryptoHash
    """Hash of the owner's public key, or an application id's hash."""

    @classmethod
    def from_public_key(cls, public_key: PublicKey) -> AccountOwner:
        return cls(CryptoHash.of("PublicKey", public_key))

    @classmethod
    def from_application(cls, application_id: ApplicationId) -> AccountOwner:
        return cls(application_id.hash)

    @classmethod
    def from_hex(cls, text: str) -> AccountOwner:
        return cls(CryptoHash.from_hex(text))

    def __str__(self) -> str:
        return self.hash.hex()

    def __repr__(self) -> str:
        return f"AccountOwner({self.hash.hex()[:12]}…)"


@dataclass(frozen=True, slots=True, order=True)
class Account:
    """An account: a chain and, optionally, an owner on it (None is the chain's own balance)."""

    chain_id: ChainId
    """The chain holding the account."""
    owner: AccountOwner | None = None
    """The owner, or None for the chain's own balance."""

    def __str__(self) -> str:
        return f"{self.chain_id}" if self.owner is None else f"{self.owner}@{self.chain_id}"

    @classmethod
    def parse(cls, text: str) -> Account:
        """Parse ``CHAIN`` or ``OWNER@CHAIN``."""
        owner_text, _, chain_text = text.rpartition("@")
        try:
            owner = AccountOwner.from_hex(owner_text) if owner_text else None
            return cls(ChainId.from_hex(chain_text), owner)
        except CryptoError as exc:
            raise CryptoError(f"not an account (CHAIN or OWNER@CHAIN): {text!r}") from exc


class BlobType(enum.IntEnum):
    """What a blob holds."""

    DATA = 0
    CONTRACT_BYTECODE = 1
    SERVICE_BYTECODE = 2
    APPLICATION_DESCRIPTION = 3
    MANIFEST = 4


@dataclass(frozen=True, slots=True, order=True)
class BlobId:
    """A content address: the blob's type and the BLAKE3 of its bytes."""

    blob_type: BlobType
    """What the blob holds."""
    hash: CryptoHash
    """Plain BLAKE3 of the blob's bytes."""

    @classmethod
    def for_content(cls, blob_type: BlobType, content: bytes | bytearray | memoryview) -> BlobId:
        return cls(blob_type, CryptoHash.of_bytes(content))

    def __str__(self) -> str:
        return f"{self.blob_type.name.lower()}:{self.hash.hex()}"

    @classmethod
    def parse(cls, text: str) -> BlobId:
        """Parse ``TYPE:HEX`` as printed by ``str``, or a bare hex hash (a data blob)."""
        type_text, _, hash_text = text.rpartition(":")
        try:
            blob_type = BlobType[type_text.upper()] if type_text else BlobType.DATA
        except KeyError as exc:
            raise CryptoError(f"unknown blob type {type_text!r} in {text!r}") from exc
        return cls(blob_type, CryptoHash.from_hex(hash_text))


@dataclass(frozen=True, slots=True, order=True)
class ModuleId:
    """An application module: the ids of its contract and service bytecode blobs."""

    contract_blob_hash: CryptoHash
    """BLAKE3 of the packed contract source."""
    service_blob_hash: CryptoHash
    """BLAKE3 of the packed service source."""


@dataclass(frozen=True, slots=True, order=True)
class ApplicationId:
    """An application: the hash of its description (module, creator chain, height, index, parameters)."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    hash: CryptoHash
    """Hash of the application's description."""

    @classmethod
    def from_hex(cls, text: str) -> ApplicationId:
        return cls(CryptoHash.from_hex(text))

    def __str__(self) -> str:
        return self.hash.hex()

    def __repr__(self) -> str:
        return f"ApplicationId({self.hash.hex()[:12]}…)"
