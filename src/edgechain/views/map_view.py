"""`MapView` and `SetView`: typed maps and sets whose entries are keys under the view's prefix.

Layout: entry ``k`` lives at ``base_key + 0x01 + encode(k)`` (value: ``encode(v)``, or empty
for a set). Entries order by their *encoded* key bytes — for integer keys that is CBOR's
order (by encoded length first, so 23 < 24 < 255 < 256 < -1 … negative integers come after
all non-negative ones); for str and bytes keys, shorter before longer, then bytewise.

Reads see staged writes. Values read from the store are cached; the whole saved contents are
read once (on the first ``keys()``, ``items()``, ``count()`` or a ``hash()`` that must be
computed) and kept, so hashing a large map again after a change works in memory and never
re-reads the store. The hash is also saved at ``base_key + 0x02`` when it is known at flush
time, so a reloaded, unchanged map hashes with one read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, overload

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.views.context import ViewContext
from edgechain.views.errors import CorruptedViewData
from edgechain.views.store import Batch, KeyValueStore
from edgechain.views.view import TAG_ENTRY, TAG_HASH, ContentHasher, View, decode_stored

K = TypeVar("K")
V = TypeVar("V")


class EntryTable:
    """Encoded entries under a prefix: staged puts/deletes over a lazily read saved state."""

    __slots__ = ("_cleared", "_point_reads", "_prefix", "_saved_snapshot", "_store", "_updates")

    def __init__(self, store: KeyValueStore, prefix: bytes) -> None:
        self._store = store
        self._prefix = prefix
        self._updates: dict[bytes, bytes | None] = {}
        self._cleared = False
        self._point_reads: dict[bytes, bytes | None] = {}
        self._saved_snapshot: dict[bytes, bytes] | None = None

    @property
    def prefix(self) -> bytes:
        return self._prefix

    def _saved_value(self, encoded_key: bytes) -> bytes | None:
        if self._saved_snapshot is not None:
            return self._saved_snapshot.get(encoded_key)
        if encoded_key in self._point_reads:
            return self._point_reads[encoded_key]
        raw = self._store.read_value(self._prefix + encoded_key)
        self._point_reads[encoded_key] = raw
        return raw

    def saved_contents(self) -> dict[bytes, bytes]:
        """Every saved entry (read from the store once, then kept up to date in memory)."""
        if self._saved_snapshot is None:
            cut = len(self._prefix)
            self._saved_snapshot = {
                key[cut:]: value
                for key, value in self._store.find_key_values_by_prefix(self._prefix)
            }
            self._point_reads = {}
        return self._saved_snapshot

    def get(self, encoded_key: bytes) -> bytes | None:
        if encoded_key in self._updates:
            return self._updates[encoded_key]
        if self._cleared:
            return None
        return self._saved_value(encoded_key)

    def put(self, encoded_key: bytes, encoded_value: bytes) -> None:
        self._updates[encoded_key] = encoded_value

    def delete(self, encoded_key: bytes) -> None:
        self._updates[encoded_key] = None

    def clear(self) -> None:
        self._cleared = True
        self._updates.clear()

    def current(self) -> Mapping[bytes, bytes]:
        """The full current contents (do not mutate the result)."""
        if not self._updates and not self._cleared:
            return self.saved_contents()
        merged = {} if self._cleared else dict(self.saved_contents())
        for encoded_key, encoded_value in self._updates.items():
            if encoded_value is None:
                merged.pop(encoded_key, None)
            else:
                merged[encoded_key] = encoded_value
        return merged

    def sorted_keys(self) -> list[bytes]:
        return sorted(self.current())

    def stage(self, batch: Batch) -> None:
        if self._cleared:
            batch.delete_prefix(self._prefix)
        for encoded_key in sorted(self._updates):
            encoded_value = self._updates[encoded_key]
            if encoded_value is None:
                if not self._cleared:
                    batch.delete(self._prefix + encoded_key)
            else:
                batch.put(self._prefix + encoded_key, encoded_value)

    def mark_saved(self) -> None:
        if self._cleared:
            self._saved_snapshot = {}
            self._point_reads = {}
        for encoded_key, encoded_value in self._updates.items():
            if self._saved_snapshot is not None:
                if encoded_value is None:
                    self._saved_snapshot.pop(encoded_key, None)
                else:
                    self._saved_snapshot[encoded_key] = encoded_value
            else:
                self._point_reads[encoded_key] = encoded_value
        self._updates.clear()
        self._cleared = False

    def rollback(self) -> None:
        self._updates.clear()
        self._cleared = False

    def has_pending_changes(self) -> bool:
        return self._cleared or bool(self._updates)


class _HashMemo:
    """The last computed hash of the current and of the saved contents."""

    __slots__ = ("current", "saved")

    def __init__(self) -> None:
        self.current: CryptoHash | None = None
        self.saved: CryptoHash | None = None


class _EntriesView(View):
    """What MapView and SetView share: an `EntryTable` and a hash that is saved with it.

    The hash is saved (at ``base_key + 0x02``) only when it is already known at flush time,
    so saving never reads the whole view just to hash it; when unknown, the stale saved hash
    is deleted and the next reader computes it from the entries.
    """

    __slots__ = ("_entries", "_hash", "_hash_key", "_saved_hash_read")

    HASH_TAG = "EntriesView"

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self._entries = EntryTable(context.store, context.base_key + TAG_ENTRY)
        self._hash = _HashMemo()
        self._hash_key = context.base_key + TAG_HASH
        self._saved_hash_read = False

    def count(self) -> int:
        return len(self._entries.current())

    def clear(self) -> None:
        self._entries.clear()
        self._hash.current = None

    def _stage_changes(self, batch: Batch) -> None:
        if not self._entries.has_pending_changes():
            return
        self._entries.stage(batch)
        current = self._hash.current
        if current is None or current == _empty_hash(self.HASH_TAG):
            batch.delete(self._hash_key)
        else:
            batch.put(self._hash_key, current.digest)

    def _mark_saved(self) -> None:
        if self._entries.has_pending_changes():
            self._entries.mark_saved()
            self._hash.saved = self._hash.current
            self._saved_hash_read = True  # the store now holds exactly what we know

    def rollback(self) -> None:
        self._entries.rollback()
        self._hash.current = self._hash.saved

    def has_pending_changes(self) -> bool:
        return self._entries.has_pending_changes()

    def _read_saved_hash(self) -> CryptoHash | None:
        if self._hash.saved is None and not self._saved_hash_read:
            self._saved_hash_read = True
            raw = self.context.store.read_value(self._hash_key)
            if raw is not None:
                if len(raw) != 32:
                    raise CorruptedViewData(self._hash_key, "saved view hash", f"{len(raw)} bytes")
                self._hash.saved = CryptoHash(raw)
        return self._hash.saved

    def hash(self) -> CryptoHash:
        if self._hash.current is None:
            pending = self._entries.has_pending_changes()
            saved_hash = None if pending else self._read_saved_hash()
            if saved_hash is not None:
                self._hash.current = saved_hash
            else:
                self._hash.current = _hash_entries(self.HASH_TAG, self._entries)
                if not pending:
                    self._hash.saved = self._hash.current
        return self._hash.current


class MapView(_EntriesView, Generic[K, V]):
    """A map from ``key_type`` to ``value_type``, ordered by encoded key bytes."""

    __slots__ = ("_decoded_keys", "_decoded_values", "_key_type", "_value_type")

    HASH_TAG = "MapView"

    @overload
    def __init__(self, context: ViewContext, key_type: type[K], value_type: type[V]) -> None: ...
    @overload
    def __init__(self, context: ViewContext, key_type: Any, value_type: Any) -> None: ...
    def __init__(self, context: ViewContext, key_type: Any, value_type: Any) -> None:
        super().__init__(context)
        self._key_type = key_type
        self._value_type = value_type
        self._decoded_keys: dict[bytes, K] = {}
        self._decoded_values: dict[bytes, tuple[bytes, V]] = {}

    def _encode_key(self, key: K) -> bytes:
        return encode(key, self._key_type)

    def _decode_key(self, encoded_key: bytes) -> K:
        key = self._decoded_keys.get(encoded_key)
        if key is None:
            key = decode_stored(encoded_key, self._key_type, self._entries.prefix + encoded_key)
            self._decoded_keys[encoded_key] = key
        return key

    def _decode_value(self, encoded_key: bytes, encoded_value: bytes) -> V:
        cached = self._decoded_values.get(encoded_key)
        if cached is not None and cached[0] == encoded_value:
            return cached[1]
        value: V = decode_stored(
            encoded_value, self._value_type, self._entries.prefix + encoded_key
        )
        self._decoded_values[encoded_key] = (encoded_value, value)
        return value

    def get(self, key: K) -> V | None:
        """The value under ``key``, or None."""
        encoded_key = self._encode_key(key)
        encoded_value = self._entries.get(encoded_key)
        if encoded_value is None:
            return None
        return self._decode_value(encoded_key, encoded_value)

    def insert(self, key: K, value: V) -> None:
        encoded_key = self._encode_key(key)
        encoded_value = encode(value, self._value_type)
        self._entries.put(encoded_key, encoded_value)
        self._decoded_values[encoded_key] = (encoded_value, value)
        self._hash.current = None

    def remove(self, key: K) -> None:
        """Remove ``key`` if present."""
        self._entries.delete(self._encode_key(key))
        self._hash.current = None

    def contains(self, key: K) -> bool:
        return self._entries.get(self._encode_key(key)) is not None

    def keys(self) -> list[K]:
        """Every key, ascending by encoded key bytes."""
        return [self._decode_key(encoded_key) for encoded_key in self._entries.sorted_keys()]

    def items(self) -> list[tuple[K, V]]:
        """Every (key, value), ascending by encoded key bytes."""
        contents = self._entries.current()
        return [
            (self._decode_key(encoded_key), self._decode_value(encoded_key, contents[encoded_key]))
            for encoded_key in sorted(contents)
        ]

    def __repr__(self) -> str:
        return f"MapView(base_key={self.context.base_key.hex()})"


class SetView(_EntriesView, Generic[K]):
    """A set of ``key_type`` values, ordered by encoded bytes."""

    __slots__ = ("_decoded_keys", "_key_type")

    HASH_TAG = "SetView"

    @overload
    def __init__(self, context: ViewContext, key_type: type[K]) -> None: ...
    @overload
    def __init__(self, context: ViewContext, key_type: Any) -> None: ...
    def __init__(self, context: ViewContext, key_type: Any) -> None:
        super().__init__(context)
        self._key_type = key_type
        self._decoded_keys: dict[bytes, K] = {}

    def insert(self, key: K) -> None:
        self._entries.put(encode(key, self._key_type), b"")
        self._hash.current = None

    def remove(self, key: K) -> None:
        """Remove ``key`` if present."""
        self._entries.delete(encode(key, self._key_type))
        self._hash.current = None

    def contains(self, key: K) -> bool:
        return self._entries.get(encode(key, self._key_type)) is not None

    def elements(self) -> list[K]:
        """Every element, ascending by encoded bytes."""
        elements: list[K] = []
        for encoded_key in self._entries.sorted_keys():
            element = self._decoded_keys.get(encoded_key)
            if element is None:
                element = decode_stored(
                    encoded_key, self._key_type, self._entries.prefix + encoded_key
                )
                self._decoded_keys[encoded_key] = element
            elements.append(element)
        return elements

    def __repr__(self) -> str:
        return f"SetView(base_key={self.context.base_key.hex()})"


@functools.cache
def _empty_hash(tag: str) -> CryptoHash:
    return ContentHasher(tag).finish(0)


def _hash_entries(tag: str, entries: EntryTable) -> CryptoHash:
    contents = entries.current()
    hasher = ContentHasher(tag)
    for encoded_key in sorted(contents):
        hasher.update(encoded_key)
        hasher.update(contents[encoded_key])
    return hasher.finish(len(contents))
