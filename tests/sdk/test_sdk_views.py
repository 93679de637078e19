"""SDK views over an application's key-value space: layout, charging, read-only services."""

from __future__ import annotations

import pytest

from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount
from edgechain.execution.applications import ApplicationStorageView
from edgechain.execution.errors import ServiceWriteAttempt
from edgechain.execution.storage_access import ApplicationStorage, ReadOnlyAccountant
from edgechain.sdk import LogView, MapView, RegisterView, RootView, SetView
from edgechain.views import MemoryStore, ViewContext


class ExampleState(RootView):
    count = RegisterView(int, 7)
    balances = MapView(AccountOwner, Amount)
    members = SetView(ChainId)
    history = LogView(str)


class CountingAccountant:
    def __init__(self) -> None:
        self.read = 0
        self.written = 0

    def charge_state_read(self, size: int) -> None:
        self.read += size

    def charge_state_write(self, size: int) -> None:
        self.written += size


def make_state() -> tuple[ExampleState, ApplicationStorageView, CountingAccountant]:
    view = ApplicationStorageView(ViewContext(MemoryStore(), b"app"))
    accountant = CountingAccountant()
    return ExampleState(ApplicationStorage(view, accountant)), view, accountant


def test_register_has_its_default_until_set() -> None:
    state, _, accountant = make_state()
    assert state.count.get() == 7
    state.count.set(9)
    assert state.count.get() == 9
    assert accountant.written > 0 and accountant.read > 0


def test_map_set_and_log_operations() -> None:
    state, _, _ = make_state()
    first, second = AccountOwner.from_hex("01" * 32), AccountOwner.from_hex("02" * 32)
    state.balances.insert(second, Amount(5))
    state.balances.insert(first, Amount(3))
    assert state.balances.get(first) == Amount(3)
    assert state.balances.get(AccountOwner.from_hex("03" * 32)) is None
    assert state.balances.keys() == [first, second]
    assert state.balances.items() == [(first, Amount(3)), (second, Amount(5))]
    state.balances.remove(first)
    assert state.balances.count() == 1 and not state.balances.contains(first)
    chain = ChainId.root(1)
    state.members.insert(chain)
    assert state.members.contains(chain) and state.members.elements() == [chain]
    state.history.push("a")
    state.history.push("b")
    assert state.history.count() == 2
    assert state.history.read(0, 10) == ["a", "b"]
    assert state.history.get(1) == "b" and state.history.get(2) is None


def test_fields_do_not_share_keys_and_state_is_hashed() -> None:
    state, view, _ = make_state()
    empty = view.hash()
    state.history.push("x")
    state.count.set(7)
    assert view.hash() != empty
    assert state.count.get() == 7 and state.history.count() == 1
    assert len(view.entries.keys()) == 3  # count register, log count, log entry


def test_fields_cannot_be_replaced() -> None:
    state, _, _ = make_state()
    with pytest.raises(AttributeError, match="cannot be replaced"):
        state.count = 3  # type: ignore[assignment]


def test_a_service_reads_but_cannot_write() -> None:
    view = ApplicationStorageView(ViewContext(MemoryStore(), b"app"))
    ExampleState(ApplicationStorage(view, CountingAccountant())).count.set(11)
    service_state = ExampleState(ApplicationStorage(view, ReadOnlyAccountant("test service")))
    assert service_state.count.get() == 11
    with pytest.raises(ServiceWriteAttempt, match="test service"):
        service_state.count.set(12)
    with pytest.raises(ServiceWriteAttempt):
        service_state.history.push("no")
    assert service_state.count.get() == 11 and service_state.history.count() == 0
