"""apply_confirmed_block: a second node replays certified blocks and checks their outcomes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ledger_helpers import Ledger, all_blobs_available, chain, make_ledger, state_snapshot

from edgechain.base import Account, Amount, BlockHeight, ChainId, CryptoHash, decode, encode
from edgechain.chain import (
    ChainStateView,
    ConfirmedBlock,
    ExecutedBlock,
    IncorrectBundle,
    OutcomeMismatch,
)
from edgechain.execution import Transfer
from edgechain.views import MemoryStore, ViewContext

A, B = chain(1), chain(2)


def replica_of(ledger: Ledger) -> dict:  # type: ignore[type-arg]
    """Fresh chain states with the same genesis as ``ledger`` (another validator's copy)."""
    copies = {}
    for chain_id, store in ledger.stores.items():
        replica_store = MemoryStore()
        pairs = store.find_key_values_by_prefix(b"")
        if pairs:
            from edgechain.views import Batch

            batch = Batch()
            for key, value in pairs:
                batch.put(key, value)
            replica_store.write_batch(batch)
        copies[chain_id] = ChainStateView(ViewContext(replica_store), chain_id)
    return copies


def test_a_replica_replays_certified_blocks_to_the_same_state() -> None:
    ledger = make_ledger([500, 500])
    replica = replica_of(ledger)
    executed_blocks = [
        ledger.transfer(A, B, Amount(100)),
        ledger.transfer(A, B, Amount(50)),
        ledger.receive_all(B),
        ledger.transfer(B, A, Amount(10)),
        ledger.receive_all(A),
    ]
    # The replica never got the cross-chain deliveries: the certified blocks vouch for them.
    for executed in executed_blocks:
        state = replica[executed.block.chain_id]
        certified = decode(encode(executed), ExecutedBlock)
        state.apply_confirmed_block(certified, all_blobs_available)
        state.save()
    for chain_id in (A, B):
        assert (
            replica[chain_id].execution_state.hash()
            == ledger.chains[chain_id].execution_state.hash()
        )
        assert replica[chain_id].tip_state.get() == ledger.chains[chain_id].tip_state.get()
        assert replica[chain_id].confirmed_log.read(0, 10) == ledger.chains[
            chain_id
        ].confirmed_log.read(0, 10)
    # Late deliveries to the replica match what the certified blocks took and are absorbed.
    last_delivered: dict[tuple[ChainId, ChainId], BlockHeight] = {}
    for executed in executed_blocks:
        for recipient in executed.recipients():
            bundles = executed.message_bundles_for(recipient, ConfirmedBlock(executed).hash())
            link = (executed.block.chain_id, recipient)
            replica[recipient].receive_bundles(link[0], bundles, last_delivered.get(link))
            replica[recipient].save()
            last_delivered[link] = executed.block.height
    for chain_id in (A, B):
        assert replica[chain_id].pending_incoming_bundles() == []
        for origin in replica[chain_id].inboxes.indices():
            inbox = replica[chain_id].inboxes.try_load_entry(origin)
            assert inbox is not None and inbox.is_empty()


def test_a_late_delivery_that_differs_from_what_was_taken_is_refused() -> None:
    ledger = make_ledger([500, 500])
    replica = replica_of(ledger)
    sent = ledger.transfer(A, B, Amount(100))
    taken = ledger.receive_all(B)
    replica[B].apply_confirmed_block(taken, all_blobs_available)
    replica[B].save()
    (bundle,) = sent.message_bundles_for(B, ConfirmedBlock(sent).hash())
    forged = replace(bundle, certificate_hash=CryptoHash.of_bytes(b"other"))
    with pytest.raises(IncorrectBundle):
        replica[B].receive_bundles(A, [forged], None)
    replica[B].rollback()


def test_a_certified_outcome_that_differs_is_refused_without_change() -> None:
    ledger = make_ledger([500, 500])
    replica = replica_of(ledger)
    executed = ledger.transfer(A, B, Amount(100))
    state = replica[A]
    before = state_snapshot(state)
    wrong_hash = replace(executed.outcome, state_hash=CryptoHash.of_bytes(b"lie"))
    with pytest.raises(OutcomeMismatch):
        state.apply_confirmed_block(ExecutedBlock(executed.block, wrong_hash), all_blobs_available)
    assert state_snapshot(state) == before
    wrong_messages = replace(executed.outcome, messages=[[]])
    with pytest.raises(OutcomeMismatch):
        state.apply_confirmed_block(
            ExecutedBlock(executed.block, wrong_messages), all_blobs_available
        )
    assert state_snapshot(state) == before
    state.apply_confirmed_block(executed, all_blobs_available)
    state.save()
    assert state.execution_state.hash() == executed.outcome.state_hash


def test_executing_then_rolling_back_is_how_a_validator_votes() -> None:
    from edgechain.base import Timestamp
    from edgechain.chain import execute_block

    ledger = make_ledger([500, 500])
    state = ledger.chains[A]
    before = state_snapshot(state)
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(5))])
    outcome = execute_block(state, block, Timestamp(ledger.clock + 1), all_blobs_available)
    assert state.has_pending_changes()
    state.rollback()
    assert state_snapshot(state) == before
    again = execute_block(state, block, Timestamp(ledger.clock + 1), all_blobs_available)
    assert again == outcome
    state.rollback()
