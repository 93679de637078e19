"""Blobs and manifests: a file cut into content-addressed chunk blobs under a manifest tree.

A blob is bytes with a type; its id is the type and the BLAKE3 of the bytes. A file larger
than one blob becomes DATA chunk blobs plus a MANIFEST blob listing them in order (with
each chunk's length), the file's total length, the BLAKE3 of the whole file, a media type
and an optional name. A manifest too large for one blob becomes a tree: the root lists
child manifests, each of which describes a contiguous segment of the file in the same
form (its own length and BLAKE3), so every node of the tree can be verified on its own.

This module is pure: it reads the buffer it is given and nothing else. Checks that need
the stored blobs (a named chunk that does not exist, a chunk whose real length differs)
are done by the storage side, which raises the errors defined here.

    BaseLayerError
    ├── InvalidSplitParameters        a chunk size or blob limit that cannot work
    └── ManifestError                 a manifest that cannot describe a file
        ├── MalformedManifest         not a canonical Manifest, or entries of mixed/wrong type
        ├── ManifestLengthMismatch    lengths that do not add up
        ├── ManifestHashMismatch      the bytes do not hash to the manifest's file hash
        ├── ManifestMissingBlobs      names blobs that do not exist (raised by storage)
        └── ManifestTreeError         a cycle or a tree deeper than MAX_MANIFEST_DEPTH
"""

from __future__ import annotations

import enum
import mmap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import blake3

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import BaseLayerError, EncodingError
from edgechain.base.identifiers import BlobId, BlobType

DEFAULT_MAX_BLOB_SIZE = 1_000_000
"""Largest blob, in bytes, unless told otherwise: the testnet policy's 1 MB
(`edgechain.execution.policy`), so a default split is publishable under it."""

MAX_MANIFEST_DEPTH = 8
"""Deepest manifest tree accepted: the root is depth 0, its child manifests depth 1, ..."""

MAX_NAME_LENGTH = 255
"""Longest optional file name a manifest may carry, in characters."""

_ENTRY_ENCODED_BOUND = 48
"""Upper bound of the encoded size of one ManifestEntry (array, BlobId, 32-byte hash, u64)."""

_ARRAY_HEADER_BOUND = 9
"""Upper bound of a CBOR array header (a 64-bit count)."""


class InvalidSplitParameters(BaseLayerError):
    """A chunk size or blob size limit with which a file cannot be split."""


class ManifestError(BaseLayerError):
    """A manifest that does not, or cannot, describe a file."""


class MalformedManifest(ManifestError):
    """Bytes that are not a canonical Manifest, or a Manifest whose entries have the wrong types."""


class ManifestLengthMismatch(ManifestError):
    """Lengths that do not add up: declared entry lengths vs. total, or a chunk vs. its entry."""


class ManifestHashMismatch(ManifestError):
    """The bytes a manifest describes do not hash to its file hash."""

    def __init__(
        self, manifest_id: BlobId | None, expected: CryptoHash, actual: CryptoHash
    ) -> None:
        self.manifest_id = manifest_id
        self.expected = expected
        self.actual = actual
        where = f"manifest {manifest_id}" if manifest_id is not None else "a manifest"
        super().__init__(
            f"{where} declares file hash {expected.hex()} but its chunks hash to {actual.hex()}"
        )


class ManifestMissingBlobs(ManifestError):
    """A manifest names blobs that the store does not hold."""

    def __init__(self, manifest_id: BlobId, missing: Sequence[BlobId]) -> None:
        self.manifest_id = manifest_id
        self.missing = tuple(missing)
        shown = ", ".join(str(blob_id) for blob_id in self.missing[:3])
        more = f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else ""
        super().__init__(
            f"manifest {manifest_id} names {len(self.missing)} blob(s) not stored: {shown}{more}"
        )


class ManifestTreeError(ManifestError):
    """A manifest tree with a cycle or deeper than MAX_MANIFEST_DEPTH."""


