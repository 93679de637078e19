"""`QueueView`: a FIFO queue of typed values (push at the back, delete at the front).

Layout: ``base_key + 0x00`` holds ``[front, end]`` (absent when the queue is empty, and
indices restart at 0 then); value ``i`` lives at ``base_key + 0x01 + i`` (8-byte big-endian).
The hash covers the elements in order, not the indices.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.views.context import ViewContext
from edgechain.views.errors import CorruptedViewData, QueueEmpty
from edgechain.views.log_view import index_key
from edgechain.views.store import Batch
from edgechain.views.view import TAG_ENTRY, TAG_META, ContentHasher, View, decode_stored

T = TypeVar("T")


class QueueView(View, Generic[T]):
    """A first-in first-out queue of ``value_type`` values."""

    __slots__ = (
        "_cleared",
        "_deleted_front",
        "_entry_prefix",
        "_hash",
        "_meta_key",
        "_new_back",
        "_saved_range",
        "_saved_values",
        "_value_type",
    )

    @overload
    def __init__(self, context: ViewContext, value_type: type[T]) -> None: ...
    @overload
    def __init__(self, context: ViewContext, value_type: Any) -> None: ...
    def __init__(self, context: ViewContext, value_type: Any) -> None:
        super().__init__(context)
        self._value_type = value_type
        self._meta_key = context.base_key + TAG_META
        self._entry_prefix = context.base_key + TAG_ENTRY
        self._saved_range: tuple[int, int] | None = None
        self._saved_values: dict[int, tuple[T, bytes]] = {}
        self._deleted_front = 0
        self._new_back: list[tuple[T, bytes]] = []
        self._cleared = False
        self._hash: CryptoHash | None = None

    def _load_saved_range(self) -> tuple[int, int]:
        if self._saved_range is None:
            raw = self.context.store.read_value(self._meta_key)
            if raw is None:
                self._saved_range = (0, 0)
            else:
                bounds = decode_stored(raw, tuple[int, int], self._meta_key)
                front, end = bounds
                if not 0 <= front <= end:
                    raise CorruptedViewData(self._meta_key, "queue range", f"{bounds!r}")
                self._saved_range = (front, end)
        return self._saved_range

    def _visible_saved_range(self) -> tuple[int, int]:
        """The saved indices still in the queue (after the staged front deletions)."""
        if self._cleared:
            return (0, 0)
        front, end = self._load_saved_range()
        return (front + self._deleted_front, end)

    def _read_saved(self, start: int, end: int) -> list[tuple[T, bytes]]:
        missing = [index for index in range(start, end) if index not in self._saved_values]
        if missing:
            keys = [index_key(self._entry_prefix, index) for index in missing]
            for index, key, raw in zip(
                missing, keys, self.context.store.read_multi_values(keys), strict=True
            ):
                if raw is None:
                    raise CorruptedViewData(key, "queue entry", f"entry {index} is missing")
                self._saved_values[index] = (decode_stored(raw, self._value_type, key), raw)
        return [self._saved_values[index] for index in range(start, end)]

    def _current(self) -> list[tuple[T, bytes]]:
        start, end = self._visible_saved_range()
        return self._read_saved(start, end) + self._new_back

    def push_back(self, value: T) -> None:
        self._new_back.append((value, encode(value, self._value_type)))
        self._hash = None

    def front(self) -> T | None:
        """The oldest element, or None when the queue is empty."""
        start, end = self._visible_saved_range()
        if start < end:
            return self._read_saved(start, start + 1)[0][0]
        return self._new_back[0][0] if self._new_back else None

    def delete_front(self) -> None:
        """Remove the oldest element; raise `QueueEmpty` when there is none."""
        start, end = self._visible_saved_range()
        if start < end:
            self._deleted_front += 1
            self._saved_values.pop(start, None)
        elif self._new_back:
            del self._new_back[0]
        else:
            raise QueueEmpty(f"delete_front on the empty queue at {self.context.base_key.hex()}")
        self._hash = None

    def count(self) -> int:
        start, end = self._visible_saved_range()
        return end - start + len(self._new_back)

    def elements(self) -> list[T]:
        """Every element, oldest first."""
        return [value for value, _ in self._current()]

    def clear(self) -> None:
        self._cleared = True
        self._deleted_front = 0
        self._new_back = []
        self._hash = None

    def _stage_changes(self, batch: Batch) -> None:
        if not self.has_pending_changes():
            return
        if self._cleared:
            batch.delete_prefix(self._entry_prefix)
            start = end = 0
        else:
            saved_front, end = self._load_saved_range()
            start = saved_front + self._deleted_front
            for index in range(saved_front, start):
                batch.delete(index_key(self._entry_prefix, index))
        if start == end and not self._new_back:
            batch.delete(self._meta_key)
            return
        if start == end:
            start = end = 0  # an emptied queue restarts its indices at 0
        for offset, (_, encoded) in enumerate(self._new_back):
            batch.put(index_key(self._entry_prefix, end + offset), encoded)
        batch.put(self._meta_key, encode([start, end + len(self._new_back)]))

    def _mark_saved(self) -> None:
        if not self.has_pending_changes():
            return
        if self._cleared:
            start = end = 0
            self._saved_values = {}
        else:
            saved_front, end = self._load_saved_range()
            start = saved_front + self._deleted_front
        if start == end:
            start = end = 0
            self._saved_values = {}
        for offset, entry in enumerate(self._new_back):
            self._saved_values[end + offset] = entry
        self._saved_range = (start, end + len(self._new_back))
        self._deleted_front = 0
        self._new_back = []
        self._cleared = False

    def rollback(self) -> None:
        if self.has_pending_changes():
            self._deleted_front = 0
            self._new_back = []
            self._cleared = False
            self._hash = None

    def has_pending_changes(self) -> bool:
        return self._cleared or self._deleted_front > 0 or bool(self._new_back)

    def hash(self) -> CryptoHash:
        if self._hash is None:
            hasher = ContentHasher("QueueView")
            current = self._current()
            for _, encoded in current:
                hasher.update(encoded)
            self._hash = hasher.finish(len(current))
        return self._hash

    def __repr__(self) -> str:
        return f"QueueView(count={self.count()})"
