"""SQLite and PostgreSQL specifics: reopening, atomic batches, URLs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgechain.views import (
    Batch,
    InvalidStoreUrl,
    KeyValueStore,
    MemoryStore,
    PostgresStore,
    RootView,
    SqliteStore,
    StoreBackendError,
    StoreClosed,
    ViewContext,
    ViewError,
    open_store,
)
from edgechain.views.store import WriteKind, WriteOperation

StoreOpener = Callable[[], KeyValueStore]


class LedgerView(RootView):
    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.owner = self.register("owner", str, "")
        self.balances = self.map("balances", str, int)
        self.log_entries = self.log("log", str)
        self.pending = self.queue("pending", int)
        self.accounts = self.collection("accounts", int, lambda context: LedgerAccount(context))


class LedgerAccount(RootView):
    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.tags = self.set("tags", str)


def fill(ledger: LedgerView) -> None:
    ledger.owner.set("alice")
    for index in range(50):
        ledger.balances.insert(f"user{index}", index * 7)
        ledger.log_entries.push(f"event {index}")
        ledger.pending.push_back(index)
    for index in range(5):
        ledger.accounts.load_entry(index).tags.insert(f"tag{index}")


def test_close_and_reopen_keeps_contents_and_hash(store_opener: StoreOpener) -> None:
    first = store_opener()
    ledger = LedgerView(ViewContext(first, b"ledger"))
    fill(ledger)
    ledger.save()
    ledger.pending.delete_front()
    ledger.balances.remove("user3")
    ledger.save()
    saved_hash = ledger.hash()
    first.close()
    with pytest.raises(StoreClosed):
        first.read_value(b"x")
    second = store_opener()
    reopened = LedgerView(ViewContext(second, b"ledger"))
    assert reopened.hash() == saved_hash
    assert reopened.owner.get() == "alice"
    assert reopened.balances.get("user3") is None
    assert reopened.pending.front() == 1
    assert reopened.accounts.indices() == [0, 1, 2, 3, 4]


def test_hash_is_the_same_on_every_backend(store_opener: StoreOpener) -> None:
    on_memory = LedgerView(ViewContext(MemoryStore(), b"ledger"))
    fill(on_memory)
    on_memory.save()
    persistent = LedgerView(ViewContext(store_opener(), b"other"))
    fill(persistent)
    persistent.save()
    assert persistent.hash() == on_memory.hash()


class FailingPartWay:
    """Wraps a store's per-operation hook so that the third operation raises a backend error."""

    def __init__(self, error: BaseException) -> None:
        self.calls = 0
        self.error = error

    def check(self) -> None:
        self.calls += 1
        if self.calls == 3:
            raise self.error


def _prefill(kv_store: KeyValueStore) -> None:
    batch = Batch()
    batch.put(b"keep", b"1")
    batch.put(b"doomed/a", b"2")
    kv_store.write_batch(batch)


def _failing_batch() -> Batch:
    batch = Batch()
    batch.put(b"new1", b"x")
    batch.delete(b"keep")
    batch.delete_prefix(b"doomed/")
    batch.put(b"new2", b"y")
    return batch


def _assert_untouched(kv_store: KeyValueStore) -> None:
    assert kv_store.find_key_values_by_prefix(b"") == [(b"doomed/a", b"2"), (b"keep", b"1")]


def test_sqlite_batch_failing_midway_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kv_store = SqliteStore(tmp_path / "db.sqlite")
    _prefill(kv_store)
    failure = FailingPartWay(sqlite3.OperationalError("disk I/O error"))
    original_apply = SqliteStore._apply

    def apply_then_fail(self: SqliteStore, *arguments: Any) -> None:
        failure.check()
        original_apply(self, *arguments)

    monkeypatch.setattr(SqliteStore, "_apply", apply_then_fail)
    with pytest.raises(StoreBackendError, match="rolled back"):
        kv_store.write_batch(_failing_batch())
    assert failure.calls == 3
    _assert_untouched(kv_store)
    kv_store.close()
    reopened = SqliteStore(tmp_path / "db.sqlite")
    _assert_untouched(reopened)
    reopened.close()


