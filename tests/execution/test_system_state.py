"""The system state view and SystemExecution on their own, over a MemoryStore."""

from __future__ import annotations

import pytest

from edgechain.base import (
    Account,
    AccountOwner,
    Amount,
    BlockHeight,
    ChainId,
    CryptoHash,
    Epoch,
    KeyPair,
    Timestamp,
)
from edgechain.execution import (
    BlockContext,
    ChainClosed,
    ChainOwnership,
    ChangeOwnership,
    CloseChain,
    Committee,
    Credit,
    ExecutionStateView,
    InitialChainConfig,
    InsufficientFunding,
    InvalidOwnership,
    MessageKind,
    OpenChain,
    OpenChainMessage,
    RootChain,
    Subscribe,
    SystemExecution,
    Transfer,
    UnexpectedMessageOrigin,
    UnsupportedApplication,
    UserOperation,
    Withdraw,
)
from edgechain.views import MemoryStore, ViewContext

ADMIN = ChainId.root(0)
HERE = ChainId.root(1)
THERE = ChainId.root(2)


def owner(index: int) -> AccountOwner:
    return AccountOwner.from_public_key(KeyPair.from_seed(index.to_bytes(32, "big")).public_key)


COMMITTEE = Committee.of_equal_weights([KeyPair.from_seed(bytes(32)).public_key])


def fresh_state(chain_index: int = 1, balance: int = 100) -> ExecutionStateView:
    state = ExecutionStateView(ViewContext(MemoryStore()))
    state.system.initialize(
        RootChain(chain_index),
        InitialChainConfig(
            ChainOwnership.single(owner(1)),
            Epoch(0),
            ADMIN,
            {Epoch(0): COMMITTEE},
            Amount(balance),
            Timestamp(0),
        ),
    )
    return state


def executor(
    state: ExecutionStateView, chain_id: ChainId = HERE, signer: int = 1
) -> SystemExecution:
    return SystemExecution(
        state.system, BlockContext(chain_id, BlockHeight(3), Timestamp(10), owner(signer), [])
    )


def test_credit_and_debit_keep_zero_balances_out_of_the_map() -> None:
    state = fresh_state()
    system = state.system
    system.credit(owner(5), Amount(10))
    assert system.owner_balance(owner(5)) == Amount(10)
    system.debit(owner(5), Amount(10), HERE)
    assert system.balances.count() == 0
    with pytest.raises(InsufficientFunding) as raised:
        system.debit(owner(5), Amount(1), HERE)
    assert raised.value.balance == Amount(0) and raised.value.amount == Amount(1)
    assert system.total_balance() == Amount(100)


def test_transfer_to_another_chain_is_a_tracked_credit() -> None:
    state = fresh_state()
    messages = executor(state).execute_operation(
        Transfer(None, Account(THERE, owner(2)), Amount(30))
    )
    assert state.system.balance.get() == Amount(70)
    (message,) = messages
    assert message.destination == THERE
    assert message.kind == MessageKind.TRACKED
    assert message.message == Credit(owner(2), Amount(30), None)


def test_bouncing_credit_goes_to_its_source() -> None:
    state = fresh_state()
    run = executor(state)
    run.execute_message(THERE, None, True, Credit(owner(2), Amount(5), owner(1)))
    assert state.system.owner_balance(owner(1)) == Amount(5)
    assert state.system.owner_balance(owner(2)) == Amount(0)
    run.execute_message(THERE, None, False, Credit(owner(2), Amount(5), owner(1)))
    assert state.system.owner_balance(owner(2)) == Amount(5)


def test_withdraw_needs_the_owners_authority() -> None:
    state = fresh_state()
    state.system.credit(owner(4), Amount(20))
    run = executor(state)
    from edgechain.execution import UnauthorizedOperation

    with pytest.raises(UnauthorizedOperation):
        run.execute_message(THERE, owner(1), False, Withdraw(owner(4), Amount(5), Account(THERE)))
    messages = run.execute_message(
        THERE, owner(4), False, Withdraw(owner(4), Amount(5), Account(THERE))
    )
    assert state.system.owner_balance(owner(4)) == Amount(15)
    assert [m.message for m in messages] == [Credit(None, Amount(5), owner(4))]


