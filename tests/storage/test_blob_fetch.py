"""Fetching a file's blobs from sources that lie, fail, stall or hold a corrupt copy."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest

from edgechain.base import BlobId, BlobType
from edgechain.base.blobs import Blob, MalformedManifest, SplitFile, split_into_blobs
from edgechain.storage.blob_fetch import BlobFetcher, BlobSource, fetch_file
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.errors import BlobUnavailable

LIMIT = 512


def published(tmp_path: Path, name: str, data: bytes) -> tuple[BlobStore, SplitFile]:
    store = BlobStore(tmp_path / name, max_blob_size=LIMIT, durable=False)
    split = split_into_blobs(data, chunk_size=400, max_blob_size=LIMIT)
    for blob in split.iter_blobs():
        store.write_blob(blob.id, blob.content)
    return store, split


def honest(store: BlobStore) -> BlobSource:
    async def download(blob_id: BlobId) -> Blob:
        return Blob(blob_id.blob_type, store.read_blob(blob_id))

    return download


def liar(store: BlobStore) -> BlobSource:
    async def download(blob_id: BlobId) -> Blob:
        content = bytearray(store.read_blob(blob_id))
        content[0] ^= 1
        return Blob(blob_id.blob_type, bytes(content))

    return download


async def broken(blob_id: BlobId) -> Blob:
    raise ConnectionError("connection refused")


async def stalled(blob_id: BlobId) -> Blob:
    await asyncio.sleep(10)
    raise AssertionError("never reached")


def test_fetches_a_manifest_tree_bit_identical(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(30_000)
    source, split = published(tmp_path, "source", data)
    assert len(split.manifest_blobs) > 1
    target = BlobStore(tmp_path / "target", max_blob_size=LIMIT, durable=False)
    fetcher = BlobFetcher(target, {"v0": honest(source), "v1": honest(source)})
    path = asyncio.run(fetcher.fetch_file(split.manifest_id))
    assert path.read_bytes() == data
    assert fetcher.statistics.blobs_written == len(split.chunk_ids) + len(split.manifest_blobs)
    assert fetcher.statistics.failures == []
    # A second fetch finds everything stored and asks nobody.
    again = BlobFetcher(target, {"nobody": broken})
    assert asyncio.run(again.fetch_file(split.manifest_id)) == path
    assert again.statistics.failures == []


def test_skips_liars_failures_and_timeouts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = random.Random(2).randbytes(10_000)
    source, split = published(tmp_path, "source", data)
    target = BlobStore(tmp_path / "target", max_blob_size=LIMIT, durable=False)
    sources = {
        "liar": liar(source),
        "broken": broken,
        "stalled": stalled,
        "honest": honest(source),
    }
    fetcher = BlobFetcher(target, sources, timeout=0.02)
    with caplog.at_level(logging.WARNING):
        path = asyncio.run(fetcher.fetch_file(split.manifest_id))
    assert path.read_bytes() == data
    reasons = {name: reason for name, _, reason in fetcher.statistics.failures}
    assert set(reasons) == {"liar", "broken", "stalled"}
    assert "are blob" in reasons["liar"]
    assert "ConnectionError" in reasons["broken"]
    assert "timed out" in reasons["stalled"]
    assert "from liar refused" in caplog.text


def test_no_good_source_raises_and_stores_nothing(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(2_000)
    source, split = published(tmp_path, "source", data)
    target = BlobStore(tmp_path / "target", max_blob_size=LIMIT, durable=False)

    async def wrong_type(blob_id: BlobId) -> Blob:
        return Blob(BlobType.DATA, source.read_blob(blob_id))

    sources = {"liar": liar(source), "broken": broken, "wrong-type": wrong_type}
    with pytest.raises(BlobUnavailable) as info:
        asyncio.run(fetch_file(target, split.manifest_id, sources, timeout=0.02))
    assert info.value.blob_id == split.manifest_id
    assert set(info.value.failures) == {"liar", "broken", "wrong-type"}
    assert "DATA blob for a MANIFEST id" in info.value.failures["wrong-type"]
    assert target.missing([split.manifest_id, *split.chunk_ids]) == [
        split.manifest_id,
        *split.chunk_ids,
    ]
    with pytest.raises(BlobUnavailable, match="no sources"):
        asyncio.run(fetch_file(target, split.manifest_id, {}))


def test_a_source_with_a_corrupt_chunk_on_disk_is_skipped_and_never_serves_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = random.Random(4).randbytes(8_000)
    good, split = published(tmp_path, "good", data)
    corrupt, _ = published(tmp_path, "corrupt", data)
    # Two neighbouring chunks: sources take turns being asked first, so one of them is
    # asked of the corrupt validator first.
    bad_chunks = split.chunk_ids[3:5]
    for bad_chunk in bad_chunks:
        chunk_path = corrupt.blob_path(bad_chunk)
        content = bytearray(chunk_path.read_bytes())
        content[10] ^= 0x40
        chunk_path.write_bytes(bytes(content))
    corrupt = BlobStore(corrupt.root, max_blob_size=LIMIT, durable=False)  # a restarted validator
    target = BlobStore(tmp_path / "target", max_blob_size=LIMIT, durable=False)
    with caplog.at_level(logging.WARNING):
        path = asyncio.run(
            fetch_file(
                target, split.manifest_id, {"corrupt": honest(corrupt), "good": honest(good)}
            )
        )
    assert path.read_bytes() == data
    assert "CorruptBlob" in caplog.text and "quarantined" in caplog.text
    # The copy it was asked for is quarantined: refused there from now on, until repaired.
    assert len(corrupt.missing(bad_chunks)) >= 1


def test_fetch_file_wants_a_manifest_id(tmp_path: Path) -> None:
    target = BlobStore(tmp_path / "target", durable=False)
    with pytest.raises(MalformedManifest):
        asyncio.run(fetch_file(target, Blob.data(b"x").id, {"nobody": broken}))
