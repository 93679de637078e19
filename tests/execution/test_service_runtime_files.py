"""Service runtime ``open_file``: a manifest's whole file memory-mapped, from a blob store or
assembled once per process from key-value-only storage, verified, never built in bytes."""

from __future__ import annotations

import gc
import mmap
import os
from pathlib import Path

import psutil
import pytest
from block_harness import HERE, PROBE, PROBE_MODULE, Chain, MemoryBlobs

from edgechain.base import BlockHeight, Timestamp
from edgechain.base.blobs import Blob, split_into_blobs
from edgechain.base.identifiers import BlobId
from edgechain.execution.errors import BlobsNotFound, FileNotOpened, InvalidApplicationData
from edgechain.execution.service_runtime import (
    ServiceConfig,
    ServiceContext,
    ServiceRuntimeImpl,
    open_stored_file,
)
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.db_storage import DbStorage
from edgechain.views import MemoryStore


def _publish_file(content: bytes, chunk_size: int, max_blob_size: int = 1_000_000) -> list[Blob]:
    split = split_into_blobs(content, chunk_size=chunk_size, max_blob_size=max_blob_size)
    return list(split.iter_blobs())


def _runtime(source: object) -> ServiceRuntimeImpl:
    chain = Chain()
    chain.publish(PROBE_MODULE, MemoryBlobs(PROBE_MODULE.blobs))
    app = chain.create(PROBE_MODULE, MemoryBlobs(PROBE_MODULE.blobs))
    context = ServiceContext(
        chain.state,
        HERE,
        Timestamp(0),
        BlockHeight(1),
        source,
        ServiceConfig(),  # type: ignore[arg-type]
    )
    return ServiceRuntimeImpl(context, app, PROBE.ProbeAbi)


def _manifest_id(content: bytes, chunk_size: int, max_blob_size: int = 1_000_000) -> BlobId:
    return split_into_blobs(content, chunk_size=chunk_size, max_blob_size=max_blob_size).manifest_id


def test_open_file_maps_the_blob_store_file_without_growing_resident_memory(
    tmp_path: Path,
) -> None:
    size = 40 * 1024 * 1024
    storage = DbStorage(MemoryStore(), BlobStore(tmp_path, durable=False))
    content = os.urandom(size)
    manifest_id = _manifest_id(content, 1_000_000)
    for blob in _publish_file(content, 1_000_000):
        storage.write_blob(blob)
    head, tail = content[:4096], content[-4096:]
    del content
    gc.collect()
    runtime = _runtime(storage)
    process = psutil.Process()
    before = process.memory_info().rss
    mapped = runtime.open_file(manifest_id)
    after = process.memory_info().rss
    try:
        assert isinstance(mapped, mmap.mmap)
        assert len(mapped) == size
        assert (after - before) < size // 4, f"RSS grew by {after - before} bytes"
        assert mapped[:4096] == head and mapped[-4096:] == tail
    finally:
        mapped.close()


class CountingBlobs:
    """Key-value-only blob storage (no blob store, no mapping), counting chunk reads."""

    def __init__(self, blobs: list[Blob]) -> None:
        self.blobs = {blob.id: blob for blob in blobs}
        self.reads = 0

    def contains_blob(self, blob_id: BlobId) -> bool:
        return blob_id in self.blobs

    def read_blob(self, blob_id: BlobId) -> Blob:
        self.reads += 1
        return self.blobs[blob_id]


def test_key_value_storage_assembles_a_verified_temporary_file_once_per_process() -> None:
    content = bytes(range(256)) * 60 + b"tail"
    # A small blob limit makes a manifest tree (root -> child manifests -> chunks).
    blobs = _publish_file(content, chunk_size=100, max_blob_size=1000)
    manifest_id = _manifest_id(content, 100, 1000)
    source = CountingBlobs(blobs)
    runtime = _runtime(source)
    mapped = runtime.open_file(manifest_id)
    reads_after_first = source.reads
    assert isinstance(mapped, mmap.mmap) and mapped[:] == content
    again = runtime.open_file(manifest_id)
    assert again[:] == content
    assert source.reads <= reads_after_first + 1, "assembled again instead of reused"
    mapped.close()
    again.close()
    # Key-value storage through DbStorage without a blob store works the same way.
    storage = DbStorage(MemoryStore())
    for blob in blobs:
        storage.write_blob(blob)
    with open_stored_file(storage, manifest_id) as from_db:
        assert from_db[:] == content


def test_open_file_refuses_wrong_ids_missing_and_corrupt_chunks() -> None:
    content = b"model bytes " * 500
    blobs = _publish_file(content, chunk_size=700)
    manifest_id = _manifest_id(content, 700)
    chunk = next(blob for blob in blobs if blob.id != manifest_id)

    runtime = _runtime(CountingBlobs(blobs))
    with pytest.raises(InvalidApplicationData, match="needs a manifest blob id"):
        runtime.open_file(chunk.id)
    with pytest.raises(BlobsNotFound):
        _runtime(CountingBlobs([])).open_file(manifest_id)
    with pytest.raises(BlobsNotFound):
        open_stored_file(None, manifest_id)

    missing_chunk = CountingBlobs([blob for blob in blobs if blob.id != chunk.id])
    with pytest.raises(BlobsNotFound) as missing:
        _runtime(missing_chunk).open_file(_manifest_id(content, 700))
    assert chunk.id in missing.value.blob_ids

    other = b"other bytes " * 500  # a different file, so nothing assembled above is reused
    other_blobs = _publish_file(other, chunk_size=700)
    other_manifest = _manifest_id(other, 700)
    damaged = CountingBlobs(other_blobs)
    victim = next(blob_id for blob_id in damaged.blobs if blob_id != other_manifest)
    damaged.blobs[victim] = Blob(victim.blob_type, b"x" * len(damaged.blobs[victim].content))
    with pytest.raises(FileNotOpened, match=f"blob {victim}"):
        _runtime(damaged).open_file(other_manifest)
