"""edgechain.storage: where a validator or client keeps chains, certificates and blobs.

Storage      the protocol (chain state views, certificates by hash, blobs by id)
DbStorage    Storage over a KeyValueStore, blobs optionally in a content-addressed BlobStore
BlobStore    verified blob files on disk, and whole files mapped from manifests
"""

from __future__ import annotations

from edgechain.storage.blob_store import BlobStore
from edgechain.storage.db_storage import DbStorage
from edgechain.storage.errors import (
    BlobNotFound,
    CertificateNotFound,
    CorruptCertificate,
    StorageError,
)
from edgechain.storage.storage import Storage

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "CertificateNotFound",
    "CorruptCertificate",
    "DbStorage",
    "Storage",
    "StorageError",
]
