"""Blob availability and local blob reading: what a node holds, how large it is, its bytes.

A block may only publish blobs whose bytes the executing node holds; contracts read blobs
through a `BlobReader` (the node's own storage: local reads, never a download; downloads
from other validators are ``edgechain.storage.blob_fetch``). A blob's size is learned
before its bytes are read, so a contract pays for a read before the node does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from edgechain.base.blobs import Blob
from edgechain.base.identifiers import BlobId, BlobType
from edgechain.execution.errors import BlobsNotFound

DATA_BLOB_TYPES = (BlobType.DATA, BlobType.MANIFEST)
"""Blobs applications may read: data, and the manifests that list a large file's data chunks."""

BlobChecker = Callable[[Sequence[BlobId]], Sequence[BlobId]]
"""Given blob ids, return those this node does NOT hold (empty when all are available)."""


def no_blobs_available(blob_ids: Sequence[BlobId]) -> Sequence[BlobId]:
    """A checker for a node that holds no blobs at all."""
    return list(blob_ids)


def check_blobs_available(blob_checker: BlobChecker, blob_ids: Sequence[BlobId]) -> None:
    """Raise BlobsNotFound listing every blob in ``blob_ids`` that the node does not hold."""
    if not blob_ids:
        return
    missing = list(blob_checker(blob_ids))
    if missing:
        raise BlobsNotFound(missing)


class BlobReader(Protocol):
    """Where a node reads the blobs it stores itself (e.g. its `Storage`).

    A reader may also offer ``blob_size(blob_id) -> int`` (the size without reading the
    bytes); `stored_blob_size` uses it where it exists.
    """

    def read_blob(self, blob_id: BlobId) -> Blob: ...


def blob_is_stored(reader: BlobReader, blob_id: BlobId) -> bool | None:
    """Whether ``reader`` stores the blob, asked without reading its bytes (its
    ``contains_blob``); None when the reader cannot tell that way."""
    contains_blob = getattr(reader, "contains_blob", None)
    if callable(contains_blob):
        return bool(contains_blob(blob_id))
    return None


def stored_blob_size(reader: BlobReader, blob_id: BlobId) -> int | None:
    """The size of a blob ``reader`` stores, learned without reading its bytes; None if it cannot tell.

    Asks the reader's ``blob_size`` where it has one, else the length of the blob's file in
    the reader's content-addressed ``blob_store`` (``blob_path``). The caller has checked
    that the blob is stored (a file that fails its hash is refused when its bytes are read).
    """
    blob_size = getattr(reader, "blob_size", None)
    if callable(blob_size):
        size = blob_size(blob_id)
        return size if isinstance(size, int) else None
    blob_path = getattr(getattr(reader, "blob_store", None), "blob_path", None)
    if callable(blob_path):
        try:
            return int(blob_path(blob_id).stat().st_size)
        except OSError:
            return None
    return None


def blob_access(blob_checker: BlobChecker | object) -> tuple[BlobChecker, BlobReader | None]:
    """The checker and, where one is reachable, the blob reader behind ``blob_checker``.

    ``execute_block`` accepts either a bare checker function, an object with ``missing_blobs``
    and ``read_blob`` (a `Storage`), or a storage's bound ``missing_blobs`` method; contracts
    can read blobs (their own bytecode, data blobs) only where a reader is reachable.
    """
    missing_blobs = getattr(blob_checker, "missing_blobs", None)
    if callable(missing_blobs) and callable(getattr(blob_checker, "read_blob", None)):
        return missing_blobs, blob_checker  # type: ignore[return-value]
    owner = getattr(blob_checker, "__self__", None)
    reader = owner if callable(getattr(owner, "read_blob", None)) else None
    if not callable(blob_checker):
        raise TypeError(f"{type(blob_checker).__name__} is neither a blob checker nor a storage")
    return blob_checker, reader  # type: ignore[return-value]
