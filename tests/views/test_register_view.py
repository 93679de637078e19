from __future__ import annotations

import pytest

from edgechain.base.values import Amount
from edgechain.views import Batch, CorruptedViewData, KeyValueStore, RegisterView, ViewContext


def test_default_set_flush_reload(store: KeyValueStore) -> None:
    context = ViewContext(store, b"r")
    register = RegisterView(context, Amount, Amount.zero())
    assert register.get() == Amount.zero()
    assert not register.has_pending_changes()
    register.set(Amount(5))
    assert register.get() == Amount(5)
    assert register.has_pending_changes()
    assert store.find_keys_by_prefix(b"r") == []  # staged only
    batch = Batch()
    register.flush(batch)
    store.write_batch(batch)
    assert not register.has_pending_changes()
    assert RegisterView(context, Amount, Amount.zero()).get() == Amount(5)


def test_rollback_restores_saved_value(store: KeyValueStore) -> None:
    register = RegisterView(ViewContext(store, b"r"), int, 0)
    register.set(1)
    batch = Batch()
    register.flush(batch)
    store.write_batch(batch)
    register.set(2)
    register.rollback()
    assert register.get() == 1
    assert not register.has_pending_changes()


def test_default_is_not_stored_and_hash_ignores_history(store: KeyValueStore) -> None:
    context = ViewContext(store, b"r")
    register = RegisterView(context, str, "none")
    fresh_hash = register.hash()
    register.set("x")
    assert register.hash() != fresh_hash
    batch = Batch()
    register.flush(batch)
    store.write_batch(batch)
    register.set("none")
    batch = Batch()
    register.flush(batch)
    store.write_batch(batch)
    assert store.find_keys_by_prefix(b"r") == []
    assert register.hash() == fresh_hash
    assert RegisterView(context, str, "none").hash() == fresh_hash


def test_corrupted_bytes_name_the_key(store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"r\x00", b"\x61x")  # a str, not an int
    store.write_batch(batch)
    with pytest.raises(CorruptedViewData, match="7200"):
        RegisterView(ViewContext(store, b"r"), int, 0).get()
