"""A chain state saved to SQLite, closed and reopened, has the same hashes and carries on."""

from __future__ import annotations

from pathlib import Path

from ledger_helpers import all_blobs_available, chain, make_ledger

from edgechain.base import Account, Amount, Timestamp
from edgechain.chain import ChainStateView, ExecutedBlock, execute_block
from edgechain.execution import Transfer
from edgechain.views import ViewContext
from edgechain.views.sqlite_store import SqliteStore

A, B = chain(1), chain(2)


def test_reopened_chain_state_has_the_same_hashes_and_continues(tmp_path: Path) -> None:
    ledger = make_ledger([1000, 1000])
    executed_blocks: list[ExecutedBlock] = [ledger.transfer(A, B, Amount(10)) for _ in range(3)]
    path = tmp_path / "chain.sqlite"
    store = SqliteStore(str(path))
    state = ChainStateView(ViewContext(store), A)
    # genesis copied from the memory ledger's initial contents, then the blocks replayed
    genesis = make_ledger([1000, 1000])
    from edgechain.views import Batch

    batch = Batch()
    for key, value in genesis.stores[A].find_key_values_by_prefix(b""):
        batch.put(key, value)
    store.write_batch(batch)
    for executed in executed_blocks:
        state.apply_confirmed_block(executed, all_blobs_available)
        state.save()
    hashes = (state.hash(), state.execution_state.hash(), state.tip_state.get())
    store.close()

    reopened_store = SqliteStore(str(path))
    reopened = ChainStateView(ViewContext(reopened_store), A)
    assert (reopened.hash(), reopened.execution_state.hash(), reopened.tip_state.get()) == hashes
    assert reopened.execution_state.system.balance.get() == Amount(970)
    assert reopened.confirmed_log.count() == 3
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(5))])
    outcome = execute_block(reopened, block, Timestamp(ledger.clock + 1), all_blobs_available)
    reopened.save()
    assert outcome == ledger.execute(block).outcome
    assert reopened.execution_state.system.balance.get() == Amount(965)
    reopened_store.close()
