"""`open_store(url)`: a key-value store from a URL — ``memory:``, ``sqlite:PATH``, ``postgresql://…``."""

from __future__ import annotations

from edgechain.views.errors import InvalidStoreUrl
from edgechain.views.memory_store import MemoryStore
from edgechain.views.sqlite_store import SqliteStore
from edgechain.views.store import KeyValueStore


def open_store(url: str, namespace: str = "default") -> KeyValueStore:
    """Open the store ``url`` names; ``namespace`` picks the table (SQLite, PostgreSQL).

    ``memory:`` is a fresh `MemoryStore`; ``sqlite:PATH`` (or ``sqlite://PATH``) a
    `SqliteStore` on the file PATH (created if absent); ``postgresql://…`` or
    ``postgres://…`` a `PostgresStore` on that libpq connection string.
    """
    if url == "memory:":
        return MemoryStore()
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:")
        if path.startswith("//"):
            path = path.removeprefix("//")
        if not path:
            raise InvalidStoreUrl(f"the SQLite store URL {url!r} names no file")
        return SqliteStore(path, namespace)
    if url.startswith(("postgresql://", "postgres://")):
        from edgechain.views.postgres_store import PostgresStore

        return PostgresStore(url, namespace)
    raise InvalidStoreUrl(
        f"unknown store URL {url!r}: expected memory:, sqlite:PATH or postgresql://…"
    )
