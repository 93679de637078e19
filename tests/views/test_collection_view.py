from __future__ import annotations

from edgechain.views import (
    Batch,
    CollectionView,
    KeyValueStore,
    MapView,
    RegisterView,
    ViewContext,
)


def counters(context: ViewContext) -> RegisterView[int]:
    return RegisterView(context, int, 0)


def save(view: CollectionView[str, RegisterView[int]], store: KeyValueStore) -> None:
    batch = Batch()
    view.flush(batch)
    store.write_batch(batch)


def test_load_entry_creates_and_persists(store: KeyValueStore) -> None:
    context = ViewContext(store, b"c")
    collection = CollectionView(context, str, counters)
    assert collection.try_load_entry("a") is None
    collection.load_entry("a").set(3)
    collection.load_entry("b")
    assert collection.indices() == ["a", "b"]
    assert collection.contains("b")
    save(collection, store)
    reloaded = CollectionView(context, str, counters)
    assert reloaded.indices() == ["a", "b"]
    entry = reloaded.try_load_entry("a")
    assert entry is not None and entry.get() == 3
    assert reloaded.load_entry("b").get() == 0


def test_remove_entry_deletes_its_keys(store: KeyValueStore) -> None:
    context = ViewContext(store, b"c")
    collection = CollectionView(context, str, counters)
    collection.load_entry("a").set(3)
    collection.load_entry("b").set(4)
    save(collection, store)
    collection.remove_entry("a")
    assert not collection.contains("a")
    assert collection.indices() == ["b"]
    save(collection, store)
    reloaded = CollectionView(context, str, counters)
    assert reloaded.indices() == ["b"]
    only_b = CollectionView(ViewContext(store, b"d"), str, counters)
    only_b.load_entry("b").set(4)
    assert reloaded.hash() == only_b.hash()


def test_remove_then_recreate_starts_empty(store: KeyValueStore) -> None:
    context = ViewContext(store, b"c")
    collection = CollectionView(context, str, counters)
    collection.load_entry("a").set(3)
    save(collection, store)
    collection.remove_entry("a")
    assert collection.load_entry("a").get() == 0
    save(collection, store)
    reloaded = CollectionView(context, str, counters)
    assert reloaded.indices() == ["a"]
    assert reloaded.load_entry("a").get() == 0


def test_rollback_drops_new_entries_and_restores_removed(store: KeyValueStore) -> None:
    context = ViewContext(store, b"c")
    collection = CollectionView(context, str, counters)
    collection.load_entry("a").set(1)
    save(collection, store)
    saved_hash = collection.hash()
    collection.load_entry("new").set(9)
    collection.remove_entry("a")
    collection.load_entry("a").set(2)
    assert collection.has_pending_changes()
    collection.rollback()
    assert not collection.has_pending_changes()
    assert collection.indices() == ["a"]
    assert collection.load_entry("a").get() == 1
    assert collection.hash() == saved_hash


def test_clear_collection_of_maps(store: KeyValueStore) -> None:
    context = ViewContext(store, b"c")

    def maps(entry_context: ViewContext) -> MapView[str, int]:
        return MapView(entry_context, str, int)

    collection = CollectionView(context, int, maps)
    collection.load_entry(1).insert("x", 1)
    collection.load_entry(2).insert("y", 2)
    batch = Batch()
    collection.flush(batch)
    store.write_batch(batch)
    collection.clear()
    assert collection.indices() == []
    collection.load_entry(2).insert("z", 3)
    assert collection.load_entry(2).items() == [("z", 3)]
    batch = Batch()
    collection.flush(batch)
    store.write_batch(batch)
    reloaded = CollectionView(context, int, maps)
    assert reloaded.indices() == [2]
    assert reloaded.load_entry(2).items() == [("z", 3)]
