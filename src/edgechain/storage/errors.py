"""Errors of the storage layer: chain states, certificates and the blob store."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class StorageError(EdgechainError):
    """Something stored is missing, corrupt, or could not be written."""
