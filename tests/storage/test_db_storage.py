"""DbStorage: certificates and blobs by id (in the key-value store or a BlobStore), chain states."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.encoding import encode
from edgechain.base.identifiers import AccountOwner, BlobId, BlobType, ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block, BlockExecutionOutcome, ExecutedBlock
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Vote
from edgechain.chain.rounds import Fast
from edgechain.execution.committee import Committee
from edgechain.execution.description import InitialChainConfig, RootChain
from edgechain.execution.ownership import ChainOwnership
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.db_storage import DbStorage
from edgechain.storage.errors import BlobNotFound, CertificateNotFound, CorruptCertificate
from edgechain.views.memory_store import MemoryStore
from edgechain.views.sqlite_store import SqliteStore
from edgechain.views.store import Batch


def make_certificate(height: int = 0) -> Certificate:
    key = KeyPair.from_seed(bytes([height + 1]) * 32)
    block = Block(
        chain_id=ChainId.root(1),
        epoch=Epoch(0),
        height=BlockHeight(height),
        timestamp=Timestamp(height),
        authenticated_signer=AccountOwner.from_public_key(key.public_key),
        previous_block_hash=None,
        incoming_bundles=[],
        operations=[],
        published_blob_ids=[],
    )
    outcome = BlockExecutionOutcome([], CryptoHash.of("state", height), [], [], Amount.zero())
    value = ConfirmedBlock(ExecutedBlock(block, outcome))
    return Certificate.from_votes(value, Fast(), [Vote.new(value, Fast(), key)])


@pytest.fixture(params=["memory", "blob_store"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> DbStorage:
    if request.param == "memory":
        return DbStorage(MemoryStore())
    return DbStorage(MemoryStore(), BlobStore(tmp_path / "blobs", durable=False))


def test_certificates_round_trip_by_hash(storage: DbStorage) -> None:
    first, second = make_certificate(0), make_certificate(1)
    assert not storage.contains_certificate(first.hash())
    storage.write_certificate(first)
    storage.write_certificate(second)
    storage.write_certificate(first)  # idempotent
    assert storage.contains_certificate(first.hash())
    assert storage.read_certificate(second.hash()) == second
    assert storage.read_certificates([second.hash(), first.hash()]) == [second, first]
    with pytest.raises(CertificateNotFound):
        storage.read_certificates([first.hash(), CryptoHash.of("nothing", 0)])


def test_corrupt_certificate_bytes_are_reported(storage: DbStorage) -> None:
    certificate = make_certificate(0)
    storage.write_certificate(certificate)
    (key,) = storage.store.find_keys_by_prefix(storage._certificates_prefix)
    batch = Batch()
    batch.put(key, b"\x80garbage")
    storage.store.write_batch(batch)
    with pytest.raises(CorruptCertificate):
        storage.read_certificate(certificate.hash())
    batch = Batch()
    batch.put(key, encode(make_certificate(1)))  # a valid certificate, under the wrong hash
    storage.store.write_batch(batch)
    with pytest.raises(CorruptCertificate):
        storage.read_certificate(certificate.hash())


def test_blobs_round_trip_and_missing_ones_are_listed(storage: DbStorage) -> None:
    blob = Blob.data(b"some bytes")
    absent = BlobId(BlobType.DATA, CryptoHash.of_bytes(b"never stored"))
    assert storage.missing_blobs([blob.id, absent, blob.id]) == [blob.id, absent]
    storage.write_blob(blob)
    assert storage.contains_blob(blob.id)
    assert storage.read_blob(blob.id) == blob
    assert storage.missing_blobs([blob.id, absent]) == [absent]
    with pytest.raises(BlobNotFound):
        storage.read_blob(absent)


def test_chain_state_persists_in_sqlite(tmp_path: Path) -> None:
    key = KeyPair.from_seed(b"\x05" * 32)
    committee = Committee.of_equal_weights([key.public_key])
    config = InitialChainConfig(
        ownership=ChainOwnership.single(AccountOwner.from_public_key(key.public_key)),
        epoch=Epoch(0),
        admin_id=ChainId.root(0),
        committees={Epoch(0): committee},
        balance=Amount.from_tokens(7),
        timestamp=Timestamp(0),
    )
    path = tmp_path / "validator.sqlite"
    storage = DbStorage(SqliteStore(path))
    chain = storage.load_chain(ChainId.root(1))
    assert not chain.is_active()
    chain.initialize(RootChain(1), config)
    chain.save()
    state_hash = chain.state_hash()
    assert not storage.load_chain(ChainId.root(2)).is_active()  # chains do not share state
    storage.close()

    reopened = DbStorage(SqliteStore(path))
    chain = reopened.load_chain(ChainId.root(1))
    assert chain.is_active()
    assert chain.state_hash() == state_hash
    assert chain.execution_state.system.balance.get() == Amount.from_tokens(7)
    reopened.close()


def test_chain_views_are_cached_but_never_with_unsaved_changes() -> None:
    storage = DbStorage(MemoryStore())
    chain_id = ChainId.root(1)
    first = storage.load_chain(chain_id)
    assert storage.load_chain(chain_id) is first
    first.execution_state.system.balance.set(Amount.from_tokens(3))  # staged, never saved
    fresh = storage.load_chain(chain_id)
    assert fresh is not first
    assert fresh.execution_state.system.balance.get() == Amount.zero()
    scratch = storage.load_chain_scratch(chain_id)
    assert scratch is not fresh
    scratch.execution_state.system.balance.set(Amount.from_tokens(5))
    assert storage.load_chain(chain_id) is fresh
    assert fresh.execution_state.system.balance.get() == Amount.zero()
