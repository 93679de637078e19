"""`PostgresStore`: a key-value store in PostgreSQL, for validators that outgrow one machine.

Each namespace is a table ``kv_<namespace>(key BYTEA PRIMARY KEY, value BYTEA NOT NULL)``;
BYTEA compares bytewise, the order every store agrees on. Prefix scans are range scans
``key >= prefix AND key < successor(prefix)`` (an all-0xff prefix has no upper bound), so they
use the primary-key index. Every `write_batch` is one transaction. Needs ``psycopg`` 3
(``pip install 'edgechain[postgres]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

from edgechain.views.errors import StoreBackendError, StoreClosed, ViewError
from edgechain.views.sqlite_store import check_namespace
from edgechain.views.store import Batch, WriteKind, WriteOperation, prefix_successor


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ViewError("PostgresStore needs psycopg 3: pip install 'edgechain[postgres]'") from exc
    return psycopg


class PostgresStore:
    """A `KeyValueStore` in one table of a PostgreSQL database."""

    def __init__(self, dsn: str, namespace: str = "default") -> None:
        self._psycopg = _import_psycopg()
        self._table = f"kv_{check_namespace(namespace)}"
        self._lock = threading.Lock()
        self._connection: Any = None
        try:
            self._connection = self._psycopg.connect(dsn, autocommit=True)
            with self._connection.transaction():
                self._connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} "
                    "(key BYTEA PRIMARY KEY, value BYTEA NOT NULL)"
                )
        except self._psycopg.Error as exc:
            if self._connection is not None:
                self._connection.close()
            raise StoreBackendError(
                f"cannot open PostgreSQL store (table {self._table}): {exc}"
            ) from exc

    @property
    def table(self) -> str:
        return self._table

    def _open_connection(self) -> Any:
        if self._connection is None:
            raise StoreClosed(f"the PostgreSQL store (table {self._table}) is closed")
        return self._connection

    def _query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            connection = self._open_connection()
            try:
                rows: list[tuple[Any, ...]] = connection.execute(sql, parameters).fetchall()
                return rows
            except self._psycopg.Error as exc:
                raise StoreBackendError(
                    f"PostgreSQL read from {self._table} failed: {exc}"
                ) from exc

    def read_value(self, key: bytes) -> bytes | None:
        rows = self._query(f"SELECT value FROM {self._table} WHERE key = %s", [key])
        return bytes(rows[0][0]) if rows else None

    def read_multi_values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        rows = self._query(
            f"SELECT key, value FROM {self._table} WHERE key = ANY(%s)", [list(keys)]
        )
        found = {bytes(key): bytes(value) for key, value in rows}
        return [found.get(key) for key in keys]

    def contains_key(self, key: bytes) -> bool:
        return bool(self._query(f"SELECT 1 FROM {self._table} WHERE key = %s", [key]))

    @staticmethod
    def _prefix_condition(prefix: bytes) -> tuple[str, list[bytes]]:
        successor = prefix_successor(prefix)
        if successor is None:
            return "key >= %s", [prefix]
        return "key >= %s AND key < %s", [prefix, successor]

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
        with self._lock:
            connection = self._open_connection()
            if batch.is_empty():
                return
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    for kind, run in groupby(batch, key=lambda operation: operation.kind):
                        self._apply_run(cursor, kind, run)
            except self._psycopg.Error as exc:
                raise StoreBackendError(
                    f"PostgreSQL batch of {len(batch)} operations on {self._table} failed "
                    f"and was rolled back: {exc}"
                ) from exc

    def _apply_run(self, cursor: Any, kind: WriteKind, run: Iterator[WriteOperation]) -> None:
        """Apply consecutive operations of one kind (puts and deletes as one executemany)."""
        if kind is WriteKind.PUT:
            cursor.executemany(
                f"INSERT INTO {self._table} (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                [(operation.key, operation.value) for operation in run],
            )
        elif kind is WriteKind.DELETE:
            cursor.executemany(
                f"DELETE FROM {self._table} WHERE key = %s",
                [(operation.key,) for operation in run],
            )
        else:
            for operation in run:
                condition, parameters = self._prefix_condition(operation.key)
                cursor.execute(f"DELETE FROM {self._table} WHERE {condition}", parameters)

    def drop_namespace(self) -> None:
        """Delete this namespace's table and everything in it (tests, resets)."""
        with self._lock:
            connection = self._open_connection()
            try:
                with connection.transaction():
                    connection.execute(f"DROP TABLE IF EXISTS {self._table}")
            except self._psycopg.Error as exc:
                raise StoreBackendError(f"cannot drop {self._table}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __repr__(self) -> str:
        return f"PostgresStore(table={self._table})"
