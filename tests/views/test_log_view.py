from __future__ import annotations

from collections.abc import Sequence

import pytest

from edgechain.views import (
    Batch,
    CorruptedViewData,
    KeyValueStore,
    LogView,
    MemoryStore,
    ViewContext,
)


def save(view: LogView[str], store: KeyValueStore) -> None:
    batch = Batch()
    view.flush(batch)
    store.write_batch(batch)


def test_push_get_read_and_reload(store: KeyValueStore) -> None:
    context = ViewContext(store, b"l")
    log = LogView(context, str)
    log.push("a")
    log.push("b")
    assert log.count() == 2
    assert log.get(1) == "b"
    assert log.get(2) is None and log.get(-1) is None
    save(log, store)
    log = LogView(context, str)
    log.push("c")
    assert log.read(0, 10) == ["a", "b", "c"]
    assert log.read(1, 3) == ["b", "c"]
    assert log.read(2, 1) == []
    save(log, store)
    reloaded = LogView(context, str)
    assert reloaded.count() == 3
    assert reloaded.read(0, 3) == ["a", "b", "c"]


def test_rollback_and_clear(store: KeyValueStore) -> None:
    context = ViewContext(store, b"l")
    log = LogView(context, str)
    for word in ["x", "y"]:
        log.push(word)
    save(log, store)
    saved_hash = log.hash()
    log.push("z")
    assert log.hash() != saved_hash
    log.rollback()
    assert log.read(0, 9) == ["x", "y"]
    assert log.hash() == saved_hash
    log.clear()
    log.push("w")
    assert log.read(0, 9) == ["w"]
    save(log, store)
    assert LogView(context, str).read(0, 9) == ["w"]
    assert len(store.find_keys_by_prefix(b"l")) == 3  # count, one entry, hash chain
    log.clear()
    save(log, store)
    assert store.find_keys_by_prefix(b"l") == []


def test_hash_is_incremental_and_history_independent(store: KeyValueStore) -> None:
    first = LogView(ViewContext(store, b"1"), str)
    second = LogView(ViewContext(store, b"2"), str)
    for word in ["a", "b", "c"]:
        first.push(word)
        save(first, store)
        first.hash()  # builds and extends the saved hasher
    for word in ["a", "b", "c"]:
        second.push(word)
    assert first.hash() == second.hash()
    assert LogView(ViewContext(store, b"1"), str).hash() == second.hash()
    empty = LogView(ViewContext(store, b"3"), str)
    assert empty.hash() != first.hash()


class CountingStore(MemoryStore):
    """A memory store that counts the keys it reads."""

    def __init__(self) -> None:
        super().__init__()
        self.keys_read = 0

    def read_value(self, key: bytes) -> bytes | None:
        self.keys_read += 1
        return super().read_value(key)

    def read_multi_values(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self.keys_read += len(keys)
        return super().read_multi_values(keys)


def test_hash_of_a_reloaded_long_log_reads_two_keys() -> None:
    store = CountingStore()
    context = ViewContext(store, b"l")
    log = LogView(context, str)
    for index in range(1000):
        log.push(str(index))
    save(log, store)
    expected = log.hash()
    reloaded = LogView(context, str)
    store.keys_read = 0
    assert reloaded.hash() == expected
    assert store.keys_read == 2  # the count and the chain
    reloaded.push("more")
    save(reloaded, store)
    assert store.keys_read == 2
    fresh = LogView(ViewContext(MemoryStore(), b""), str)
    for index in range(1000):
        fresh.push(str(index))
    fresh.push("more")
    assert LogView(context, str).hash() == fresh.hash() == reloaded.hash()


def test_log_saved_without_its_chain_rebuilds_it(store: KeyValueStore) -> None:
    context = ViewContext(store, b"l")
    log = LogView(context, str)
    for word in ["a", "b"]:
        log.push(word)
    save(log, store)
    expected = log.hash()
    batch = Batch()
    batch.delete(b"l\x02")
    store.write_batch(batch)
    assert LogView(context, str).hash() == expected


def test_corrupted_chain_names_the_key(store: KeyValueStore) -> None:
    context = ViewContext(store, b"l")
    log = LogView(context, str)
    log.push("a")
    save(log, store)
    batch = Batch()
    batch.put(b"l\x02", b"short")
    store.write_batch(batch)
    with pytest.raises(CorruptedViewData, match="6c02"):
        LogView(context, str).hash()
