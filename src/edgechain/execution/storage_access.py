"""An application's key-value space as its SDK views see it: metered for contracts, read-only for services.

`ApplicationStorage` wraps the application's ``ApplicationStorageView`` (bytes to bytes) with
an accountant: a contract's accountant charges fuel and counts bytes read and written
against the block's limits *before* each access; a service's refuses every write.
"""

from __future__ import annotations

from typing import Protocol

from edgechain.execution.applications import ApplicationStorageView
from edgechain.execution.errors import ServiceWriteAttempt

STATE_ACCESS_FUEL = 5
"""Fuel of one state read, write or removal, besides its bytes."""
STATE_BYTES_PER_FUEL = 16
"""Bytes of key and value that one more unit of fuel pays for."""


class StorageAccountant(Protocol):
    """Decides whether an access may happen and charges for it, before it happens."""

    def charge_state_read(self, size: int) -> None: ...

    def charge_state_write(self, size: int) -> None: ...


class ReadOnlyAccountant:
    """A service's: reads are free, writes are refused."""

    def __init__(self, where: str) -> None:
        self._where = where

    def charge_state_read(self, size: int) -> None:
        return None

    def charge_state_write(self, size: int) -> None:
        raise ServiceWriteAttempt(
            f"{self._where}: a service cannot change application state; schedule an operation"
            " (runtime.schedule_operation) for the next block instead"
        )


class ApplicationStorage:
    """The byte-level store of one application, charged through its accountant."""

    __slots__ = ("_accountant", "_view")

    def __init__(self, view: ApplicationStorageView, accountant: StorageAccountant) -> None:
        self._view = view
        self._accountant = accountant

    def read(self, key: bytes) -> bytes | None:
        """The value stored at ``key`` (charged by key and value size)."""
        self._accountant.charge_state_read(len(key))
        value = self._view.entries.get(key)
        if value is not None:
            self._accountant.charge_state_read(len(value))
        return value

    def write(self, key: bytes, value: bytes) -> None:
        """Store ``value`` at ``key`` (charged before the write)."""
        self._accountant.charge_state_write(len(key) + len(value))
        self._view.entries.insert(key, value)

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (charged before the removal)."""
        self._accountant.charge_state_write(len(key))
        self._view.entries.remove(key)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        """Every key that starts with ``prefix``, in the store's (deterministic) order."""
        keys = [key for key in self._view.entries.keys() if key.startswith(prefix)]  # noqa: SIM118
        self._accountant.charge_state_read(sum(len(key) for key in keys) + len(prefix))
        return keys


def application_storage_of(runtime: object) -> ApplicationStorage:
    """The application storage a runtime implementation holds (for the SDK's `RootView.load`)."""
    storage = getattr(runtime, "_storage", None)
    if not isinstance(storage, ApplicationStorage):
        raise TypeError(
            f"{type(runtime).__name__} is not an edgechain runtime: it holds no application storage"
        )
    return storage
