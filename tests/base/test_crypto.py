"""Hashes and Ed25519 signatures over tagged canonical bytes."""

from __future__ import annotations

import blake3
import pytest

from edgechain.base import (
    AccountOwner,
    BlobId,
    BlobType,
    BlockHeight,
    CryptoError,
    CryptoHash,
    InvalidSignature,
    KeyPair,
    PublicKey,
    Signature,
    encode,
)


def test_hash_depends_on_the_tag_and_the_value() -> None:
    value = BlockHeight(5)
    assert CryptoHash.of("A", value) == CryptoHash.of("A", BlockHeight(5))
    assert CryptoHash.of("A", value) != CryptoHash.of("B", value)
    assert CryptoHash.of("A", value) != CryptoHash.of("A", BlockHeight(6))
    assert CryptoHash.of("A", value).digest == blake3.blake3(b"A::" + encode(value)).digest()


def test_blob_ids_are_the_plain_blake3_of_the_content() -> None:
    content = b"weights" * 1000
    blob_id = BlobId.for_content(BlobType.DATA, content)
    assert blob_id.hash.digest == blake3.blake3(content).digest()
    assert BlobId.parse(str(blob_id)) == blob_id


def test_signatures_verify_only_for_the_signed_value_and_key() -> None:
    alice, bob = KeyPair.from_seed(b"a" * 32), KeyPair.from_seed(b"b" * 32)
    signature = alice.sign("Vote", BlockHeight(1))
    alice.public_key.verify(signature, "Vote", BlockHeight(1))
    with pytest.raises(InvalidSignature):
        alice.public_key.verify(signature, "Vote", BlockHeight(2))
    with pytest.raises(InvalidSignature):
        alice.public_key.verify(signature, "Proposal", BlockHeight(1))
    with pytest.raises(InvalidSignature):
        bob.public_key.verify(signature, "Vote", BlockHeight(1))
    tampered = Signature(bytes([signature.signature_bytes[0] ^ 1]) + signature.signature_bytes[1:])
    with pytest.raises(InvalidSignature):
        alice.public_key.verify(tampered, "Vote", BlockHeight(1))


def test_keys_from_the_same_seed_are_the_same() -> None:
    seed = bytes(range(32))
    assert KeyPair.from_seed(seed).public_key == KeyPair.from_seed(seed).public_key
    assert (
        KeyPair.from_seed(KeyPair.from_seed(seed).seed()).public_key
        == KeyPair.from_seed(seed).public_key
    )
    assert KeyPair.generate().public_key != KeyPair.generate().public_key


def test_owner_is_the_hash_of_the_public_key() -> None:
    key = KeyPair.from_seed(b"k" * 32).public_key
    assert AccountOwner.from_public_key(key) == AccountOwner(CryptoHash.of("PublicKey", key))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_wrong_lengths_are_refused(length: int) -> None:
    with pytest.raises(CryptoError):
        CryptoHash(b"x" * length)
    with pytest.raises(CryptoError):
        PublicKey(b"x" * length)
    with pytest.raises(CryptoError):
        KeyPair.from_seed(b"x" * length)
    with pytest.raises(CryptoError):
        Signature(b"x" * length)


def test_hex_parsing_refuses_garbage() -> None:
    with pytest.raises(CryptoError):
        CryptoHash.from_hex("zz" * 32)
    with pytest.raises(CryptoError):
        BlobId.parse("weird:" + "00" * 32)
