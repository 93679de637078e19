"""Fetching blobs and whole files into a `BlobStore` from sources that may lie, fail or stall.

A *source* is any async callable ``blob_id -> Blob`` (a validator's ``download_blob``).
Each blob is asked of the sources in turn, starting at a different one for each blob to
spread the load; bytes are kept only when the store verifies them against the id, and a
source that fails, times out or sends other bytes is logged and the next one is asked.
A manifest is written after its children: when the store refuses it for missing children,
those are fetched first and the manifest written again (its bytes, already verified, are
not asked for twice).

    path = await fetch_file(store, manifest_id, {"validator-0": node0.download_blob, ...})
    gguf.GGUFReader(path)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgechain.base.blobs import Blob, MalformedManifest, ManifestMissingBlobs
from edgechain.base.identifiers import BlobId, BlobType
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.errors import BlobMismatch, BlobUnavailable

logger = logging.getLogger(__name__)

BlobSource = Callable[[BlobId], Awaitable[Blob]]
"""Downloads one blob (raises on failure); a validator node's ``download_blob``."""

DEFAULT_TIMEOUT = 10.0
"""Seconds a source may take for one blob before the next source is asked."""


@dataclass(slots=True)
class FetchStatistics:
    """What a fetch did: blobs written, and each source failure (source, blob, reason)."""

    blobs_written: int = 0
    """Blobs newly stored."""
    bytes_written: int = 0
    """Their total size."""
    failures: list[tuple[str, BlobId, str]] = field(default_factory=list)
    """Every source that failed for a blob, and why."""


class BlobFetcher:
    """Fills a `BlobStore` from named sources, verifying every blob."""

    def __init__(
        self,
        store: BlobStore,
        sources: Mapping[str, BlobSource],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.store = store
        self.sources = dict(sources)
        """Sources by name (the name appears in logs and errors)."""
        self.timeout = timeout
        self.statistics = FetchStatistics()
        self._next_start = 0

    async def fetch_blob(self, blob_id: BlobId) -> None:
        """Store ``blob_id`` (and, for a manifest, everything under it) unless already stored."""
        if self.store.missing_verified([blob_id]) == []:
            return
        content = await self._download(blob_id)
        await self._write(blob_id, content, depth=0)

    async def fetch_file(self, manifest_id: BlobId) -> Path:
        """Fetch every missing blob of the file's tree; return the assembled, verified file."""
        if manifest_id.blob_type is not BlobType.MANIFEST:
            raise MalformedManifest(f"{manifest_id} is not a manifest id")
        # Children are fetched before their manifest, so one round normally suffices; more
        # happen only when blobs vanish meanwhile (a corrupt copy quarantined, say).
        for _ in range(self.store.max_manifest_depth + 2):
            missing = self.store.missing_for_file(manifest_id)
            if not missing:
                return self.store.open_file_path(manifest_id)
            for blob_id in missing:
                await self.fetch_blob(blob_id)
        raise BlobUnavailable(manifest_id, {"store": "blobs keep disappearing while fetching"})

    async def _write(self, blob_id: BlobId, content: bytes, depth: int) -> None:
        while True:
            try:
                if self.store.write_blob(blob_id, content):
                    self.statistics.blobs_written += 1
                    self.statistics.bytes_written += len(content)
                return
            except ManifestMissingBlobs as refusal:
                if depth >= self.store.max_manifest_depth:
                    raise
                for child_id in refusal.missing:
                    child_content = await self._download(child_id)
                    await self._write(child_id, child_content, depth + 1)

    async def _download(self, blob_id: BlobId) -> bytes:
        names = list(self.sources)
        if not names:
            raise BlobUnavailable(blob_id, {})
        start = self._next_start % len(names)
        self._next_start += 1
        failures: dict[str, str] = {}
        for name in names[start:] + names[:start]:
            reason = await self._try_source(name, blob_id)
            if isinstance(reason, bytes):
                return reason
            failures[name] = reason
            self.statistics.failures.append((name, blob_id, reason))
            logger.warning(
                "blob %s from %s refused: %s; asking the next source", blob_id, name, reason
            )
        raise BlobUnavailable(blob_id, failures)

    async def _try_source(self, name: str, blob_id: BlobId) -> bytes | str:
        """The verified bytes, or the reason this source failed."""
        try:
            blob = await asyncio.wait_for(self.sources[name](blob_id), self.timeout)
        except TimeoutError:
            return f"timed out after {self.timeout} s"
        except Exception as failure:  # an untrusted source: any failure means "ask the next"
            return f"{type(failure).__name__}: {failure}"
        if not isinstance(blob, Blob):
            return f"sent a {type(blob).__name__}, not a Blob"
        if blob.blob_type is not blob_id.blob_type:
            return f"sent a {blob.blob_type.name} blob for a {blob_id.blob_type.name} id"
        actual = BlobId.for_content(blob_id.blob_type, blob.content)
        if actual != blob_id:
            return str(BlobMismatch(blob_id, actual))
        return bytes(blob.content)


async def fetch_file(
    store: BlobStore,
    manifest_id: BlobId,
    sources: Mapping[str, BlobSource],
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Fetch a file's blobs into ``store`` from ``sources``; return the verified file's path."""
    return await BlobFetcher(store, sources, timeout).fetch_file(manifest_id)