def test_postgres_batch_failing_midway_writes_nothing(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    kv_store = PostgresStore(postgres_dsn, "atomicity")
    try:
        kv_store.write_batch(_delete_everything())
        _prefill(kv_store)
        failure = FailingPartWay(psycopg.OperationalError("connection lost"))
        original_apply_run = PostgresStore._apply_run

        def apply_then_fail(
            self: PostgresStore, cursor: Any, kind: WriteKind, run: Iterator[WriteOperation]
        ) -> None:
            failure.check()
            original_apply_run(self, cursor, kind, run)

        monkeypatch.setattr(PostgresStore, "_apply_run", apply_then_fail)
        with pytest.raises(StoreBackendError, match="rolled back"):
            kv_store.write_batch(_failing_batch())
        assert failure.calls == 3
        _assert_untouched(kv_store)
    finally:
        kv_store.drop_namespace()
        kv_store.close()


def test_postgres_real_error_rolls_back(postgres_dsn: str) -> None:
    kv_store = PostgresStore(postgres_dsn, "real_error")
    try:
        _prefill(kv_store)
        batch = Batch()
        batch.put(b"new1", b"x")
        batch.delete(b"keep")
        batch.put(b"bad", b"\x00")
        kv_store.write_batch(batch)  # NUL bytes are fine in BYTEA
        assert kv_store.read_value(b"bad") == b"\x00"
        other = PostgresStore(postgres_dsn, "real_error")
        other.drop_namespace()  # the table vanishes under the first store
        other.close()
        with pytest.raises(StoreBackendError):
            kv_store.write_batch(_failing_batch())
    finally:
        kv_store.close()


def _delete_everything() -> Batch:
    batch = Batch()
    batch.delete_prefix(b"")
    return batch


def test_sqlite_namespaces_are_separate_tables(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "db", "first")
    second = SqliteStore(tmp_path / "db", "second")
    batch = Batch()
    batch.put(b"k", b"1")
    first.write_batch(batch)
    assert second.read_value(b"k") is None
    assert first.read_value(b"k") == b"1"
    first.close()
    second.close()
    with pytest.raises(ViewError, match="namespace"):
        SqliteStore(tmp_path / "db", "Robert'); DROP TABLE kv_first;--")


def test_sqlite_read_multi_values_in_chunks(tmp_path: Path) -> None:
    kv_store = SqliteStore(tmp_path / "db")
    batch = Batch()
    for index in range(1200):
        batch.put(index.to_bytes(4, "big"), str(index).encode())
    kv_store.write_batch(batch)
    keys = [index.to_bytes(4, "big") for index in range(1300)] + [b"\x00\x00\x00\x05"]
    values = kv_store.read_multi_values(keys)
    assert values[:1200] == [str(index).encode() for index in range(1200)]
    assert values[1200:1300] == [None] * 100
    assert values[-1] == b"5"
    kv_store.close()


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    for url in (f"sqlite:{tmp_path / 'a.db'}", f"sqlite://{tmp_path / 'b.db'}"):
        sqlite_store = open_store(url)
        assert isinstance(sqlite_store, SqliteStore)
        sqlite_store.close()
    assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists()
    with pytest.raises(InvalidStoreUrl):
        open_store("sqlite:")
    with pytest.raises(InvalidStoreUrl, match="unknown store URL"):
        open_store("redis://localhost")


def test_open_store_postgres(postgres_dsn: str) -> None:
    if not postgres_dsn.startswith(("postgresql://", "postgres://")):
        pytest.skip("EDGECHAIN_TEST_POSTGRES is a key=value DSN, not a URL")
    kv_store = open_store(postgres_dsn, namespace="via_url")
    try:
        assert isinstance(kv_store, PostgresStore)
        assert kv_store.table == "kv_via_url"
    finally:
        assert isinstance(kv_store, PostgresStore)
        kv_store.drop_namespace()
        kv_store.close()


def test_sqlite_store_on_a_directory_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreBackendError, match="cannot open SQLite store"):
        SqliteStore(tmp_path)


def test_sqlite_store_serialises_threads(tmp_path: Path) -> None:
    import threading

    kv_store = SqliteStore(tmp_path / "db")

    def write_many(worker: int) -> None:
        for index in range(50):
            batch = Batch()
            batch.put(bytes([worker]) + index.to_bytes(2, "big"), b"v")
            kv_store.write_batch(batch)
            kv_store.find_keys_by_prefix(bytes([worker]))

    threads = [threading.Thread(target=write_many, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kv_store.find_keys_by_prefix(b"")) == 200
    kv_store.close()
