"""Blob availability: a block may only publish blobs whose bytes the executing node holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from edgechain.base.blobs import Blob
from edgechain.base.identifiers import BlobId
from edgechain.execution.errors import BlobsNotFound

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


class BlobSource(Protocol):
    """Where a validator reads the bytes of the blobs it stores (e.g. its `Storage`)."""

    def read_blob(self, blob_id: BlobId) -> Blob: ...


def blob_access(blob_checker: BlobChecker | object) -> tuple[BlobChecker, BlobSource | None]:
    """The checker and, where one is reachable, the blob source behind ``blob_checker``.

    ``execute_block`` accepts either a bare checker function, an object with ``missing_blobs``
    and ``read_blob`` (a `Storage`), or a storage's bound ``missing_blobs`` method; contracts
    can read blobs (their own bytecode, data blobs) only where a source is reachable.
    """
    missing_blobs = getattr(blob_checker, "missing_blobs", None)
    if callable(missing_blobs) and callable(getattr(blob_checker, "read_blob", None)):
        return missing_blobs, blob_checker  # type: ignore[return-value]
    owner = getattr(blob_checker, "__self__", None)
    source = owner if callable(getattr(owner, "read_blob", None)) else None
    if not callable(blob_checker):
        raise TypeError(f"{type(blob_checker).__name__} is neither a blob checker nor a storage")
    return blob_checker, source  # type: ignore[return-value]
