"""`edgechain.sdk.pinned_files`: a pinned file verified before parsing; a mismatch names both hashes."""

from __future__ import annotations

import mmap
from typing import Any

import blake3
import pytest

from edgechain.base.blobs import Blob, split_into_blobs
from edgechain.base.identifiers import BlobId
from edgechain.execution.errors import InvalidApplicationData, PinnedFileMismatch
from edgechain.execution.service_runtime import open_stored_file, read_stored_blob
from edgechain.sdk.pinned_files import (
    PinnedFile,
    open_pinned_file,
    pinned_content_hash,
    read_pinned_manifest,
)

CONTENT = bytes(range(256)) * 40
CONTENT_HASH = blake3.blake3(CONTENT).hexdigest()
URL = "http://models.example/tiny.gguf"


class Blobs:
    """Key-value blob storage in memory."""

    def __init__(self, blobs: list[Blob]) -> None:
        self.blobs = {blob.id: blob for blob in blobs}

    def contains_blob(self, blob_id: BlobId) -> bool:
        return blob_id in self.blobs

    def read_blob(self, blob_id: BlobId) -> Blob:
        return self.blobs[blob_id]


class Runtime:
    """The blob and URL part of a service runtime, over the real execution-layer readers."""

    def __init__(self, blobs: Blobs, served: bytes = CONTENT) -> None:
        self.blobs = blobs
        self.served = served
        self.opened: list[BlobId] = []
        self.fetched: list[str] = []

    def read_data_blob(self, blob_id: BlobId) -> bytes | memoryview:
        return read_stored_blob(self.blobs, blob_id, mapped=True)

    def open_file(self, manifest_id: BlobId) -> mmap.mmap:
        self.opened.append(manifest_id)
        return open_stored_file(self.blobs, manifest_id)

    def fetch_url(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.served


def _on_chain() -> tuple[Runtime, BlobId]:
    split = split_into_blobs(CONTENT, chunk_size=1000)
    return Runtime(Blobs(list(split.iter_blobs()))), split.manifest_id


def test_an_on_chain_file_is_a_verified_memory_map() -> None:
    runtime, manifest_id = _on_chain()
    assert read_pinned_manifest(runtime, str(manifest_id)).total_length == len(CONTENT)  # type: ignore[arg-type]
    assert pinned_content_hash(runtime, manifest_id=manifest_id) == CONTENT_HASH  # type: ignore[arg-type]
    pinned = open_pinned_file(
        runtime, manifest_id=str(manifest_id), content_hash=CONTENT_HASH.upper()
    )  # type: ignore[arg-type]
    assert isinstance(pinned, PinnedFile)
    assert isinstance(pinned.source, mmap.mmap), "mapped, not copied into bytes"
    assert pinned.source[:] == CONTENT
    assert (pinned.content_hash, pinned.size) == (CONTENT_HASH, len(CONTENT))
    assert str(manifest_id) in pinned.what


def test_a_manifest_of_another_hash_is_refused_before_the_file_is_opened() -> None:
    runtime, manifest_id = _on_chain()
    wrong = "ab" * 32
    with pytest.raises(PinnedFileMismatch) as caught:
        open_pinned_file(runtime, manifest_id=manifest_id, content_hash=wrong)  # type: ignore[arg-type]
    assert wrong in str(caught.value) and CONTENT_HASH in str(caught.value)
    assert runtime.opened == []


def test_url_bytes_are_hashed_before_they_are_returned() -> None:
    runtime = Runtime(Blobs([]))
    pinned = open_pinned_file(runtime, url=URL, content_hash=CONTENT_HASH)  # type: ignore[arg-type]
    assert pinned.source == CONTENT and runtime.fetched == [URL]

    tampered = bytearray(CONTENT)
    tampered[7] ^= 1
    runtime.served = bytes(tampered)
    with pytest.raises(PinnedFileMismatch) as caught:
        open_pinned_file(runtime, url=URL, content_hash=CONTENT_HASH)  # type: ignore[arg-type]
    error = caught.value
    assert (error.expected, error.actual) == (CONTENT_HASH, blake3.blake3(tampered).hexdigest())
    assert URL in str(error) and error.expected in str(error) and error.actual in str(error)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"url": URL}, "needs its BLAKE3"),
        ({}, "needs a manifest id or a URL"),
        ({"url": URL, "content_hash": "xyz"}, "64 hexadecimal digits"),
        ({"manifest_id": "not a blob id"}, "is not a blob id"),
    ],
)
def test_incomplete_or_malformed_pins_are_refused(arguments: dict[str, Any], message: str) -> None:
    runtime, _ = _on_chain()
    with pytest.raises(InvalidApplicationData, match=message):
        open_pinned_file(runtime, **arguments)  # type: ignore[arg-type]
    assert runtime.fetched == [] and runtime.opened == []


def test_a_data_blob_is_not_a_manifest() -> None:
    runtime, manifest_id = _on_chain()
    chunk = next(blob_id for blob_id in runtime.blobs.blobs if blob_id != manifest_id)
    with pytest.raises(InvalidApplicationData, match="not a manifest blob id"):
        open_pinned_file(runtime, manifest_id=chunk)  # type: ignore[arg-type]
