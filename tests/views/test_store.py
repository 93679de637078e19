from __future__ import annotations

import pytest

from edgechain.views import Batch, KeyValueStore, MemoryStore, StoreClosed, ViewError
from edgechain.views.store import prefix_successor


def test_prefix_successor() -> None:
    assert prefix_successor(b"ab") == b"ac"
    assert prefix_successor(b"a\xff") == b"b"
    assert prefix_successor(b"a\xff\xff") == b"b"
    assert prefix_successor(b"\xff\xff") is None
    assert prefix_successor(b"") is None


def test_batch_rejects_non_bytes() -> None:
    batch = Batch()
    with pytest.raises(ViewError):
        batch.put("key", b"v")  # type: ignore[arg-type]
    with pytest.raises(ViewError):
        batch.delete_prefix(None)  # type: ignore[arg-type]
    assert batch.is_empty()


def test_reads_writes_and_scans(store: KeyValueStore) -> None:
    batch = Batch()
    for key in [b"b", b"a\xff", b"a\xff\x00", b"a", b"a\x00", b"c", b"\xff\xff", b"\xff\xff\x01"]:
        batch.put(key, key + b"!")
    store.write_batch(batch)
    assert store.read_value(b"a") == b"a!"
    assert store.read_value(b"zz") is None
    assert store.read_multi_values([b"c", b"x", b"a"]) == [b"c!", None, b"a!"]
    assert store.contains_key(b"b") and not store.contains_key(b"bb")
    assert store.find_keys_by_prefix(b"a") == [b"a", b"a\x00", b"a\xff", b"a\xff\x00"]
    assert store.find_keys_by_prefix(b"a\xff") == [b"a\xff", b"a\xff\x00"]
    assert store.find_keys_by_prefix(b"\xff\xff") == [b"\xff\xff", b"\xff\xff\x01"]
    assert store.find_key_values_by_prefix(b"") == [
        (key, key + b"!")
        for key in sorted(
            [b"b", b"a\xff", b"a\xff\x00", b"a", b"a\x00", b"c", b"\xff\xff", b"\xff\xff\x01"]
        )
    ]


def test_batch_operations_apply_in_order(store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"p1", b"1")
    batch.put(b"p2", b"2")
    batch.put(b"q", b"3")
    store.write_batch(batch)
    batch = Batch()
    batch.delete_prefix(b"p")
    batch.put(b"p3", b"new")
    batch.delete(b"q")
    batch.delete(b"missing")
    batch.put(b"r", b"x")
    batch.put(b"r", b"y")
    store.write_batch(batch)
    assert store.find_key_values_by_prefix(b"") == [(b"p3", b"new"), (b"r", b"y")]


def test_delete_prefix_with_trailing_ff(store: KeyValueStore) -> None:
    batch = Batch()
    for key in [b"a\xfe", b"a\xff", b"a\xff\xff", b"b"]:
        batch.put(key, b"")
    store.write_batch(batch)
    batch = Batch()
    batch.delete_prefix(b"a\xff")
    store.write_batch(batch)
    assert store.find_keys_by_prefix(b"") == [b"a\xfe", b"b"]
    batch = Batch()
    batch.delete_prefix(b"")
    store.write_batch(batch)
    assert store.find_keys_by_prefix(b"") == []


def test_empty_values_are_values(store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"k", b"")
    store.write_batch(batch)
    assert store.read_value(b"k") == b""
    assert store.contains_key(b"k")


def test_closed_memory_store_refuses() -> None:
    store = MemoryStore()
    store.close()
    with pytest.raises(StoreClosed):
        store.read_value(b"k")
    with pytest.raises(StoreClosed):
        store.write_batch(Batch())
