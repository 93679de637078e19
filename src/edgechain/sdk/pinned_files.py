"""Opening a file that an application's parameters pin, verified before anything parses it.

A service that runs a model names it in its parameters either on-chain (a MANIFEST blob
id: the file is the runtime's ``open_file`` memory map, which the node verified against the
manifest's length and BLAKE3) or off-chain (a URL and the file's BLAKE3: the bytes come from
``fetch_url`` and are hashed here). A pinned hash that differs from the file's raises
`PinnedFileMismatch` naming both hashes; nothing is kept. What the service does with the
verified source (``edgechain.ml.model_cache``, which loads a model once per content hash)
is its own business::

    pinned = pinned_content_hash(runtime, manifest_id=..., content_hash=...)
    model = shared_model_cache().get_or_load(
        pinned, lambda: open_pinned_file(runtime, manifest_id=..., url=..., content_hash=...).source
    )
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import blake3

from edgechain.base.blobs import Manifest, ManifestError, parse_manifest
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId, BlobType
from edgechain.execution.errors import FileNotOpened, InvalidApplicationData, PinnedFileMismatch
from edgechain.execution.runtime import ServiceRuntime

PinnedSource = mmap.mmap | bytes | Path
"""A verified file: a read-only memory map (on-chain), bytes (fetched), or a path."""


@dataclass(frozen=True, slots=True)
class PinnedFile:
    """A pinned file, verified against its BLAKE3 before anyone parses it."""

    source: PinnedSource
    """The verified bytes: a memory map of the on-chain file, or the fetched bytes."""
    content_hash: str
    """BLAKE3 of the file, 64 lowercase hex digits."""
    size: int
    """Length of the file in bytes."""
    what: str
    """Where the file came from, for messages (``file of manifest …``, ``file fetched from …``)."""


def read_pinned_manifest(runtime: ServiceRuntime, manifest_id: BlobId | str) -> Manifest:
    """The root manifest of an on-chain file (a data read, memory-mapped where possible)."""
    blob_id = _manifest_blob_id(manifest_id)
    try:
        return parse_manifest(runtime.read_data_blob(blob_id))
    except ManifestError as error:
        raise InvalidApplicationData(f"blob {blob_id} is not a valid manifest: {error}") from error


def pinned_content_hash(
    runtime: ServiceRuntime,
    *,
    manifest_id: BlobId | str | None = None,
    content_hash: str | None = None,
) -> str:
    """The BLAKE3 the pinned file must have: the manifest's (which must equal ``content_hash``
    when both are pinned), or ``content_hash`` for a URL file. Reads no file bytes."""
    pinned = None if content_hash is None else _normalise_hash(content_hash)
    if manifest_id is None:
        if pinned is None:
            raise InvalidApplicationData("a file pinned by URL needs its BLAKE3 (content hash)")
        return pinned
    file_hash = read_pinned_manifest(runtime, manifest_id).file_hash.hex()
    if pinned is not None and pinned != file_hash:
        raise PinnedFileMismatch(f"file of manifest {manifest_id}", pinned, file_hash)
    return file_hash


def open_pinned_file(
    runtime: ServiceRuntime,
    *,
    manifest_id: BlobId | str | None = None,
    url: str | None = None,
    content_hash: str | None = None,
) -> PinnedFile:
    """The pinned file, verified: on-chain (``manifest_id``, mapped, never copied) if given,
    else fetched from ``url`` and hashed against ``content_hash`` before it is returned."""
    if manifest_id is not None:
        expected = pinned_content_hash(runtime, manifest_id=manifest_id, content_hash=content_hash)
        blob_id = _manifest_blob_id(manifest_id)
        mapped = runtime.open_file(blob_id)
        # The node verified the mapped file against the manifest; a runtime that maps the
        # wrong length is caught here before any parser sees it.
        total_length = read_pinned_manifest(runtime, blob_id).total_length
        if len(mapped) != total_length:
            raise FileNotOpened(
                f"the runtime mapped {len(mapped)} bytes for manifest {blob_id},"
                f" which declares {total_length}"
            )
        return PinnedFile(mapped, expected, len(mapped), f"file of manifest {blob_id}")
    if url is None:
        raise InvalidApplicationData("a pinned file needs a manifest id or a URL")
    expected = pinned_content_hash(runtime, content_hash=content_hash)
    content = runtime.fetch_url(url)
    actual = str(blake3.blake3(content).hexdigest())
    what = f"file fetched from {url}"
    if actual != expected:
        raise PinnedFileMismatch(what, expected, actual)
    return PinnedFile(content, expected, len(content), what)


def _manifest_blob_id(manifest_id: BlobId | str) -> BlobId:
    if isinstance(manifest_id, BlobId):
        blob_id = manifest_id
    else:
        try:
            blob_id = BlobId.parse(manifest_id)
        except (ValueError, EdgechainError) as error:
            raise InvalidApplicationData(f"{manifest_id!r} is not a blob id: {error}") from error
    if blob_id.blob_type is not BlobType.MANIFEST:
        raise InvalidApplicationData(f"{blob_id} is not a manifest blob id")
    return blob_id


def _normalise_hash(content_hash: str) -> str:
    text = content_hash.strip().lower()
    if len(text) != 64 or any(character not in "0123456789abcdef" for character in text):
        raise InvalidApplicationData(
            f"a content hash is 64 hexadecimal digits (BLAKE3), got {content_hash!r}"
        )
    return text


__all__ = [
    "PinnedFile",
    "PinnedSource",
    "open_pinned_file",
    "pinned_content_hash",
    "read_pinned_manifest",
]
