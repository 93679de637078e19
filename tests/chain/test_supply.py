"""Total supply is conserved over random transfers, acceptances, rejections and bounces."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import Ledger, chain, key_pair, make_ledger, owner_of, state_snapshot

from edgechain.base import Account, Amount, ChainId
from edgechain.chain import ChainStateView, MessageAction
from edgechain.execution import Claim, Credit, InsufficientFunding, Transfer

CHAINS = [chain(1), chain(2), chain(3), chain(4)]
INITIAL = 1_000


def in_flight(state: ChainStateView) -> int:
    """Tokens in credits received by ``state`` but not yet taken."""
    total = 0
    for origin in state.inboxes.indices():
        inbox = state.inboxes.try_load_entry(origin)
        assert inbox is not None
        for bundle in inbox.added_bundles.elements():
            for posted in bundle.messages:
                if isinstance(posted.message, Credit):
                    total += posted.message.amount.atto
    return total


def total_supply(ledger: Ledger) -> int:
    held = sum(
        ledger.chains[chain_id].execution_state.system.total_balance().atto
        for chain_id in ledger.chains
    )
    return held + sum(in_flight(state) for state in ledger.chains.values())


transfers = st.tuples(
    st.just("transfer"),
    st.integers(0, 3),  # sender
    st.integers(0, 3),  # recipient
    st.integers(1, 700),  # amount
    st.none() | st.integers(0, 3),  # to this chain owner's account there, not the chain balance
    st.booleans(),  # spend from the sender's owner account instead of the chain balance
)
claims = st.tuples(
    st.just("claim"),
    st.integers(0, 3),  # the chain whose owner claims (and receives)
    st.integers(0, 3),  # the chain holding the owner's tokens
    st.integers(1, 300),
)
receipts = st.tuples(
    st.just("receive"),
    st.integers(0, 3),
    st.sampled_from([MessageAction.ACCEPT, MessageAction.REJECT]),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.one_of(transfers, claims, receipts), min_size=1, max_size=18))
def test_total_supply_is_conserved(actions: list[tuple[object, ...]]) -> None:
    ledger = make_ledger([INITIAL] * 4)
    expected = 4 * INITIAL
    # every chain's owner starts with an account on every chain, so that claims can succeed
    owners = [owner_of(key_pair(index + 1)) for index in range(4)]
    for chain_id in CHAINS:
        ledger.run(
            ledger.make_block(
                chain_id,
                [Transfer(None, Account(chain_id, owner), Amount(100)) for owner in owners],
            )
        )
    assert total_supply(ledger) == expected
    for action in actions:
        if action[0] == "transfer":
            _, sender_index, recipient_index, amount, to_owner, from_owner = action
            sender: ChainId = CHAINS[sender_index]  # type: ignore[index]
            recipient: ChainId = CHAINS[recipient_index]  # type: ignore[index]
            spender = owner_of(key_pair(sender_index + 1)) if from_owner else None  # type: ignore[operator]
            target = None if to_owner is None else owner_of(key_pair(to_owner + 1))  # type: ignore[operator]
            block = ledger.make_block(
                sender,
                [Transfer(spender, Account(recipient, target), Amount(amount))],  # type: ignore[arg-type]
            )
            state = ledger.chains[sender]
            before = state_snapshot(state)
            available = state.execution_state.system.owner_balance(spender).atto
            if amount > available:  # type: ignore[operator]
                try:
                    ledger.run(block)
                except InsufficientFunding:
                    assert state_snapshot(state) == before
                else:
                    raise AssertionError("an overdraft was executed")
            else:
                ledger.run(block)
        elif action[0] == "claim":
            _, claimer_index, holder_index, amount = action
            claimer: ChainId = CHAINS[claimer_index]  # type: ignore[index]
            holder: ChainId = CHAINS[holder_index]  # type: ignore[index]
            owner = owner_of(key_pair(claimer_index + 1))  # type: ignore[operator]
            block = ledger.make_block(
                claimer,
                [Claim(owner, holder, Account(claimer), Amount(amount))],  # type: ignore[arg-type]
            )
            state = ledger.chains[claimer]
            before = state_snapshot(state)
            try:
                ledger.run(block)
            except InsufficientFunding:  # a claim on the claimer's own chain runs at once
                assert holder == claimer
                assert state_snapshot(state) == before
        else:
            _, chain_index, choice = action
            chain_id = CHAINS[chain_index]  # type: ignore[index]
            incoming = ledger.pending(chain_id, choice)  # type: ignore[arg-type]
            if incoming:
                state = ledger.chains[chain_id]
                before = state_snapshot(state)
                try:
                    ledger.run(ledger.make_block(chain_id, incoming=incoming))
                except InsufficientFunding:  # a withdrawal larger than the owner holds
                    assert state_snapshot(state) == before
                    rejecting = ledger.pending(chain_id, MessageAction.REJECT)
                    ledger.run(ledger.make_block(chain_id, incoming=rejecting))
        assert total_supply(ledger) == expected
    # drain: everyone takes everything (rejecting what cannot run) until nothing is in flight
    for _ in range(4):
        for chain_id in CHAINS:
            if ledger.pending(chain_id):
                try:
                    ledger.receive_all(chain_id)
                except InsufficientFunding:
                    ledger.run(
                        ledger.make_block(
                            chain_id, incoming=ledger.pending(chain_id, MessageAction.REJECT)
                        )
                    )
    assert sum(in_flight(state) for state in ledger.chains.values()) == 0
    assert total_supply(ledger) == expected
