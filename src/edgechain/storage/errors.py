"""Errors of the storage layer: chain states, certificates and the blob store."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class StorageError(EdgechainError):
    """Something stored is missing, corrupt, or could not be written."""


class CertificateNotFound(StorageError):
    """No certificate with this hash is stored."""


class BlobNotFound(StorageError):
    """No blob with this id is stored."""


class BlobTooLarge(StorageError):
    """A blob over the store's size limit (nothing was stored)."""

    def __init__(self, blob_id: object, size: int, limit: int) -> None:
        self.blob_id = blob_id
        self.size = size
        self.limit = limit
        super().__init__(f"blob {blob_id} has {size} bytes, over the limit of {limit}")


class BlobMismatch(StorageError):
    """Bytes offered for a blob id that they do not hash to (nothing was stored)."""

    def __init__(self, blob_id: object, actual_id: object) -> None:
        self.blob_id = blob_id
        self.actual_id = actual_id
        super().__init__(f"bytes offered as blob {blob_id} are blob {actual_id}")


class CorruptBlob(StorageError):
    """A stored blob file whose bytes no longer match its id; it was quarantined, never served."""

    def __init__(self, blob_id: object, path: object, quarantined_to: object) -> None:
        self.blob_id = blob_id
        self.path = path
        self.quarantined_to = quarantined_to
        super().__init__(
            f"stored blob {blob_id} at {path} is corrupt; moved to {quarantined_to}"
        )


class BlobNotMappable(StorageError):
    """An empty blob or file, which the operating system cannot memory-map."""


class CorruptCertificate(StorageError):
    """Stored certificate bytes that do not decode, or decode to another hash than their key's."""


class BlobUnavailable(StorageError):
    """No source gave a blob's bytes (each failed, timed out or sent bytes of another id)."""

    def __init__(self, blob_id: object, failures: dict[str, str]) -> None:
        self.blob_id = blob_id
        self.failures = dict(failures)
        detail = "; ".join(f"{source}: {reason}" for source, reason in self.failures.items())
        super().__init__(f"no source gave blob {blob_id} ({detail or 'no sources'})")
