"""Inboxes take deliveries in order, whole: a delivery that would leave a gap is refused."""

from __future__ import annotations

import pytest
from ledger_helpers import chain, make_ledger, state_snapshot

from edgechain.base import Account, Amount, BlockHeight
from edgechain.chain import ConfirmedBlock
from edgechain.chain.errors import MissingEarlierBundles
from edgechain.execution import Transfer

A, B = chain(1), chain(2)


def test_a_bundle_whose_predecessor_was_lost_is_refused_until_it_arrives() -> None:
    ledger = make_ledger([500, 500])
    blocks = [
        ledger.execute(ledger.make_block(A, [Transfer(None, Account(B), Amount(amount))]))
        for amount in (10, 20)
    ]
    first, second = (
        executed.message_bundles_for(B, ConfirmedBlock(executed).hash()) for executed in blocks
    )
    recipient = ledger.chains[B]
    before = state_snapshot(recipient)
    # Height 0's delivery was lost; height 1 arrives naming it as its predecessor.
    with pytest.raises(MissingEarlierBundles):
        recipient.receive_bundles(A, second, BlockHeight(0))
    assert state_snapshot(recipient) == before
    # The sender delivers again, in order, from its earliest unconfirmed block.
    assert recipient.receive_bundles(A, first + second, None) == 2
    recipient.save()
    assert [incoming.bundle.height for incoming in recipient.pending_incoming_bundles()] == [
        BlockHeight(0),
        BlockHeight(1),
    ]
    # Repeated deliveries are absorbed.
    assert recipient.receive_bundles(A, first + second, None) == 0
    assert recipient.receive_bundles(A, second, BlockHeight(0)) == 0


def test_a_first_delivery_that_claims_a_predecessor_is_refused() -> None:
    ledger = make_ledger([500, 500])
    executed = ledger.execute(ledger.make_block(A, [Transfer(None, Account(B), Amount(10))]))
    bundles = executed.message_bundles_for(B, ConfirmedBlock(executed).hash())
    with pytest.raises(MissingEarlierBundles):
        ledger.chains[B].receive_bundles(A, bundles, BlockHeight(3))


def test_the_outbox_remembers_the_last_confirmed_height() -> None:
    ledger = make_ledger([500, 500])
    for amount in (10, 20):
        ledger.execute(ledger.make_block(A, [Transfer(None, Account(B), Amount(amount))]))
    sender = ledger.chains[A]
    assert sender.unconfirmed_outboxes() == [(B, None, [BlockHeight(0), BlockHeight(1)])]
    assert sender.mark_messages_as_received(B, BlockHeight(0)) == [BlockHeight(0)]
    assert sender.unconfirmed_outboxes() == [(B, BlockHeight(0), [BlockHeight(1)])]
    sender.mark_messages_as_received(B, BlockHeight(1))
    assert sender.unconfirmed_outboxes() == []
    assert sender.outboxes.indices() == []
    assert sender.confirmed_heights.get(B) == BlockHeight(1)
