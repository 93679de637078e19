"""Blob availability: a block may only publish blobs whose bytes the executing node holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
