from __future__ import annotations

from edgechain.views import Batch, KeyValueStore, LogView, ViewContext


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
    assert len(store.find_keys_by_prefix(b"l")) == 2  # count + one entry


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
