"""`LogView`: an append-only list of typed values.

Layout: the count at ``base_key + 0x00`` (absent when zero), value ``i`` at
``base_key + 0x01 + i`` (8 bytes, big-endian, so the store orders them by index), and the
running hash chain at ``base_key + 0x02``.

The hash is a chain, ``chain[i + 1] = BLAKE3(chain[i] || len(v_i) || v_i)``, closed by the
count. It depends on the values only, and it is saved with them, so hashing a reloaded log
costs one read and hashing after a push costs only the new values, however long the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar, overload

import blake3

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.views.context import ViewContext
from edgechain.views.errors import CorruptedViewData
from edgechain.views.store import Batch
from edgechain.views.view import (
    TAG_ENTRY,
    TAG_HASH,
    TAG_META,
    ContentHasher,
    View,
    decode_stored,
    decode_stored_int,
)

EMPTY_CHAIN = blake3.blake3(b"edgechain.views.LogView.chain::").digest()


def extend_chain(chain: bytes, encoded_values: Iterable[bytes]) -> bytes:
    """The hash chain after appending ``encoded_values``."""
    for encoded in encoded_values:
        chain = blake3.blake3(chain + len(encoded).to_bytes(8, "big") + encoded).digest()
    return chain


T = TypeVar("T")


def index_key(prefix: bytes, index: int) -> bytes:
    """The key of entry ``index`` under ``prefix`` (8-byte big-endian: ordered by index)."""
    return prefix + index.to_bytes(8, "big")


class LogView(View, Generic[T]):
    """An append-only sequence of ``value_type`` values."""

    __slots__ = (
        "_chain_key",
        "_cleared",
        "_count_key",
        "_entry_prefix",
        "_new",
        "_saved_chain",
        "_saved_count",
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
        self._count_key = context.base_key + TAG_META
        self._entry_prefix = context.base_key + TAG_ENTRY
        self._saved_count: int | None = None
        self._saved_values: dict[int, tuple[T, bytes]] = {}
        self._chain_key = context.base_key + TAG_HASH
        self._saved_chain: bytes | None = None
        self._new: list[tuple[T, bytes]] = []
        self._cleared = False

    def _load_saved_count(self) -> int:
        if self._saved_count is None:
            raw = self.context.store.read_value(self._count_key)
            self._saved_count = 0 if raw is None else decode_stored_int(raw, self._count_key)
        return self._saved_count

    def _visible_saved_count(self) -> int:
        return 0 if self._cleared else self._load_saved_count()

    def push(self, value: T) -> None:
        self._new.append((value, encode(value, self._value_type)))

    def count(self) -> int:
        return self._visible_saved_count() + len(self._new)

    def _read_saved(self, start: int, end: int) -> list[tuple[T, bytes]]:
        missing = [index for index in range(start, end) if index not in self._saved_values]
        if missing:
            keys = [index_key(self._entry_prefix, index) for index in missing]
            for index, key, raw in zip(
                missing, keys, self.context.store.read_multi_values(keys), strict=True
            ):
                if raw is None:
                    raise CorruptedViewData(key, "log entry", f"entry {index} is missing")
                self._saved_values[index] = (decode_stored(raw, self._value_type, key), raw)
        return [self._saved_values[index] for index in range(start, end)]

    def get(self, index: int) -> T | None:
        """The value at ``index``, or None outside 0..count()-1."""
        values = self._read_range(index, index + 1)
        return values[0][0] if values else None

    def read(self, start: int, end: int) -> list[T]:
        """The values at indices ``start`` ≤ i < ``end`` (clamped to the log)."""
        return [value for value, _ in self._read_range(start, end)]

    def _read_range(self, start: int, end: int) -> list[tuple[T, bytes]]:
        start = max(start, 0)
        end = min(end, self.count())
        if start >= end:
            return []
        saved_count = self._visible_saved_count()
        result = self._read_saved(start, min(end, saved_count)) if start < saved_count else []
        if end > saved_count:
            result.extend(self._new[max(start - saved_count, 0) : end - saved_count])
        return result

    def clear(self) -> None:
        self._cleared = True
        self._new.clear()

    def _stage_changes(self, batch: Batch) -> None:
        if not self._cleared and not self._new:
            return
        if self._cleared:
            batch.delete_prefix(self._entry_prefix)
        saved_count = self._visible_saved_count()
        for offset, (_, encoded) in enumerate(self._new):
            batch.put(index_key(self._entry_prefix, saved_count + offset), encoded)
        total = saved_count + len(self._new)
        if total == 0:
            batch.delete(self._count_key)
            batch.delete(self._chain_key)
        else:
            batch.put(self._count_key, encode(total))
            batch.put(self._chain_key, self._current_chain())

    def _mark_saved(self) -> None:
        if not self.has_pending_changes():
            return
        chain = self._current_chain()
        if self._cleared:
            self._saved_count = 0
            self._saved_values = {}
            self._cleared = False
        saved_count = self._load_saved_count()
        for offset, entry in enumerate(self._new):
            self._saved_values[saved_count + offset] = entry
        self._saved_count = saved_count + len(self._new)
        self._saved_chain = chain
        self._new = []

    def rollback(self) -> None:
        self._new = []
        self._cleared = False

    def has_pending_changes(self) -> bool:
        return self._cleared or bool(self._new)

    def _load_saved_chain(self) -> bytes:
        if self._saved_chain is None:
            saved_count = self._load_saved_count()
            raw = self.context.store.read_value(self._chain_key) if saved_count else None
            if raw is None:
                # An empty log, or one saved without its chain: rebuild it from the values.
                saved = self._read_saved(0, saved_count)
                self._saved_chain = extend_chain(EMPTY_CHAIN, (encoded for _, encoded in saved))
            elif len(raw) != 32:
                raise CorruptedViewData(self._chain_key, "log hash chain", f"{len(raw)} bytes")
            else:
                self._saved_chain = raw
        return self._saved_chain

    def _current_chain(self) -> bytes:
        base = EMPTY_CHAIN if self._cleared else self._load_saved_chain()
        return extend_chain(base, (encoded for _, encoded in self._new))

    def hash(self) -> CryptoHash:
        hasher = ContentHasher("LogView")
        hasher.update(self._current_chain())
        return hasher.finish(self.count())

    def __repr__(self) -> str:
        return f"LogView(count={self.count()})"