class MediaType(enum.StrEnum):
    """What kind of file a manifest describes, so a service knows which loader to try."""

    GGUF = "gguf"
    SAFETENSORS = "safetensors"
    LLAMA2C = "llama2c"
    TOKENIZER_JSON = "tokenizer.json"
    TOKENIZER_BIN = "tokenizer.bin"
    OCTET_STREAM = "octet-stream"

    @classmethod
    def for_file_name(cls, file_name: str) -> MediaType:
        """Guess from a file name (``model.gguf`` → GGUF); OCTET_STREAM when unknown."""
        lowered = file_name.rsplit("/", 1)[-1].lower()
        if lowered.endswith(".gguf"):
            return cls.GGUF
        if lowered.endswith(".safetensors"):
            return cls.SAFETENSORS
        if lowered == "tokenizer.json":
            return cls.TOKENIZER_JSON
        if lowered == "tokenizer.bin":
            return cls.TOKENIZER_BIN
        if lowered.endswith(".bin"):
            return cls.LLAMA2C
        return cls.OCTET_STREAM


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes with a type, addressed by their BLAKE3."""

    blob_type: BlobType
    """What the blob holds."""
    content: bytes
    """The bytes."""

    @property
    def id(self) -> BlobId:
        """The content address (hashes the content on every call: keep it if you need it twice)."""
        return BlobId.for_content(self.blob_type, self.content)

    @property
    def size(self) -> int:
        return len(self.content)

    @classmethod
    def data(cls, content: bytes) -> Blob:
        return cls(BlobType.DATA, content)

    @classmethod
    def of_manifest(cls, manifest: Manifest) -> Blob:
        return cls(BlobType.MANIFEST, encode(manifest))

    def __repr__(self) -> str:
        return f"Blob({self.blob_type.name}, {len(self.content)} bytes)"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One piece of a file: a chunk blob, or a child manifest describing a segment."""

    blob_id: BlobId
    """A DATA chunk, or a MANIFEST describing a contiguous segment."""
    length: int
    """Bytes of the file this entry covers."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """A file as an ordered list of chunk blobs (or child manifests) with its length and hash."""

    entries: tuple[ManifestEntry, ...]
    """The pieces in file order: all DATA chunks, or all child MANIFESTs."""
    total_length: int
    """Length of the file (or of this node's segment), in bytes."""
    file_hash: CryptoHash
    """Plain BLAKE3 of the file (or segment), equal to ``b3sum`` of the file."""
    media_type: MediaType
    """What the file is, for the loader."""
    name: str | None = None
    """Optional file name (metadata only; never used as a path)."""

    @property
    def is_tree_node(self) -> bool:
        """Whether the entries are child manifests rather than chunks."""
        return bool(self.entries) and self.entries[0].blob_id.blob_type is BlobType.MANIFEST

    def validate(self) -> None:
        """Check everything that can be checked without the blobs; raise a ManifestError."""
        if not isinstance(self.total_length, int) or self.total_length < 0:
            raise MalformedManifest(f"total length {self.total_length!r} is not a length")
        if self.name is not None and len(self.name) > MAX_NAME_LENGTH:
            raise MalformedManifest(
                f"name of {len(self.name)} characters exceeds {MAX_NAME_LENGTH}"
            )
        entry_types = {entry.blob_id.blob_type for entry in self.entries}
        if not entry_types <= {BlobType.DATA} and not entry_types <= {BlobType.MANIFEST}:
            names = sorted(blob_type.name for blob_type in entry_types)
            raise MalformedManifest(
                f"a manifest lists DATA chunks or MANIFESTs, not a mix or other types: {names}"
            )
        declared = 0
        for index, entry in enumerate(self.entries):
            if entry.length <= 0:
                raise ManifestLengthMismatch(
                    f"entry {index} ({entry.blob_id}) has length {entry.length}"
                )
            declared += entry.length
        if declared != self.total_length:
            raise ManifestLengthMismatch(
                f"entries add up to {declared} bytes, the manifest declares {self.total_length}"
            )
        if self.total_length == 0 and self.file_hash != CryptoHash.of_bytes(b""):
            raise ManifestHashMismatch(None, self.file_hash, CryptoHash.of_bytes(b""))

    def to_blob(self) -> Blob:
        return Blob.of_manifest(self)


def parse_manifest(content: bytes | bytearray | memoryview) -> Manifest:
    """Decode a MANIFEST blob's bytes and validate them; raise a ManifestError otherwise."""
    try:
        manifest: Manifest = decode(content, Manifest)
    except EncodingError as exc:
        raise MalformedManifest(f"not a canonical manifest: {exc}") from exc
    manifest.validate()
    return manifest


@dataclass(frozen=True, slots=True)
class ChunkLocation:
    """A leaf chunk of a manifest tree and where it sits in the file."""

    blob_id: BlobId
    """The DATA chunk."""
    offset: int
    """Byte offset of the chunk in the file."""
    length: int
    """Length the manifest declares for the chunk."""


def walk_manifest_tree(
    root_id: BlobId,
    load_manifest: Callable[[BlobId], Manifest],
    max_depth: int = MAX_MANIFEST_DEPTH,
) -> Iterator[ChunkLocation]:
    """Yield the leaf chunks of the tree under ``root_id`` in file order.

    ``load_manifest`` fetches and parses one manifest (the I/O is the caller's). Checks, as
    it goes: every child's declared length equals the length its parent gives it, the tree
    is no deeper than ``max_depth``, and no manifest is its own ancestor.
    """
    if root_id.blob_type is not BlobType.MANIFEST:
        raise MalformedManifest(f"{root_id} is not a manifest id")
    root = load_manifest(root_id)
    yield from _walk(root_id, root, load_manifest, 0, max_depth, (root_id,), 0)


def _walk(
    manifest_id: BlobId,
    manifest: Manifest,
    load_manifest: Callable[[BlobId], Manifest],
    depth: int,
    max_depth: int,
    ancestors: tuple[BlobId, ...],
    offset: int,
) -> Iterator[ChunkLocation]:
    for entry in manifest.entries:
        if entry.blob_id.blob_type is BlobType.DATA:
            yield ChunkLocation(entry.blob_id, offset, entry.length)
        else:
            if entry.blob_id in ancestors:
                raise ManifestTreeError(f"manifest {entry.blob_id} is its own ancestor (a cycle)")
            if depth + 1 > max_depth:
                raise ManifestTreeError(
                    f"manifest tree under {ancestors[0]} is deeper than {max_depth} levels"
                )
            child = load_manifest(entry.blob_id)
            if child.total_length != entry.length:
                raise ManifestLengthMismatch(
                    f"manifest {manifest_id} gives child {entry.blob_id} {entry.length} bytes, "
                    f"the child declares {child.total_length}"
                )
            yield from _walk(
                entry.blob_id,
                child,
                load_manifest,
                depth + 1,
                max_depth,
                (*ancestors, entry.blob_id),
                offset,
            )
        offset += entry.length


class SplitFile:
    """A buffer cut into chunk blobs and a manifest tree; chunks are copied out one at a time.

    It holds a view of the buffer: keep the buffer open while iterating the chunks, and
    ``close()`` it (or use it as a context manager) before closing an mmap behind it.
    """

    __slots__ = ("_drop_pages", "_source", "_view", "chunk_entries", "chunk_size", "manifest_blobs")

    def __init__(
        self,
        source: bytes | bytearray | memoryview | mmap.mmap,
        view: memoryview,
        chunk_size: int,
        chunk_entries: tuple[ManifestEntry, ...],
        manifest_blobs: tuple[Blob, ...],
        drop_pages: bool,
    ) -> None:
        self._source = source
        self._view = view
        self._drop_pages = drop_pages
        self.chunk_size = chunk_size
        self.chunk_entries = chunk_entries
        """Every chunk in file order (a repeated chunk appears each time it occurs)."""
        self.manifest_blobs = manifest_blobs
        """Every manifest of the tree, children before their parents: the root is last."""

    @property
    def root_manifest(self) -> Blob:
        return self.manifest_blobs[-1]

    @property
    def manifest_id(self) -> BlobId:
        return self.root_manifest.id

    @property
    def chunk_ids(self) -> list[BlobId]:
        """The distinct chunk ids, in order of first occurrence."""
        return list(dict.fromkeys(entry.blob_id for entry in self.chunk_entries))

    def iter_chunks(self) -> Iterator[Blob]:
        """Yield each distinct chunk blob once, in file order, copying one chunk at a time."""
        for _, blob in self._iter_chunks_with_ids():
            yield blob

    def iter_blobs_with_ids(self) -> Iterator[tuple[BlobId, Blob]]:
        """``iter_blobs`` with each id, the chunks' taken from the split (not hashed again)."""
        yield from self._iter_chunks_with_ids()
        for manifest_blob in self.manifest_blobs:
            yield manifest_blob.id, manifest_blob

    def _iter_chunks_with_ids(self) -> Iterator[tuple[BlobId, Blob]]:
        seen: set[BlobId] = set()
        offset = 0
        for entry in self.chunk_entries:
            start, offset = offset, offset + entry.length
            if entry.blob_id in seen:
                continue
            seen.add(entry.blob_id)
            with self._view[start:offset] as chunk_view:
                content = bytes(chunk_view)
            _release_pages(self._source, start, offset, self._drop_pages)
            yield entry.blob_id, Blob(BlobType.DATA, content)

    def close(self) -> None:
        """Release the view of the buffer (the manifests and chunk list stay usable)."""
        self._view.release()

    def __enter__(self) -> SplitFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def iter_blobs(self) -> Iterator[Blob]:
        """Every blob to publish, in an order a store accepts: chunks, then manifests bottom-up."""
        yield from self.iter_chunks()
        yield from self.manifest_blobs


def split_into_blobs(
    buffer: bytes | bytearray | memoryview | mmap.mmap,
    chunk_size: int = DEFAULT_MAX_BLOB_SIZE,
    media_type: MediaType = MediaType.OCTET_STREAM,
    name: str | None = None,
    max_blob_size: int = DEFAULT_MAX_BLOB_SIZE,
    drop_pages: bool = False,
) -> SplitFile:
    """Cut ``buffer`` into chunks of ``chunk_size`` and build its manifest tree.

    One pass hashes every chunk and the whole file through a memoryview (nothing is
    copied); chunk blobs are then produced lazily by ``SplitFile.iter_chunks``. Manifests
    larger than ``max_blob_size`` are grouped under parent manifests until one root fits.
    ``drop_pages=True`` (only for a read-only ``mmap`` of a file) tells the kernel it may
    drop pages already read, so the process's resident memory stays bounded on huge files.
    """
    if chunk_size <= 0 or chunk_size > max_blob_size:
        raise InvalidSplitParameters(
            f"chunk size {chunk_size} must be between 1 and the blob limit {max_blob_size}"
        )
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise InvalidSplitParameters(f"name of {len(name)} characters exceeds {MAX_NAME_LENGTH}")
    per_manifest = _entries_per_manifest(max_blob_size, media_type, name)
    view = memoryview(buffer).cast("B")
    total_length = len(view)
    try:
        _check_tree_depth(total_length, chunk_size, per_manifest, max_blob_size)
        entries, file_hash = _hash_chunks(buffer, view, chunk_size, drop_pages)
        manifest_blobs: list[Blob] = []
        level = entries
        level_ranges = _entry_ranges(entries)
        while len(level) > per_manifest:
            parent_level: list[ManifestEntry] = []
            parent_ranges: list[tuple[int, int]] = []
            for group_start in range(0, len(level), per_manifest):
                group = level[group_start : group_start + per_manifest]
                ranges = level_ranges[group_start : group_start + per_manifest]
                segment_start, segment_end = ranges[0][0], ranges[-1][1]
                segment_hash = _hash_segment(buffer, view, segment_start, segment_end, drop_pages)
                child = Manifest(
                    tuple(group), segment_end - segment_start, segment_hash, media_type
                )
                child_blob = _manifest_blob(child, max_blob_size)
                manifest_blobs.append(child_blob)
                parent_level.append(ManifestEntry(child_blob.id, child.total_length))
                parent_ranges.append((segment_start, segment_end))
            level, level_ranges = parent_level, parent_ranges
        root = Manifest(tuple(level), total_length, file_hash, media_type, name)
        manifest_blobs.append(_manifest_blob(root, max_blob_size))
    except BaseException:
        view.release()
        raise
    return SplitFile(buffer, view, chunk_size, tuple(entries), tuple(manifest_blobs), drop_pages)


def _check_tree_depth(
    total_length: int, chunk_size: int, per_manifest: int, max_blob_size: int
) -> None:
    """Refuse, before hashing anything, a file whose manifest tree would be too deep."""
    count = -(-total_length // chunk_size)
    depth = 0
    while count > per_manifest:
        count = -(-count // per_manifest)
        depth += 1
    if depth > MAX_MANIFEST_DEPTH:
        raise InvalidSplitParameters(
            f"{total_length} bytes in chunks of {chunk_size} need a manifest tree of depth "
            f"{depth}, deeper than {MAX_MANIFEST_DEPTH}, under a blob limit of {max_blob_size}"
        )


def _hash_chunks(
    source: bytes | bytearray | memoryview | mmap.mmap,
    view: memoryview,
    chunk_size: int,
    drop_pages: bool,
) -> tuple[list[ManifestEntry], CryptoHash]:
    """One pass over the buffer: every chunk's id and the whole file's BLAKE3."""
    file_hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    entries: list[ManifestEntry] = []
    for start in range(0, len(view), chunk_size):
        with view[start : start + chunk_size] as chunk:
            file_hasher.update(chunk)
            entries.append(ManifestEntry(BlobId.for_content(BlobType.DATA, chunk), len(chunk)))
        _release_pages(source, start, start + entries[-1].length, drop_pages)
    return entries, CryptoHash(file_hasher.digest())


def _entries_per_manifest(max_blob_size: int, media_type: MediaType, name: str | None) -> int:
    fixed = len(encode(Manifest((), 0, CryptoHash(bytes(32)), media_type, name)))
    # Conservative: the empty tuple's one-byte header may grow to 9 bytes; u64 total length.
    available = max_blob_size - fixed - _ARRAY_HEADER_BOUND - 9
    per_manifest = available // _ENTRY_ENCODED_BOUND
    if per_manifest < 2:
        raise InvalidSplitParameters(
            f"a blob limit of {max_blob_size} bytes cannot hold a manifest of two entries"
        )
    return per_manifest


def _entry_ranges(entries: list[ManifestEntry]) -> list[tuple[int, int]]:
    ranges = []
    offset = 0
    for entry in entries:
        ranges.append((offset, offset + entry.length))
        offset += entry.length
    return ranges


def _hash_segment(
    source: bytes | bytearray | memoryview | mmap.mmap,
    view: memoryview,
    start: int,
    end: int,
    drop_pages: bool,
) -> CryptoHash:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    window = 16 << 20
    for window_start in range(start, end, window):
        window_end = min(end, window_start + window)
        with view[window_start:window_end] as window_view:
            hasher.update(window_view)
        _release_pages(source, window_start, window_end, drop_pages)
    return CryptoHash(hasher.digest())


def _manifest_blob(manifest: Manifest, max_blob_size: int) -> Blob:
    blob = manifest.to_blob()
    if blob.size > max_blob_size:  # the bound above is conservative; this cannot happen
        raise InvalidSplitParameters(
            f"a manifest of {len(manifest.entries)} entries encodes to {blob.size} bytes, "
            f"over the blob limit {max_blob_size}"
        )
    return blob


def _release_pages(
    source: bytes | bytearray | memoryview | mmap.mmap, start: int, end: int, drop_pages: bool
) -> None:
    """Let the kernel drop the pages of a read-only file mapping that were just read."""
    if not drop_pages or not isinstance(source, mmap.mmap) or end <= start:
        return
    aligned_start = start - start % mmap.PAGESIZE
    source.madvise(mmap.MADV_DONTNEED, aligned_start, end - aligned_start)