def test_open_chain_sends_the_child_its_config_and_subscribes_it() -> None:
    state = fresh_state()
    run = executor(state)
    ownership = ChainOwnership.single(owner(9))
    first = run.execute_operation(OpenChain(ownership, Amount(10)))
    second = run.execute_operation(OpenChain(ownership, Amount(10)))
    child0 = ChainId.child(HERE, BlockHeight(3), 0)
    child1 = ChainId.child(HERE, BlockHeight(3), 1)
    assert [m.destination for m in first] == [child0, ADMIN]
    assert [m.destination for m in second] == [child1, ADMIN]
    opening = first[0].message
    assert isinstance(opening, OpenChainMessage)
    assert opening.config.balance == Amount(10)
    assert opening.config.committees == {Epoch(0): COMMITTEE}
    assert first[1].message == Subscribe(child0)
    assert all(m.kind == MessageKind.PROTECTED for m in first + second)
    assert state.system.balance.get() == Amount(80)
    with pytest.raises(InvalidOwnership):
        run.execute_operation(OpenChain(ChainOwnership(super_owners=[], owners={}), Amount(1)))


def test_open_chain_on_a_chain_that_was_never_opened_is_refused_as_such() -> None:
    from edgechain.execution import ChainNotActive

    unopened = ExecutionStateView(ViewContext(MemoryStore()))
    before = unopened.hash()
    with pytest.raises(ChainNotActive, match="knows no admin chain"):
        executor(unopened).execute_operation(OpenChain(ChainOwnership.single(owner(9)), Amount(0)))
    assert unopened.hash() == before


def test_open_chain_message_is_only_accepted_from_the_parent_for_this_chain() -> None:
    parent_state = fresh_state()
    (opening, _) = executor(parent_state).execute_operation(
        OpenChain(ChainOwnership.single(owner(9)), Amount(10))
    )
    message = opening.message
    assert isinstance(message, OpenChainMessage)
    child_id = opening.destination
    child = ExecutionStateView(ViewContext(MemoryStore()))
    child_run = SystemExecution(
        child.system, BlockContext(child_id, BlockHeight(0), Timestamp(11), owner(9), [])
    )
    with pytest.raises(UnexpectedMessageOrigin):
        child_run.execute_message(THERE, None, False, message)
    with pytest.raises(UnexpectedMessageOrigin):
        executor(fresh_state(3), ChainId.root(3)).execute_message(HERE, None, False, message)
    child_run.execute_message(HERE, None, False, message)
    assert child.system.is_active()
    assert child.system.balance.get() == Amount(10)
    with pytest.raises(UnexpectedMessageOrigin):
        child_run.execute_message(HERE, None, False, message)


def test_committee_announcements_must_come_from_the_admin_chain() -> None:
    from edgechain.execution import CommitteeCreated

    state = fresh_state()
    with pytest.raises(UnexpectedMessageOrigin):
        executor(state).execute_message(THERE, None, False, CommitteeCreated(Epoch(1), COMMITTEE))
    executor(state).execute_message(ADMIN, None, False, CommitteeCreated(Epoch(1), COMMITTEE))
    assert state.system.epoch.get() == Epoch(1)


def test_closed_chain_and_ownership_changes() -> None:
    state = fresh_state()
    run = executor(state)
    run.execute_operation(ChangeOwnership(ChainOwnership.multiple({owner(1): 1, owner(2): 1})))
    assert state.system.ownership.get().is_owner(owner(2))
    with pytest.raises(InvalidOwnership):
        run.execute_operation(ChangeOwnership(ChainOwnership(super_owners=[], owners={})))
    run.execute_operation(CloseChain())
    with pytest.raises(ChainClosed):
        run.execute_operation(Transfer(None, Account(THERE), Amount(1)))


def test_user_operations_need_a_runtime() -> None:
    from edgechain.base import ApplicationId

    state = fresh_state()
    block_executor = state.block_executor(
        BlockContext(HERE, BlockHeight(0), Timestamp(0), owner(1), [])
    )
    with pytest.raises(UnsupportedApplication):
        block_executor.execute_operation(
            UserOperation(ApplicationId(CryptoHash.of_bytes(b"a")), b"")
        )


def test_state_hash_depends_only_on_contents() -> None:
    first, second = fresh_state(), fresh_state()
    first.system.credit(owner(2), Amount(1))
    first.system.credit(owner(3), Amount(1))
    second.system.credit(owner(3), Amount(1))
    second.system.credit(owner(2), Amount(1))
    assert first.hash() == second.hash()
    second.system.credit(owner(2), Amount(1))
    assert first.hash() != second.hash()
