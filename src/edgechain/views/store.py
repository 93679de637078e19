"""The key-value store seam: a `Batch` of writes applied atomically, and the `KeyValueStore` protocol.

Keys and values are raw bytes; keys order lexicographically as unsigned bytes (``memcmp``),
which every backend (memory, SQLite BLOB, PostgreSQL BYTEA) agrees on. Views above this layer
turn typed values into these bytes with the canonical encoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from edgechain.views.errors import ViewError


class WriteKind(Enum):
    """What one operation of a batch does."""

    PUT = "put"
    DELETE = "delete"
    DELETE_PREFIX = "delete_prefix"


@dataclass(frozen=True, slots=True)
class WriteOperation:
    """One operation of a batch."""

    kind: WriteKind
    """Put one key, delete one key, or delete every key that starts with ``key``."""
    key: bytes
    """The key (or the prefix, for DELETE_PREFIX)."""
    value: bytes = b""
    """The value written by a PUT; empty otherwise."""


def _check_bytes(what: str, data: object) -> bytes:
    if not isinstance(data, bytes):
        raise ViewError(f"a batch {what} must be bytes, got {type(data).__name__}")
    return data


class Batch:
    """Write operations applied in order and atomically by `KeyValueStore.write_batch`.

    Order matters: a ``put`` after a ``delete_prefix`` covering its key survives.
    """

    __slots__ = ("_operations",)

    def __init__(self) -> None:
        self._operations: list[WriteOperation] = []

    def put(self, key: bytes, value: bytes) -> None:
        self._operations.append(
            WriteOperation(WriteKind.PUT, _check_bytes("key", key), _check_bytes("value", value))
        )

    def delete(self, key: bytes) -> None:
        self._operations.append(WriteOperation(WriteKind.DELETE, _check_bytes("key", key)))

    def delete_prefix(self, prefix: bytes) -> None:
        self._operations.append(
            WriteOperation(WriteKind.DELETE_PREFIX, _check_bytes("prefix", prefix))
        )

    def is_empty(self) -> bool:
        return not self._operations

    @property
    def operations(self) -> tuple[WriteOperation, ...]:
        """The operations, in the order they apply."""
        return tuple(self._operations)

    def __iter__(self) -> Iterator[WriteOperation]:
        return iter(self._operations)

    def __len__(self) -> int:
        return len(self._operations)

    def __repr__(self) -> str:
        return f"Batch({len(self._operations)} operations)"


@runtime_checkable
class KeyValueStore(Protocol):
    """A byte-keyed store with ordered prefix scans and atomic batches."""

    def read_value(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        ...

    def read_multi_values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values under ``keys``, in the same order (None where absent)."""
        ...

    def contains_key(self, key: bytes) -> bool:
        """Whether ``key`` holds a value."""
        ...

    def find_keys_by_prefix(self, prefix: bytes) -> list[bytes]:
        """Every full key that starts with ``prefix``, ascending."""
        ...

    def find_key_values_by_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, ascending by key."""
        ...

    def write_batch(self, batch: Batch) -> None:
        """Apply every operation of ``batch`` in order, all or nothing."""
        ...

    def close(self) -> None:
        """Release the backend; later calls raise `StoreClosed`."""
        ...


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key that starts with ``prefix``; None if unbounded.

    Trailing 0xff bytes cannot be incremented, so they are dropped first: the successor of
    ``b"a\\xff"`` is ``b"b"``, and a prefix made only of 0xff bytes (or empty) has none.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
