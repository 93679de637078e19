"""`CollectionView`: a map from typed keys to whole child views, loaded on demand.

Layout: a marker ``base_key + 0x00 + encode(k)`` (empty value) says entry ``k`` exists; the
entry's own view lives under ``base_key + 0x01 + encode(k)``. Removing an entry deletes its
marker and its whole prefix. The hash combines (encoded key, entry hash) in encoded-key order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.views.context import ViewContext
from edgechain.views.store import Batch
from edgechain.views.view import TAG_ENTRY, TAG_META, ContentHasher, View, decode_stored

K = TypeVar("K")
W = TypeVar("W", bound=View)


class CollectionView(View, Generic[K, W]):
    """Entries of type ``W`` (built by ``factory``) indexed by ``key_type`` values."""

    __slots__ = (
        "_added",
        "_cleared",
        "_decoded_keys",
        "_entries",
        "_factory",
        "_key_type",
        "_marker_prefix",
        "_removed",
        "_saved_markers",
        "_saved_presence",
        "_view_prefix",
    )

    @overload
    def __init__(
        self, context: ViewContext, key_type: type[K], factory: Callable[[ViewContext], W]
    ) -> None: ...
    @overload
    def __init__(
        self, context: ViewContext, key_type: Any, factory: Callable[[ViewContext], W]
    ) -> None: ...
    def __init__(
        self, context: ViewContext, key_type: Any, factory: Callable[[ViewContext], W]
    ) -> None:
        super().__init__(context)
        self._key_type = key_type
        self._factory = factory
        self._marker_prefix = context.base_key + TAG_META
        self._view_prefix = context.base_key + TAG_ENTRY
        self._entries: dict[bytes, W] = {}
        self._added: set[bytes] = set()
        self._removed: set[bytes] = set()
        self._cleared = False
        self._saved_presence: dict[bytes, bool] = {}
        self._saved_markers: set[bytes] | None = None
        self._decoded_keys: dict[bytes, K] = {}

    def _is_saved(self, encoded_key: bytes) -> bool:
        if self._saved_markers is not None:
            return encoded_key in self._saved_markers
        present = self._saved_presence.get(encoded_key)
        if present is None:
            present = self.context.store.contains_key(self._marker_prefix + encoded_key)
            self._saved_presence[encoded_key] = present
        return present

    def _all_saved(self) -> set[bytes]:
        if self._saved_markers is None:
            cut = len(self._marker_prefix)
            self._saved_markers = {
                key[cut:] for key in self.context.store.find_keys_by_prefix(self._marker_prefix)
            }
            self._saved_presence = {}
        return self._saved_markers

    def _exists(self, encoded_key: bytes) -> bool:
        if encoded_key in self._added:
            return True
        if self._cleared or encoded_key in self._removed:
            return False
        return self._is_saved(encoded_key)

    def _current_keys(self) -> list[bytes]:
        current = set() if self._cleared else self._all_saved() - self._removed
        return sorted(current | self._added)

    def _entry_context(self, encoded_key: bytes) -> ViewContext:
        return ViewContext(self.context.store, self._view_prefix + encoded_key)

    def _load_encoded(self, encoded_key: bytes) -> W:
        view = self._entries.get(encoded_key)
        if view is not None:
            return view
        view = self._factory(self._entry_context(encoded_key))
        if not self._exists(encoded_key):
            if self._cleared or encoded_key in self._removed:
                view.clear()  # the store still holds the removed entry's keys
            self._added.add(encoded_key)
        self._entries[encoded_key] = view
        return view

    def load_entry(self, key: K) -> W:
        """The entry under ``key``, created empty (and staged) if absent."""
        return self._load_encoded(encode(key, self._key_type))

    def try_load_entry(self, key: K) -> W | None:
        """The entry under ``key``, or None if absent."""
        encoded_key = encode(key, self._key_type)
        if not self._exists(encoded_key):
            return None
        return self._load_encoded(encoded_key)

    def remove_entry(self, key: K) -> None:
        """Remove the entry under ``key`` and everything in it, if present."""
        encoded_key = encode(key, self._key_type)
        if not self._exists(encoded_key):
            return
        self._entries.pop(encoded_key, None)
        self._added.discard(encoded_key)
        if not self._cleared and self._is_saved(encoded_key):
            self._removed.add(encoded_key)

    def contains(self, key: K) -> bool:
        return self._exists(encode(key, self._key_type))

    def indices(self) -> list[K]:
        """Every key, ascending by encoded key bytes."""
        indices: list[K] = []
        for encoded_key in self._current_keys():
            key = self._decoded_keys.get(encoded_key)
            if key is None:
                key = decode_stored(encoded_key, self._key_type, self._marker_prefix + encoded_key)
                self._decoded_keys[encoded_key] = key
            indices.append(key)
        return indices

    def count(self) -> int:
        return len(self._current_keys())

    def clear(self) -> None:
        self._cleared = True
        self._entries = {}
        self._added = set()
        self._removed = set()

    def _stage_changes(self, batch: Batch) -> None:
        if self._cleared:
            batch.delete_prefix(self.context.base_key)
        for encoded_key in sorted(self._removed):
            batch.delete(self._marker_prefix + encoded_key)
            batch.delete_prefix(self._view_prefix + encoded_key)
        for encoded_key in sorted(self._entries):
            self._entries[encoded_key]._stage_changes(batch)
        for encoded_key in sorted(self._added):
            batch.put(self._marker_prefix + encoded_key, b"")

    def _mark_saved(self) -> None:
        if self._cleared:
            self._saved_markers = set()
            self._saved_presence = {}
        for encoded_key in self._removed:
            self._forget_saved(encoded_key)
        for encoded_key in self._added:
            self._remember_saved(encoded_key)
        for view in self._entries.values():
            view._mark_saved()
        self._added = set()
        self._removed = set()
        self._cleared = False

    def _forget_saved(self, encoded_key: bytes) -> None:
        if self._saved_markers is not None:
            self._saved_markers.discard(encoded_key)
        else:
            self._saved_presence[encoded_key] = False

    def _remember_saved(self, encoded_key: bytes) -> None:
        if self._saved_markers is not None:
            self._saved_markers.add(encoded_key)
        else:
            self._saved_presence[encoded_key] = True

    def rollback(self) -> None:
        discarded = self._added | self._removed
        self._entries = {
            encoded_key: view
            for encoded_key, view in self._entries.items()
            if not self._cleared and encoded_key not in discarded
        }
        for view in self._entries.values():
            view.rollback()
        self._added = set()
        self._removed = set()
        self._cleared = False

    def has_pending_changes(self) -> bool:
        return (
            self._cleared
            or bool(self._added)
            or bool(self._removed)
            or any(view.has_pending_changes() for view in self._entries.values())
        )

    def hash(self) -> CryptoHash:
        hasher = ContentHasher("CollectionView")
        current = self._current_keys()
        for encoded_key in current:
            hasher.update(encoded_key)
            hasher.update(self._load_encoded(encoded_key).hash().digest)
        return hasher.finish(len(current))

    def __repr__(self) -> str:
        return f"CollectionView(base_key={self.context.base_key.hex()})"
