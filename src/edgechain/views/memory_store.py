"""`MemoryStore`: a key-value store in a Python dict with a sorted key index (tests, clients)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from edgechain.views.errors import StoreClosed
from edgechain.views.store import Batch, WriteKind, prefix_successor


class MemoryStore:
    """An in-memory `KeyValueStore`; batches apply atomically (they are validated before use)."""

    __slots__ = ("_closed", "_sorted_keys", "_values")

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._sorted_keys: list[bytes] = []
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the memory store is closed")

    def read_value(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._values.get(key)

    def read_multi_values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self._check_open()
        return [self._values.get(key) for key in keys]

    def contains_key(self, key: bytes) -> bool:
        self._check_open()
        return key in self._values

    def _prefix_range(self, prefix: bytes) -> tuple[int, int]:
        start = bisect.bisect_left(self._sorted_keys, prefix)
        successor = prefix_successor(prefix)
        if successor is None:
            return start, len(self._sorted_keys)
        return start, bisect.bisect_left(self._sorted_keys, successor, lo=start)

    def find_keys_by_prefix(self, prefix: bytes) -> list[bytes]:
        self._check_open()
        start, end = self._prefix_range(prefix)
        return self._sorted_keys[start:end]

    def find_key_values_by_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        self._check_open()
        start, end = self._prefix_range(prefix)
        return [(key, self._values[key]) for key in self._sorted_keys[start:end]]

    def write_batch(self, batch: Batch) -> None:
        # The Batch checked every key and value when it was built, so nothing below can
        # fail half-way: the batch is atomic.
        self._check_open()
        for operation in batch:
            if operation.kind is WriteKind.PUT:
                if operation.key not in self._values:
                    bisect.insort(self._sorted_keys, operation.key)
                self._values[operation.key] = operation.value
            elif operation.kind is WriteKind.DELETE:
                if self._values.pop(operation.key, None) is not None:
                    index = bisect.bisect_left(self._sorted_keys, operation.key)
                    del self._sorted_keys[index]
            else:
                start, end = self._prefix_range(operation.key)
                for key in self._sorted_keys[start:end]:
                    del self._values[key]
                del self._sorted_keys[start:end]

    def close(self) -> None:
        self._closed = True

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._values)} keys)"
