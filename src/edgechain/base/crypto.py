"""Hashes and signatures: BLAKE3 `CryptoHash` over a type tag and canonical bytes; Ed25519 keys.

A value is hashed as ``BLAKE3(tag || b"::" || encode(value))``, so that two types with the
same encoding never share a hash. Signatures are Ed25519 over the same tagged bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import blake3
from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgechain.base.encoding import encode
from edgechain.base.errors import CryptoError, InvalidSignature


def tagged_bytes(tag: str, value: Any) -> bytes:
    """The bytes that are hashed and signed for ``value`` under ``tag``."""
    return tag.encode("ascii") + b"::" + encode(value)


@dataclass(frozen=True, slots=True, order=True)
class CryptoHash:
    """A 32-byte BLAKE3 digest."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    digest: bytes
    """The 32 raw bytes."""

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != 32:
            raise CryptoError("a CryptoHash is exactly 32 bytes")

    @classmethod
    def of(cls, tag: str, value: Any) -> CryptoHash:
        """Hash a protocol value under a type tag."""
        return cls(blake3.blake3(tagged_bytes(tag, value)).digest())

    @classmethod
    def of_bytes(cls, data: bytes | bytearray | memoryview) -> CryptoHash:
        """Plain BLAKE3 of raw bytes (used for blob contents, so it equals a file's BLAKE3)."""
        return cls(blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest())

    @classmethod
    def from_hex(cls, text: str) -> CryptoHash:
        """Parse 64 hexadecimal digits."""
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise CryptoError(f"not a 64-digit hex hash: {text!r}") from exc

    def hex(self) -> str:
        return self.digest.hex()

    def __str__(self) -> str:
        return self.digest.hex()

    def __repr__(self) -> str:
        return f"CryptoHash({self.digest.hex()[:16]}…)"


@dataclass(frozen=True, slots=True, order=True)
class PublicKey:
    """An Ed25519 public key (32 bytes)."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    key_bytes: bytes
    """The 32 raw bytes of the key."""

    def __post_init__(self) -> None:
        if not isinstance(self.key_bytes, bytes) or len(self.key_bytes) != 32:
            raise CryptoError("an Ed25519 public key is exactly 32 bytes")

    def verify(self, signature: Signature, tag: str, value: Any) -> None:
        """Raise InvalidSignature unless ``signature`` signs ``value`` under ``tag``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.key_bytes).verify(
                signature.signature_bytes, tagged_bytes(tag, value)
            )
        except _CryptographyInvalidSignature as exc:
            raise InvalidSignature(f"signature does not verify for {tag} by {self}") from exc
        except ValueError as exc:
            raise InvalidSignature(f"malformed public key {self}") from exc

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise CryptoError(f"not a 64-digit hex public key: {text!r}") from exc

    def hex(self) -> str:
        return self.key_bytes.hex()

    def __str__(self) -> str:
        return self.key_bytes.hex()

    def __repr__(self) -> str:
        return f"PublicKey({self.key_bytes.hex()[:16]}…)"


@dataclass(frozen=True, slots=True)
class Signature:
    """An Ed25519 signature (64 bytes)."""

    CANONICAL_TRANSPARENT: ClassVar[bool] = True

    signature_bytes: bytes
    """The 64 raw bytes of the signature."""

    def __post_init__(self) -> None:
        if not isinstance(self.signature_bytes, bytes) or len(self.signature_bytes) != 64:
            raise CryptoError("an Ed25519 signature is exactly 64 bytes")

    def __repr__(self) -> str:
        return f"Signature({self.signature_bytes.hex()[:16]}…)"


class KeyPair:
    """An Ed25519 signing key with its public key. Never encoded into protocol values."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = PublicKey(private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """A key pair determined by a 32-byte seed (for tests, genesis and wallets on disk)."""
        if len(seed) != 32:
            raise CryptoError("an Ed25519 seed is exactly 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        """The 32-byte seed, to store the key in a wallet file."""
        return self._private.private_bytes_raw()

    def sign(self, tag: str, value: Any) -> Signature:
        return Signature(self._private.sign(tagged_bytes(tag, value)))

    def __repr__(self) -> str:
        return f"KeyPair({self.public_key!r})"
