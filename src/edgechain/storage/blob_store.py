"""The content-addressed blob store: verified blob files on disk, and whole files mapped from manifests.

Layout under ``root``::

    blobs/ab/<hash>.<type>      one file per blob, fanned out on the hash's first byte
                                (one level: 256 directories hold a million 1 MiB blobs at
                                4k files each, and creating directories is slow on some disks)
    files/<file hash>           a manifest's whole file, assembled once, verified, then mapped
    quarantine/                 files that failed verification, kept for inspection, never served

Every write goes to a temporary file in the destination directory, is fsynced, renamed
into place and the directory fsynced (``durable=False`` skips the fsyncs, for tests and
throw-away stores). Bytes are verified against their id before anything is written, and
a stored file is verified again whenever it is served (``read_blob``, ``open_blob``, file
assembly: one BLAKE3 pass, cheaper than the read for 1 MB blobs), or only on the first
read in this process with ``verify_every_read=False``. A file that fails is logged, moved
to ``quarantine/`` and reported as ``CorruptBlob``, so it is never served as good (writing
the blob again repairs it). ``missing_verified``, the validator's check before voting,
reads and hashes each blob once per process. A manifest is accepted only when every blob it names is stored with the
length it declares and the bytes hash to its file hash, so a stored manifest always
describes a complete, verified file.

Assembled files: ``open_file_path`` streams the chunks, one at a time, into a temporary
file while hashing them, and renames it to ``files/<file hash>`` only when the length and
BLAKE3 match the manifest. A cached file is trusted after the rename *within this
process*; the first use in a new process re-hashes it (streamed, bounded memory) unless
``verify_cached_files=False``, and a cached file that fails is quarantined and rebuilt.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path

import blake3

from edgechain.base.blobs import (
    DEFAULT_MAX_BLOB_SIZE,
    MAX_MANIFEST_DEPTH,
    ChunkLocation,
    MalformedManifest,
    Manifest,
    ManifestHashMismatch,
    ManifestLengthMismatch,
    ManifestMissingBlobs,
    parse_manifest,
    walk_manifest_tree,
)
from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import BlobId, BlobType
from edgechain.storage.errors import (
    BlobMismatch,
    BlobNotFound,
    BlobNotMappable,
    BlobTooLarge,
    CorruptBlob,
)

logger = logging.getLogger(__name__)

STALE_TEMPORARY_AGE = 3600.0
"""Seconds after which a leftover temporary file in ``files/`` is deemed abandoned."""

_COPY_BUFFER_SIZE = 4 << 20
"""Bytes read at a time when hashing a cached file."""


class BlobStore:
    """Blob files on disk, addressed by `BlobId`, verified when written and when served."""

    def __init__(
        self,
        root: Path | str,
        max_blob_size: int | None = DEFAULT_MAX_BLOB_SIZE,
        durable: bool = True,
        verify_cached_files: bool = True,
        max_manifest_depth: int = MAX_MANIFEST_DEPTH,
        verify_every_read: bool = True,
    ) -> None:
        self.root = Path(root)
        self.max_blob_size = max_blob_size
        """Largest blob accepted by ``write_blob``; None for no limit."""
        self.durable = durable
        """Whether writes are fsynced (file and directory) before they count as done."""
        self.verify_cached_files = verify_cached_files
        """Whether an assembled file is re-hashed on its first use in this process."""
        self.max_manifest_depth = max_manifest_depth
        self.verify_every_read = verify_every_read
        """Whether every served blob is re-hashed (else only its first read in this process)."""
        self._blobs_dir = self.root / "blobs"
        self._files_dir = self.root / "files"
        self._quarantine_dir = self.root / "quarantine"
        for directory in (self._blobs_dir, self._files_dir, self._quarantine_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporary_files()
        self._lock = threading.Lock()
        self._assembly_lock = threading.Lock()
        self._verified_blobs: set[BlobId] = set()
        self._verified_files: set[CryptoHash] = set()

    # ----------------------------------------------------------------- blobs

    def blob_path(self, blob_id: BlobId) -> Path:
        """Where the blob's file lives (whether or not it is stored)."""
        digest = blob_id.hash.hex()
        return self._blobs_dir / digest[:2] / f"{digest}.{blob_id.blob_type.name.lower()}"

    def contains(self, blob_id: BlobId) -> bool:
        """Whether a file for the blob exists (not hashed: see ``missing_verified``)."""
        return self.blob_path(blob_id).is_file()

    def missing(self, blob_ids: Iterable[BlobId]) -> list[BlobId]:
        """The ids not stored, in the order given, each once."""
        return [blob_id for blob_id in dict.fromkeys(blob_ids) if not self.contains(blob_id)]

    def missing_verified(self, blob_ids: Iterable[BlobId]) -> list[BlobId]:
        """The ids not stored or whose file fails its hash (quarantined), in order, each once.

        What a validator checks before it votes: it must hold *and* have verified each blob.
        """
        missing = []
        for blob_id in dict.fromkeys(blob_ids):
            with self._lock:
                verified = blob_id in self._verified_blobs
            if verified and self.contains(blob_id):
                continue
            try:
                self._read_verified(blob_id)
            except (BlobNotFound, CorruptBlob):
                missing.append(blob_id)
        return missing

    def write_blob(self, blob_id: BlobId, content: bytes | bytearray | memoryview) -> bool:
        """Store ``content`` as ``blob_id``; return False when a good copy was already stored.

        Raises BlobTooLarge, BlobMismatch, and for a manifest any ManifestError (malformed,
        missing blobs, lengths or hash that do not match); nothing is stored on a rejection.
        A stored copy that turns out corrupt is quarantined and replaced.
        """
        return self.write_blobs([(blob_id, content)]) == 1

    def write_blobs(self, blobs: Iterable[tuple[BlobId, bytes | bytearray | memoryview]]) -> int:
        """Store several blobs (as a block's published blobs); return how many were new.

        Sizes and hashes of the whole batch are checked before anything is written; a
        manifest is checked when its turn comes, so its children may come earlier in the
        same batch. A rejected blob is never stored (the batch's earlier, valid blobs are
        kept). Directories are fsynced once per batch rather than once per blob.
        """
        batch = list(blobs)
        for blob_id, content in batch:
            size = len(content)
            if self.max_blob_size is not None and size > self.max_blob_size:
                raise BlobTooLarge(blob_id, size, self.max_blob_size)
            actual_id = BlobId.for_content(blob_id.blob_type, content)
            if actual_id != blob_id:
                raise BlobMismatch(blob_id, actual_id)
        written = 0
        touched_directories: dict[Path, None] = {}
        try:
            for blob_id, content in batch:
                path = self.blob_path(blob_id)
                if path.is_file():
                    try:
                        self._read_verified(blob_id)
                        continue
                    except CorruptBlob:
                        pass  # quarantined and logged; write the good bytes below
                    except BlobNotFound:
                        pass  # deleted meanwhile
                if blob_id.blob_type is BlobType.MANIFEST:
                    self._check_manifest_complete(blob_id, parse_manifest(content))
                self._write_atomically(path, [content], sync_directory=False)
                touched_directories[path.parent] = None
                with self._lock:
                    self._verified_blobs.add(blob_id)
                written += 1
        finally:
            if self.durable:
                for directory in touched_directories:
                    _fsync_directory(directory)
        return written

    def read_blob(self, blob_id: BlobId) -> bytes:
        """The blob's bytes; raise BlobNotFound, or CorruptBlob if the file fails its hash."""
        return self._read_verified(blob_id)

    def open_blob(self, blob_id: BlobId) -> mmap.mmap:
        """A read-only memory map of the blob, verified before it is returned."""
        path = self.blob_path(blob_id)
        mapping = self._map_file(path, str(blob_id))
        if self._needs_verification(blob_id):
            with memoryview(mapping) as view:
                actual = BlobId.for_content(blob_id.blob_type, view)
            if actual != blob_id:
                mapping.close()
                raise self._quarantine_blob(blob_id, path, actual)
            with self._lock:
                self._verified_blobs.add(blob_id)
        return mapping

    def delete(self, blob_id: BlobId) -> bool:
        """Remove the blob; return whether it was stored."""
        with self._lock:
            self._verified_blobs.discard(blob_id)
        try:
            self.blob_path(blob_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def read_manifest(self, manifest_id: BlobId) -> Manifest:
        """The stored, validated manifest ``manifest_id``."""
        if manifest_id.blob_type is not BlobType.MANIFEST:
            raise MalformedManifest(f"{manifest_id} is not a manifest id")
        return parse_manifest(self._read_verified(manifest_id))

    # ----------------------------------------------------------------- files

    def missing_for_file(self, manifest_id: BlobId) -> list[BlobId]:
        """Every blob of the file's tree not stored yet (manifests found are followed).

        A client fetching a file asks for these, writes them, and asks again until empty.
        """
        if not self.contains(manifest_id):
            return [manifest_id]
        missing: dict[BlobId, None] = {}
        pending = [(manifest_id, 0)]
        seen: set[BlobId] = set()
        while pending:
            current, depth = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            try:
                manifest = self.read_manifest(current)
            except (BlobNotFound, CorruptBlob):  # vanished or quarantined meanwhile
                missing[current] = None
                continue
            for entry in manifest.entries:
                if not self.contains(entry.blob_id):
                    missing[entry.blob_id] = None
                elif (
                    entry.blob_id.blob_type is BlobType.MANIFEST and depth < self.max_manifest_depth
                ):
                    pending.append((entry.blob_id, depth + 1))
        return list(missing)

    def open_file_path(self, manifest_id: BlobId) -> Path:
        """The path of the whole file, assembled and verified on first need.

        ``gguf.GGUFReader(path)`` and ``np.memmap`` map it directly.
        """
        manifest = self.read_manifest(manifest_id)
        path = self._files_dir / manifest.file_hash.hex()
        with self._assembly_lock:
            # One assembly at a time in this process; another process may race harmlessly
            # (both renames put identical, verified bytes in place).
            if path.is_file() and self._cached_file_is_good(path, manifest):
                return path
            self._assemble_file(manifest_id, manifest, path)
        return path

    def open_file(self, manifest_id: BlobId) -> mmap.mmap:
        """The whole file as one read-only memory map, never built in Python bytes."""
        path = self.open_file_path(manifest_id)
        return self._map_file(path, f"file of {manifest_id}")

    # ----------------------------------------------------------------- internals

    def _read_verified(self, blob_id: BlobId) -> bytes:
        path = self.blob_path(blob_id)
        try:
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"blob {blob_id} is not stored in {self.root}") from exc
        if self._needs_verification(blob_id):
            actual = BlobId.for_content(blob_id.blob_type, content)
            if actual != blob_id:
                raise self._quarantine_blob(blob_id, path, actual)
            with self._lock:
                self._verified_blobs.add(blob_id)
        return content

    def _remove_stale_temporary_files(self) -> None:
        """Delete assemblies left by a crashed process (they can be as large as a model).

        Only files older than STALE_TEMPORARY_AGE are removed: a younger one may belong to
        another process assembling right now.
        """
        cutoff = time.time() - STALE_TEMPORARY_AGE
        for temporary in self._files_dir.glob(".*.tmp"):
            with suppress(FileNotFoundError):
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
                    logger.info("removed stale temporary file %s", temporary)

    def _needs_verification(self, blob_id: BlobId) -> bool:
        if self.verify_every_read:
            return True
        with self._lock:
            return blob_id not in self._verified_blobs

    def _quarantine_blob(self, blob_id: BlobId, path: Path, actual: BlobId) -> CorruptBlob:
        destination = self._quarantine(path)
        logger.error(
            "corrupt blob %s: file %s hashes to %s; quarantined to %s (not served)",
            blob_id,
            path,
            actual.hash.hex(),
            destination,
        )
        with self._lock:
            self._verified_blobs.discard(blob_id)
        return CorruptBlob(blob_id, path, destination)

    def _quarantine(self, path: Path) -> Path:
        destination = self._quarantine_dir / f"{path.name}.{time.time_ns()}"
        with suppress(FileNotFoundError):  # another thread or process already moved it
            os.replace(path, destination)
        return destination

    def _check_manifest_complete(self, manifest_id: BlobId, manifest: Manifest) -> None:
        """Every named blob stored with its declared length, and the bytes hash to file_hash."""
        missing = self.missing(entry.blob_id for entry in manifest.entries)
        if missing:
            raise ManifestMissingBlobs(manifest_id, missing)
        for entry in manifest.entries:
            if entry.blob_id.blob_type is BlobType.MANIFEST:
                child = self.read_manifest(entry.blob_id)
                if child.total_length != entry.length:
                    raise ManifestLengthMismatch(
                        f"manifest {manifest_id} gives child {entry.blob_id} {entry.length} bytes, "
                        f"the child declares {child.total_length}"
                    )
                if child.media_type != manifest.media_type:
                    raise MalformedManifest(
                        f"manifest {manifest_id} is {manifest.media_type} but its child "
                        f"{entry.blob_id} is {child.media_type}"
                    )
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        for content in self._iter_chunk_contents(manifest_id, manifest):
            hasher.update(content)
        actual = CryptoHash(hasher.digest())
        if actual != manifest.file_hash:
            raise ManifestHashMismatch(manifest_id, manifest.file_hash, actual)

    def _iter_chunk_contents(self, manifest_id: BlobId, manifest: Manifest) -> Iterator[bytes]:
        """The verified bytes of every leaf chunk, in order, one chunk in memory at a time."""

        def load(child_id: BlobId) -> Manifest:
            return manifest if child_id == manifest_id else self.read_manifest(child_id)

        location: ChunkLocation
        for location in walk_manifest_tree(manifest_id, load, self.max_manifest_depth):
            try:
                content = self._read_verified(location.blob_id)
            except BlobNotFound as exc:
                raise ManifestMissingBlobs(manifest_id, [location.blob_id]) from exc
            if len(content) != location.length:
                raise ManifestLengthMismatch(
                    f"chunk {location.blob_id} at offset {location.offset} of manifest "
                    f"{manifest_id} has {len(content)} bytes, the manifest says {location.length}"
                )
            yield content

    def _assemble_file(self, manifest_id: BlobId, manifest: Manifest, path: Path) -> None:
        with self._lock:
            self._verified_files.discard(manifest.file_hash)
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        length = 0

        def verified_pieces() -> Iterator[bytes]:
            nonlocal length
            for content in self._iter_chunk_contents(manifest_id, manifest):
                hasher.update(content)
                length += len(content)
                yield content

        def check() -> None:
            if length != manifest.total_length:
                raise ManifestLengthMismatch(
                    f"manifest {manifest_id} declares {manifest.total_length} bytes, "
                    f"its chunks hold {length}"
                )
            actual = CryptoHash(hasher.digest())
            if actual != manifest.file_hash:
                raise ManifestHashMismatch(manifest_id, manifest.file_hash, actual)

        self._write_atomically(path, verified_pieces(), before_rename=check)
        with self._lock:
            self._verified_files.add(manifest.file_hash)
        logger.info("assembled %s (%d bytes) into %s", manifest_id, length, path)

    def _cached_file_is_good(self, path: Path, manifest: Manifest) -> bool:
        with self._lock:
            if manifest.file_hash in self._verified_files:
                return True
        if path.stat().st_size == manifest.total_length and not self.verify_cached_files:
            return True
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        buffer = bytearray(_COPY_BUFFER_SIZE)
        length = 0
        with path.open("rb", buffering=0) as file:
            while count := file.readinto(buffer):
                hasher.update(memoryview(buffer)[:count])
                length += count
        actual = CryptoHash(hasher.digest())
        if length == manifest.total_length and actual == manifest.file_hash:
            with self._lock:
                self._verified_files.add(manifest.file_hash)
            return True
        destination = self._quarantine(path)
        logger.error(
            "corrupt cached file %s: %d bytes hashing to %s, expected %d bytes hashing to %s; "
            "quarantined to %s, rebuilding from chunks",
            path,
            length,
            actual.hex(),
            manifest.total_length,
            manifest.file_hash.hex(),
            destination,
        )
        return False

    def _write_atomically(
        self,
        path: Path,
        pieces: Iterable[bytes | bytearray | memoryview],
        before_rename: Callable[[], None] | None = None,
        sync_directory: bool = True,
    ) -> None:
        """Write ``pieces`` to a temporary file beside ``path``, fsync, rename, fsync the dir."""
        directory = path.parent
        self._make_directory(directory)
        descriptor, temporary_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(descriptor, "wb") as file:
                for piece in pieces:
                    file.write(piece)
                file.flush()
                if before_rename is not None:
                    before_rename()
                if self.durable:
                    os.fsync(file.fileno())
            os.replace(temporary_name, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary_name)
            raise
        if self.durable and sync_directory:
            _fsync_directory(directory)

    def _make_directory(self, directory: Path) -> None:
        if directory.is_dir():
            return
        parent = directory.parent
        self._make_directory(parent)
        with suppress(FileExistsError):
            directory.mkdir()
            if self.durable:
                _fsync_directory(parent)

    def _map_file(self, path: Path, what: str) -> mmap.mmap:
        try:
            with path.open("rb") as file:
                if os.fstat(file.fileno()).st_size == 0:
                    raise BlobNotMappable(
                        f"{what} at {path} is empty; an empty file cannot be mapped"
                    )
                return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"{what} is not stored in {self.root}") from exc


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
