from __future__ import annotations

from dataclasses import dataclass

import pytest

from edgechain.base.identifiers import ChainId
from edgechain.base.values import Amount
from edgechain.views import (
    Batch,
    CompositeView,
    KeyValueStore,
    MemoryStore,
    RootView,
    StoreBackendError,
    ViewContext,
    ViewDeclarationError,
)


@dataclass(frozen=True, slots=True)
class Message:
    """A test message."""

    text: str
    """Its text."""


class PeerView(CompositeView):
    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.height = self.register("height", int, 0)
        self.seen = self.set("seen", bytes)


class AccountView(RootView):
    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.balance = self.register("balance", Amount, Amount.zero())
        self.inbox = self.queue("inbox", Message)
        self.history = self.log("history", str)
        self.notes = self.map("notes", str, str)
        self.peers = self.collection("peers", ChainId, PeerView)


def chain_id(number: int) -> ChainId:
    return ChainId.root(number)


def populate(account: AccountView) -> None:
    account.balance.set(Amount(10))
    account.inbox.push_back(Message("hi"))
    account.history.push("opened")
    account.notes.insert("k", "v")
    peer = account.peers.load_entry(chain_id(1))
    peer.height.set(4)
    peer.seen.insert(b"\x01")


def test_save_and_reload(store: KeyValueStore) -> None:
    account = AccountView(ViewContext(store, b"acct"))
    populate(account)
    assert account.has_pending_changes()
    account.save()
    assert not account.has_pending_changes()
    reloaded = AccountView(ViewContext(store, b"acct"))
    assert reloaded.balance.get() == Amount(10)
    assert reloaded.inbox.elements() == [Message("hi")]
    assert reloaded.history.read(0, 5) == ["opened"]
    assert reloaded.notes.items() == [("k", "v")]
    assert reloaded.peers.indices() == [chain_id(1)]
    assert reloaded.peers.load_entry(chain_id(1)).height.get() == 4
    assert reloaded.hash() == account.hash()


def test_rollback_recurses(store: KeyValueStore) -> None:
    account = AccountView(ViewContext(store, b"acct"))
    populate(account)
    account.save()
    saved_hash = account.hash()
    account.balance.set(Amount(1))
    account.inbox.delete_front()
    account.peers.load_entry(chain_id(1)).height.set(9)
    account.peers.load_entry(chain_id(2))
    assert account.hash() != saved_hash
    account.rollback()
    assert account.hash() == saved_hash
    assert not account.has_pending_changes()
    assert account.peers.load_entry(chain_id(1)).height.get() == 4


def test_hash_is_backend_and_prefix_independent(store: KeyValueStore) -> None:
    account = AccountView(ViewContext(store, b"x"))
    populate(account)
    account.save()
    other = AccountView(ViewContext(MemoryStore(), b"somewhere/else"))
    populate(other)
    assert other.hash() == account.hash()
    other.save()
    assert other.hash() == account.hash()


def test_children_have_disjoint_prefixes(store: KeyValueStore) -> None:
    account = AccountView(ViewContext(store, b""))
    populate(account)
    account.save()
    account.notes.clear()
    account.save()
    reloaded = AccountView(ViewContext(store, b""))
    assert reloaded.notes.items() == []
    assert reloaded.balance.get() == Amount(10)
    assert reloaded.history.count() == 1


def test_duplicate_child_name_is_refused() -> None:
    class Twice(CompositeView):
        def __init__(self, context: ViewContext) -> None:
            super().__init__(context)
            self.first = self.register("a", int, 0)
            self.second = self.map("a", int, int)

    with pytest.raises(ViewDeclarationError, match="'a' twice"):
        Twice(ViewContext(MemoryStore()))


class RefusingStore(MemoryStore):
    """A store whose next write fails."""

    def write_batch(self, batch: Batch) -> None:
        raise StoreBackendError("disk full")


def test_failed_save_keeps_staged_changes() -> None:
    store = RefusingStore()
    account = AccountView(ViewContext(store))
    populate(account)
    staged_hash = account.hash()
    with pytest.raises(StoreBackendError):
        account.save()
    assert account.has_pending_changes()
    assert account.hash() == staged_hash
    assert store.find_keys_by_prefix(b"") == []
