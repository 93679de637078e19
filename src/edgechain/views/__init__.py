"""edgechain.views: key-value stores and the typed persistent views over them.

KeyValueStore (protocol)   MemoryStore, SqliteStore, PostgresStore; open_store(url)
ViewContext                a store and a key prefix
View                       RegisterView, MapView, SetView, LogView, QueueView,
                           CollectionView, CompositeView, RootView (save)

Key layout: a child view lives under ``parent_key + encode(name)``; inside a view,
``0x00`` holds metadata (register value, log count, queue range, collection markers),
``0x01`` the entries (maps and sets by encoded key, logs and queues by 8-byte big-endian
index, collection entries' own views by encoded key) and ``0x02`` a saved hash. Maps, sets
and collections order by encoded key bytes (CBOR: integers by encoded length first, all
non-negative before negative ones). Hashes depend on contents only, never on the backend,
the base key or the history of changes.
"""

from __future__ import annotations

from edgechain.views.collection_view import CollectionView
from edgechain.views.composite_view import CompositeView, RootView
from edgechain.views.context import ViewContext
from edgechain.views.errors import (
    CorruptedViewData,
    InvalidStoreUrl,
    QueueEmpty,
    StoreBackendError,
    StoreClosed,
    ViewDeclarationError,
    ViewError,
)
from edgechain.views.log_view import LogView
from edgechain.views.map_view import MapView, SetView
from edgechain.views.memory_store import MemoryStore
from edgechain.views.open_store import open_store
from edgechain.views.postgres_store import PostgresStore
from edgechain.views.queue_view import QueueView
from edgechain.views.register_view import RegisterView
from edgechain.views.sqlite_store import SqliteStore
from edgechain.views.store import Batch, KeyValueStore
from edgechain.views.view import View

__all__ = [
    "Batch",
    "CollectionView",
    "CompositeView",
    "CorruptedViewData",
    "InvalidStoreUrl",
    "KeyValueStore",
    "LogView",
    "MapView",
    "MemoryStore",
    "PostgresStore",
    "QueueEmpty",
    "QueueView",
    "RegisterView",
    "RootView",
    "SetView",
    "SqliteStore",
    "StoreBackendError",
    "StoreClosed",
    "View",
    "ViewContext",
    "ViewDeclarationError",
    "ViewError",
    "open_store",
]
