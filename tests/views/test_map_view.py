from __future__ import annotations

from dataclasses import dataclass

import pytest

from edgechain.base.encoding import encode
from edgechain.views import (
    Batch,
    CorruptedViewData,
    KeyValueStore,
    MapView,
    MemoryStore,
    SetView,
    View,
    ViewContext,
)


@dataclass(frozen=True, slots=True)
class Point:
    """A test value."""

    x: int
    """Abscissa."""
    y: int
    """Ordinate."""


def save(view: View, store: KeyValueStore) -> None:
    batch = Batch()
    view.flush(batch)
    store.write_batch(batch)


def test_insert_get_remove_and_reload(store: KeyValueStore) -> None:
    context = ViewContext(store, b"m")
    points = MapView(context, int, Point)
    points.insert(1, Point(1, 2))
    points.insert(300, Point(3, 4))
    assert points.get(1) == Point(1, 2)
    assert points.get(2) is None
    assert points.contains(300) and not points.contains(2)
    assert points.count() == 2
    save(points, store)
    reloaded = MapView(context, int, Point)
    assert reloaded.items() == [(1, Point(1, 2)), (300, Point(3, 4))]
    reloaded.remove(1)
    reloaded.remove(999)  # absent: no error
    assert reloaded.keys() == [300]
    save(reloaded, store)
    assert MapView(context, int, Point).keys() == [300]


def test_keys_order_by_encoded_bytes(store: KeyValueStore) -> None:
    numbers = MapView(ViewContext(store, b"m"), int, int)
    for key in [256, -1, 0, 23, 24, 255, 1 << 40]:
        numbers.insert(key, key)
    expected = sorted([256, -1, 0, 23, 24, 255, 1 << 40], key=lambda key: encode(key))
    assert numbers.keys() == expected
    assert numbers.keys() == [0, 23, 24, 255, 256, 1 << 40, -1]
    save(numbers, store)
    assert MapView(ViewContext(store, b"m"), int, int).keys() == expected


def test_reads_see_staged_writes_over_saved(store: KeyValueStore) -> None:
    context = ViewContext(store, b"m")
    names = MapView(context, str, int)
    names.insert("a", 1)
    names.insert("b", 2)
    save(names, store)
    names = MapView(context, str, int)
    names.insert("b", 20)
    names.insert("c", 3)
    names.remove("a")
    assert names.items() == [("b", 20), ("c", 3)]
    assert names.count() == 2
    names.rollback()
    assert names.items() == [("a", 1), ("b", 2)]


def test_clear_then_insert(store: KeyValueStore) -> None:
    context = ViewContext(store, b"m")
    names = MapView(context, str, int)
    for index in range(5):
        names.insert(str(index), index)
    save(names, store)
    names.clear()
    assert names.get("1") is None
    names.insert("x", 9)
    assert names.items() == [("x", 9)]
    save(names, store)
    assert MapView(context, str, int).items() == [("x", 9)]
    assert store.find_keys_by_prefix(b"m") == [b"m\x01" + encode("x")]


def test_hash_depends_on_contents_only(store: KeyValueStore) -> None:
    first = MapView(ViewContext(store, b"1"), str, int)
    second = MapView(ViewContext(store, b"2"), str, int)
    first.insert("a", 1)
    first.insert("b", 2)
    save(first, store)
    second.insert("b", 2)
    second.insert("zz", 5)
    second.insert("a", 1)
    second.remove("zz")
    assert first.hash() == second.hash()
    save(second, store)
    assert MapView(ViewContext(store, b"2"), str, int).hash() == first.hash()
    second.insert("a", 7)
    assert second.hash() != first.hash()
    second.rollback()
    assert second.hash() == first.hash()


def test_hash_of_a_map_and_of_a_set_differ() -> None:
    store = MemoryStore()
    assert (
        MapView(ViewContext(store, b"1"), str, int).hash()
        != SetView(ViewContext(store, b"2"), str).hash()
    )


class CountingStore(MemoryStore):
    """A memory store that counts reads, to check that hashing does not re-read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_value(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().read_value(key)

    def find_key_values_by_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        self.reads += 1
        return super().find_key_values_by_prefix(prefix)


def test_large_map_hash_is_cached_and_does_not_reread() -> None:
    store = CountingStore()
    context = ViewContext(store, b"big")
    big = MapView(context, int, int)
    for key in range(10_000):
        big.insert(key, key * 3)
    save(big, store)
    reloaded = MapView(context, int, int)
    first_hash = reloaded.hash()
    reads_after_first_hash = store.reads
    assert reloaded.hash() == first_hash
    reloaded.insert(10_000, 1)
    changed_hash = reloaded.hash()
    reloaded.remove(10_000)
    assert reloaded.hash() == first_hash
    assert changed_hash != first_hash
    assert reloaded.get(5) == 15
    assert store.reads == reads_after_first_hash
    assert first_hash == big.hash()


def test_set_view(store: KeyValueStore) -> None:
    context = ViewContext(store, b"s")
    tags = SetView(context, str)
    tags.insert("b")
    tags.insert("a")
    tags.insert("a")
    assert tags.elements() == ["a", "b"]
    assert tags.count() == 2
    save(tags, store)
    reloaded = SetView(context, str)
    assert reloaded.contains("a")
    reloaded.remove("a")
    assert reloaded.elements() == ["b"]
    assert not reloaded.contains("a")
    reloaded.rollback()
    assert reloaded.elements() == ["a", "b"]
    assert reloaded.hash() == tags.hash()


def test_corrupted_value_names_the_key(store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"m\x01" + encode("k"), b"\xff\xff")
    store.write_batch(batch)
    names = MapView(ViewContext(store, b"m"), str, int)
    with pytest.raises(CorruptedViewData, match=(b"m\x01" + encode("k")).hex()):
        names.get("k")


def test_saved_hash_makes_reloaded_hash_one_read() -> None:
    store = CountingStore()
    context = ViewContext(store, b"m")
    numbers = MapView(context, int, int)
    for key in range(1000):
        numbers.insert(key, key)
    expected = numbers.hash()  # known at flush time: saved with the entries
    save(numbers, store)
    reloaded = MapView(context, int, int)
    store.reads = 0
    assert reloaded.hash() == expected
    assert store.reads == 1
    reloaded.insert(5, 0)
    changed = reloaded.hash()
    reloaded.rollback()
    assert reloaded.hash() == expected
    reloaded.insert(5, 0)
    save(reloaded, store)
    assert MapView(context, int, int).hash() == changed


def test_stale_saved_hash_is_dropped_when_unknown_at_save(store: KeyValueStore) -> None:
    context = ViewContext(store, b"m")
    names = MapView(context, str, int)
    names.insert("a", 1)
    names.hash()
    save(names, store)
    assert store.contains_key(b"m\x02")
    changed = MapView(context, str, int)
    changed.insert("b", 2)  # saved without anyone asking for the hash
    save(changed, store)
    assert not store.contains_key(b"m\x02")
    expected = MapView(ViewContext(MemoryStore(), b""), str, int)
    expected.insert("a", 1)
    expected.insert("b", 2)
    assert MapView(context, str, int).hash() == expected.hash()
    emptied = MapView(context, str, int)
    emptied.clear()
    emptied.hash()
    save(emptied, store)
    assert store.find_keys_by_prefix(b"m") == []


def test_corrupted_saved_hash_names_the_key(store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"s\x02", b"not a hash")
    store.write_batch(batch)
    with pytest.raises(CorruptedViewData, match="7302"):
        SetView(ViewContext(store, b"s"), str).hash()
