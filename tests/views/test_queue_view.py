from __future__ import annotations

import pytest

from edgechain.views import Batch, KeyValueStore, QueueEmpty, QueueView, ViewContext


def save(view: QueueView[int], store: KeyValueStore) -> None:
    batch = Batch()
    view.flush(batch)
    store.write_batch(batch)


def test_fifo_across_saves(store: KeyValueStore) -> None:
    context = ViewContext(store, b"q")
    queue = QueueView(context, int)
    assert queue.front() is None
    for number in [1, 2, 3]:
        queue.push_back(number)
    assert queue.front() == 1
    queue.delete_front()
    assert queue.elements() == [2, 3]
    save(queue, store)
    queue = QueueView(context, int)
    assert queue.elements() == [2, 3]
    queue.push_back(4)
    queue.delete_front()
    queue.delete_front()
    assert queue.front() == 4
    assert queue.count() == 1
    save(queue, store)
    reloaded = QueueView(context, int)
    assert reloaded.elements() == [4]
    assert len(store.find_keys_by_prefix(b"q")) == 2  # range + one entry


def test_emptied_queue_leaves_no_keys_and_restarts(store: KeyValueStore) -> None:
    context = ViewContext(store, b"q")
    queue = QueueView(context, int)
    queue.push_back(1)
    save(queue, store)
    queue.delete_front()
    save(queue, store)
    assert store.find_keys_by_prefix(b"q") == []
    with pytest.raises(QueueEmpty):
        queue.delete_front()
    queue.push_back(7)
    save(queue, store)
    assert QueueView(context, int).elements() == [7]


def test_rollback_restores_deleted_front(store: KeyValueStore) -> None:
    context = ViewContext(store, b"q")
    queue = QueueView(context, int)
    for number in [1, 2]:
        queue.push_back(number)
    save(queue, store)
    saved_hash = queue.hash()
    queue.delete_front()
    queue.push_back(3)
    assert queue.hash() != saved_hash
    queue.rollback()
    assert queue.elements() == [1, 2]
    assert queue.hash() == saved_hash


def test_hash_ignores_indices(store: KeyValueStore) -> None:
    shifted = QueueView(ViewContext(store, b"1"), int)
    for number in [0, 1, 2]:
        shifted.push_back(number)
    save(shifted, store)
    shifted.delete_front()
    save(shifted, store)
    fresh = QueueView(ViewContext(store, b"2"), int)
    fresh.push_back(1)
    fresh.push_back(2)
    assert QueueView(ViewContext(store, b"1"), int).hash() == fresh.hash()


def test_clear(store: KeyValueStore) -> None:
    context = ViewContext(store, b"q")
    queue = QueueView(context, int)
    for number in [1, 2]:
        queue.push_back(number)
    save(queue, store)
    queue.clear()
    queue.push_back(5)
    assert queue.elements() == [5]
    save(queue, store)
    assert QueueView(context, int).elements() == [5]
