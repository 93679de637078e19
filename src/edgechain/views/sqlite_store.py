"""`SqliteStore`: the embedded default key-value store, one SQLite file in WAL mode.

Each namespace is a table ``kv_<namespace>(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID``;
SQLite compares BLOBs with ``memcmp``, the byte order every store agrees on. Every
`write_batch` is one ``BEGIN IMMEDIATE … COMMIT`` transaction, rolled back on any error, so
a batch is all or nothing. The connection may be used from any thread, one at a time (a lock
serialises calls).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from edgechain.views.errors import StoreBackendError, StoreClosed, ViewError
from edgechain.views.store import Batch, WriteKind, prefix_successor

_NAMESPACE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,47}")
_READ_CHUNK = 500  # stays below SQLite's limit on bound parameters


def check_namespace(namespace: str) -> str:
    """Namespaces become table names: lower-case letters, digits and ``_``, starting with a letter."""
    if not isinstance(namespace, str) or not _NAMESPACE_PATTERN.fullmatch(namespace):
        raise ViewError(
            f"invalid store namespace {namespace!r}: use [a-z][a-z0-9_]*, at most 48 characters"
        )
    return namespace


class SqliteStore:
    """A `KeyValueStore` in one SQLite database file (``":memory:"`` also works)."""

    def __init__(self, path: str | Path, namespace: str = "default") -> None:
        self._path = str(path)
        self._table = f"kv_{check_namespace(namespace)}"
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        try:
            self._connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} "
                "(key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"
            )
        except sqlite3.Error as exc:
            if self._connection is not None:
                self._connection.close()
            raise StoreBackendError(f"cannot open SQLite store {self._path}: {exc}") from exc

    @property
    def path(self) -> str:
        return self._path

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreClosed(f"the SQLite store {self._path} is closed")
        return self._connection

    def _query(self, sql: str, parameters: Sequence[bytes]) -> list[tuple[bytes, ...]]:
        with self._lock:
            connection = self._open_connection()
            try:
                return [tuple(row) for row in connection.execute(sql, parameters).fetchall()]
            except sqlite3.Error as exc:
                raise StoreBackendError(f"SQLite read from {self._path} failed: {exc}") from exc

    def read_value(self, key: bytes) -> bytes | None:
        rows = self._query(f"SELECT value FROM {self._table} WHERE key = ?", [key])
        return bytes(rows[0][0]) if rows else None

    def read_multi_values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        found: dict[bytes, bytes] = {}
        unique_keys = list(dict.fromkeys(keys))
        for start in range(0, len(unique_keys), _READ_CHUNK):
            chunk = unique_keys[start : start + _READ_CHUNK]
            placeholders = ",".join("?" * len(chunk))
            for key, value in self._query(
                f"SELECT key, value FROM {self._table} WHERE key IN ({placeholders})", chunk
            ):
                found[bytes(key)] = bytes(value)
        return [found.get(key) for key in keys]

    def contains_key(self, key: bytes) -> bool:
        return bool(self._query(f"SELECT 1 FROM {self._table} WHERE key = ?", [key]))

    def _prefix_condition(self, prefix: bytes) -> tuple[str, list[bytes]]:
        successor = prefix_successor(prefix)
        if successor is None:
            return "key >= ?", [prefix]
        return "key >= ? AND key < ?", [prefix, successor]

    def find_keys_by_prefix(self, prefix: bytes) -> list[bytes]:
        condition, parameters = self._prefix_condition(prefix)
        rows = self._query(
            f"SELECT key FROM {self._table} WHERE {condition} ORDER BY key", parameters
        )
        return [bytes(row[0]) for row in rows]

    def find_key_values_by_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        condition, parameters = self._prefix_condition(prefix)
        rows = self._query(
            f"SELECT key, value FROM {self._table} WHERE {condition} ORDER BY key", parameters
        )
        return [(bytes(key), bytes(value)) for key, value in rows]

    def write_batch(self, batch: Batch) -> None:
        if batch.is_empty():
            self._open_connection()
            return
        with self._lock:
            connection = self._open_connection()
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    for operation in batch:
                        self._apply(connection, operation.kind, operation.key, operation.value)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreBackendError(
                    f"SQLite batch of {len(batch)} operations on {self._path} failed and was "
                    f"rolled back: {exc}"
                ) from exc

    def _apply(
        self, connection: sqlite3.Connection, kind: WriteKind, key: bytes, value: bytes
    ) -> None:
        if kind is WriteKind.PUT:
            connection.execute(
                f"INSERT INTO {self._table} (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        elif kind is WriteKind.DELETE:
            connection.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,))
        else:
            condition, parameters = self._prefix_condition(key)
            connection.execute(f"DELETE FROM {self._table} WHERE {condition}", parameters)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r}, table={self._table})"
