"""Errors of the views layer: key-value stores and the typed views over them."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class ViewError(EdgechainError):
    """A view or key-value store failed: bad stored bytes, a closed store, a backend error."""


class CorruptedViewData(ViewError):
    """Bytes read from a store that do not decode to the type the view expects."""

    def __init__(self, key: bytes, expected: str, reason: str) -> None:
        super().__init__(f"stored value under key {key.hex()} is not a valid {expected}: {reason}")
        self.key = key
        self.expected = expected


class StoreClosed(ViewError):
    """An operation on a key-value store that has been closed."""


class StoreBackendError(ViewError):
    """The storage backend (SQLite, PostgreSQL) failed; nothing of the batch was written."""


class InvalidStoreUrl(ViewError):
    """A store URL that `open_store` does not understand."""


class ViewDeclarationError(ViewError):
    """A composite view declared two children with the same name, or a malformed child."""


class QueueEmpty(ViewError):
    """`QueueView.delete_front` on an empty queue."""
