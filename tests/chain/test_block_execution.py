"""execute_block: transfers within and across chains, and every rejection leaves no trace."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ledger_helpers import (
    Ledger,
    all_blobs_available,
    chain,
    key_pair,
    make_ledger,
    owner_of,
    state_snapshot,
)

from edgechain.base import (
    Account,
    Amount,
    ApplicationId,
    BlobId,
    BlobType,
    BlockHeight,
    ChainId,
    CryptoHash,
    EdgechainError,
    Epoch,
    Timestamp,
)
from edgechain.chain import (
    Block,
    BundleOutOfOrder,
    ChainError,
    ClosedChain,
    InactiveChain,
    IncomingBundle,
    IncorrectBundle,
    InvalidEpoch,
    InvalidTimestamp,
    MessageAction,
    MissingCrossChainUpdate,
    PendingChanges,
    PolicyViolation,
    ProtectedMessageRejected,
    StaleEpoch,
    UnauthorizedBlockProposer,
    UnexpectedBlockHeight,
    WrongChain,
    WrongPreviousBlockHash,
    execute_block,
)
from edgechain.execution import (
    BlobNotListed,
    BlobsNotFound,
    ChainOwnership,
    ChangeOwnership,
    CloseChain,
    Committee,
    CreateCommittee,
    ExecutionError,
    InsufficientFunding,
    InsufficientFundingForFees,
    InvalidTransferAmount,
    PublishDataBlob,
    ResourceControlPolicy,
    Transfer,
    UnauthorizedOperation,
    UnsupportedApplication,
)

A, B, C = chain(1), chain(2), chain(3)


def assert_rejected(
    ledger: Ledger,
    block: Block,
    error: type[EdgechainError],
    local_time: Timestamp | None = None,
    blob_checker=all_blobs_available,  # type: ignore[no-untyped-def]
) -> None:
    """The block fails with ``error`` and the chain state is exactly as before."""
    state = ledger.chains[block.chain_id]
    before = state_snapshot(state)
    with pytest.raises(error):
        execute_block(
            state,
            block,
            local_time if local_time is not None else Timestamp(ledger.clock + 10_000_000),
            blob_checker,
        )
    assert state_snapshot(state) == before
    assert not state.has_pending_changes()


# --- transfers ------------------------------------------------------------------------


def test_transfer_to_an_owner_on_the_same_chain_moves_no_message(ledger: Ledger) -> None:
    alice = owner_of(key_pair(1))
    executed = ledger.run(ledger.make_block(A, [Transfer(None, Account(A, alice), Amount(300))]))
    assert executed.outcome.messages == [[]]
    assert ledger.balance(A) == Amount(700)
    assert ledger.balance(A, alice) == Amount(300)
    # the owner spends from her own account back to the chain balance
    ledger.run(ledger.make_block(A, [Transfer(alice, Account(A), Amount(100))]))
    assert ledger.balance(A, alice) == Amount(200)
    assert ledger.balance(A) == Amount(800)


def test_transfer_across_chains_is_credited_when_the_recipient_accepts(ledger: Ledger) -> None:
    executed = ledger.transfer(A, B, Amount(250))
    assert ledger.balance(A) == Amount(750)
    assert ledger.balance(B) == Amount(1000), "not credited before B's block takes the bundle"
    assert executed.recipients() == [B]
    assert ledger.chains[A].outboxes.load_entry(B).pending_heights() == [BlockHeight(0)]
    assert len(ledger.pending(B)) == 1
    ledger.receive_all(B)
    assert ledger.balance(B) == Amount(1250)
    assert ledger.pending(B) == []
    # B acknowledges; A's outbox forgets the height
    assert ledger.chains[A].mark_messages_as_received(B, BlockHeight(0)) == [BlockHeight(0)]


def test_transfer_to_an_owner_account_on_another_chain(ledger: Ledger) -> None:
    bob = owner_of(key_pair(2))
    ledger.run(ledger.make_block(A, [Transfer(None, Account(B, bob), Amount(40))]))
    ledger.receive_all(B)
    assert ledger.balance(B, bob) == Amount(40)
    assert ledger.balance(B) == Amount(1000)


def test_rejected_credit_bounces_back_to_the_sender(ledger: Ledger) -> None:
    alice = owner_of(key_pair(1))
    ledger.run(ledger.make_block(A, [Transfer(None, Account(A, alice), Amount(100))]))
    ledger.transfer(A, B, Amount(60), owner=alice)
    assert ledger.balance(A, alice) == Amount(40)
    bounced = ledger.run(ledger.make_block(B, incoming=ledger.pending(B, MessageAction.REJECT)))
    assert ledger.balance(B) == Amount(1000)
    assert [message.destination for message in bounced.outcome.messages[0]] == [A]
    (returning,) = ledger.pending(A, MessageAction.REJECT)
    assert returning.action == MessageAction.ACCEPT, "bounced credits are never rejected"
    rejecting = ledger.make_block(A, incoming=[replace(returning, action=MessageAction.REJECT)])
    assert_rejected(ledger, rejecting, ProtectedMessageRejected)
    ledger.receive_all(A)
    assert ledger.balance(A, alice) == Amount(100), "the bounced credit returns to its source"
    assert ledger.balance(A) == Amount(900)


def test_several_transfers_in_one_block_and_incoming_in_order(ledger: Ledger) -> None:
    ledger.run(
        ledger.make_block(
            A, [Transfer(None, Account(B), Amount(1)), Transfer(None, Account(C), Amount(2))]
        )
    )
    ledger.transfer(A, B, Amount(3))
    assert [bundle.bundle.height for bundle in ledger.pending(B)] == [
        BlockHeight(0),
        BlockHeight(1),
    ]
    ledger.receive_all(B)
    ledger.receive_all(C)
    assert (ledger.balance(A), ledger.balance(B), ledger.balance(C)) == (
        Amount(994),
        Amount(1004),
        Amount(1002),
    )


def test_change_ownership_hands_the_chain_to_another_key(ledger: Ledger) -> None:
    new_pair = key_pair(77)
    ledger.run(ledger.make_block(A, [ChangeOwnership(ChainOwnership.single(owner_of(new_pair)))]))
    old_owner_block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    assert_rejected(ledger, old_owner_block, UnauthorizedBlockProposer)
    ledger.owners[A] = new_pair
    ledger.transfer(A, B, Amount(1))
    assert ledger.balance(A) == Amount(999)


# --- rejections: typed errors, no state change -----------------------------------------


def test_proposal_by_a_non_owner_is_rejected(ledger: Ledger) -> None:
    outsider = owner_of(key_pair(99))
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))], signer=outsider)
    assert_rejected(ledger, block, UnauthorizedBlockProposer)
    assert_rejected(ledger, replace(block, authenticated_signer=None), UnauthorizedBlockProposer)


def test_wrong_height_is_rejected(ledger: Ledger) -> None:
    ledger.transfer(A, B, Amount(1))
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    assert_rejected(ledger, replace(block, height=BlockHeight(5)), UnexpectedBlockHeight)
    assert_rejected(ledger, replace(block, height=BlockHeight(0)), UnexpectedBlockHeight)


def test_wrong_previous_hash_is_rejected(ledger: Ledger) -> None:
    ledger.transfer(A, B, Amount(1))
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    assert_rejected(
        ledger,
        replace(block, previous_block_hash=CryptoHash.of_bytes(b"x")),
        WrongPreviousBlockHash,
    )
    assert_rejected(ledger, replace(block, previous_block_hash=None), WrongPreviousBlockHash)


def test_overdraft_is_rejected(ledger: Ledger) -> None:
    ledger.transfer(A, B, Amount(1))  # some history first
    block = ledger.make_block(
        A, [Transfer(None, Account(B), Amount(500)), Transfer(None, Account(C), Amount(500))]
    )
    assert_rejected(ledger, block, InsufficientFunding)
    alice = owner_of(key_pair(1))
    assert_rejected(
        ledger, ledger.make_block(A, [Transfer(alice, Account(B), Amount(1))]), InsufficientFunding
    )


def test_spending_another_owners_account_is_unauthorized(ledger: Ledger) -> None:
    bob = owner_of(key_pair(2))
    ledger.run(ledger.make_block(A, [Transfer(None, Account(A, bob), Amount(10))]))
    block = ledger.make_block(A, [Transfer(bob, Account(B), Amount(5))])
    assert_rejected(ledger, block, UnauthorizedOperation)


def test_zero_transfer_is_rejected(ledger: Ledger) -> None:
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(0))])
    assert_rejected(ledger, block, InvalidTransferAmount)


def test_block_for_another_chain_is_rejected(ledger: Ledger) -> None:
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    state = ledger.chains[B]
    before = state_snapshot(state)
    with pytest.raises(WrongChain):
        execute_block(state, block, Timestamp(ledger.clock), all_blobs_available)
    assert state_snapshot(state) == before


def test_timestamps_before_the_previous_block_or_in_the_future_are_rejected(
    ledger: Ledger,
) -> None:
    ledger.transfer(A, B, Amount(1))
    previous = ledger.chains[A].execution_state.system.timestamp.get()
    early = ledger.make_block(
        A, [Transfer(None, Account(B), Amount(1))], timestamp=Timestamp(previous.micros - 1)
    )
    assert_rejected(ledger, early, InvalidTimestamp)
    future = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    assert_rejected(
        ledger, future, InvalidTimestamp, local_time=Timestamp(future.timestamp.micros - 1)
    )


def test_block_with_unsaved_changes_pending_is_refused(ledger: Ledger) -> None:
    state = ledger.chains[A]
    state.execution_state.system.balance.set(Amount(5))
    with pytest.raises(PendingChanges):
        execute_block(state, ledger.make_block(A, []), Timestamp(ledger.clock), all_blobs_available)
    assert state.execution_state.system.balance.get() == Amount(5), "left for the caller"
    state.rollback()


def test_user_operation_without_a_runtime_fails_cleanly(ledger: Ledger) -> None:
    from edgechain.execution import UserOperation

    operation = UserOperation(ApplicationId(CryptoHash.of_bytes(b"app")), b"\x01")
    block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1)), operation])
    assert_rejected(ledger, block, UnsupportedApplication)


def test_closed_chain_refuses_operations_and_accepting_but_may_reject(ledger: Ledger) -> None:
    ledger.transfer(B, A, Amount(5))
    ledger.run(ledger.make_block(A, [CloseChain()]))
    assert_rejected(
        ledger, ledger.make_block(A, [Transfer(None, Account(B), Amount(1))]), ClosedChain
    )
    assert_rejected(ledger, ledger.make_block(A, incoming=ledger.pending(A)), ClosedChain)
    ledger.run(ledger.make_block(A, incoming=ledger.pending(A, MessageAction.REJECT)))
    ledger.receive_all(B)
    assert ledger.balance(B) == Amount(1000), "the rejected credit bounced back to B"


# --- blobs and policy ------------------------------------------------------------------


def blob(index: int) -> BlobId:
    return BlobId.for_content(BlobType.DATA, f"blob {index}".encode())


def test_publishing_needs_the_blob_bytes(ledger: Ledger) -> None:
    blob_id = blob(1)
    block = ledger.make_block(A, [PublishDataBlob(blob_id)], published_blob_ids=[blob_id])

    def missing_all(ids):  # type: ignore[no-untyped-def]
        return list(ids)

    state = ledger.chains[A]
    before = state_snapshot(state)
    with pytest.raises(BlobsNotFound) as raised:
        execute_block(state, block, Timestamp(ledger.clock + 1_000_000), missing_all)
    assert raised.value.blob_ids == [blob_id]
    assert state_snapshot(state) == before
    ledger.run(block)
    assert ledger.chains[A].execution_state.system.published_blobs.contains(blob_id)


def test_publish_operation_must_list_its_blob(ledger: Ledger) -> None:
    block = ledger.make_block(A, [PublishDataBlob(blob(1))], published_blob_ids=[blob(2)])
    assert_rejected(ledger, block, BlobNotListed)


def test_testnet_policy_limits_published_blobs_and_charges_fees() -> None:
    ledger = make_ledger([10**18, 10**18], policy=ResourceControlPolicy.testnet())
    ids = [blob(index) for index in range(11)]
    too_many = ledger.make_block(
        A, [PublishDataBlob(blob_id) for blob_id in ids], published_blob_ids=ids
    )
    assert_rejected(ledger, too_many, PolicyViolation)
    executed = ledger.transfer(A, B, Amount(1000))
    fees = executed.outcome.fees
    assert fees > Amount(0)
    assert ledger.balance(A) == Amount(10**18 - 1000 - fees.atto)


def test_chain_that_cannot_pay_its_fees_fails() -> None:
    ledger = make_ledger([10, 10], policy=ResourceControlPolicy.testnet())
    assert_rejected(ledger, ledger.make_block(A, []), InsufficientFundingForFees)


# --- inboxes ---------------------------------------------------------------------------


def test_bundles_are_taken_in_order_never_reordered(ledger: Ledger) -> None:
    ledger.transfer(A, B, Amount(1))
    ledger.transfer(A, B, Amount(2))
    first, second = ledger.pending(B)
    assert_rejected(ledger, ledger.make_block(B, incoming=[second]), BundleOutOfOrder)
    assert_rejected(ledger, ledger.make_block(B, incoming=[second, first]), BundleOutOfOrder)
    ledger.run(ledger.make_block(B, incoming=[first]))
    assert_rejected(ledger, ledger.make_block(B, incoming=[first]), BundleOutOfOrder)
    ledger.run(ledger.make_block(B, incoming=[second]))
    assert ledger.balance(B) == Amount(1003)


def test_a_proposal_may_not_take_a_bundle_not_yet_received(ledger: Ledger) -> None:
    executed = ledger.execute(ledger.make_block(A, [Transfer(None, Account(B), Amount(7))]))
    from edgechain.chain import ConfirmedBlock

    bundles = executed.message_bundles_for(B, ConfirmedBlock(executed).hash())
    incoming = [IncomingBundle(A, bundle, MessageAction.ACCEPT) for bundle in bundles]
    assert_rejected(ledger, ledger.make_block(B, incoming=incoming), MissingCrossChainUpdate)


def test_an_altered_bundle_is_rejected(ledger: Ledger) -> None:
    ledger.transfer(A, B, Amount(7))
    (incoming,) = ledger.pending(B)
    forged_message = replace(
        incoming.bundle.messages[0],
        message=replace(incoming.bundle.messages[0].message, amount=Amount(700)),  # type: ignore[type-var]
    )
    forged = replace(incoming, bundle=replace(incoming.bundle, messages=[forged_message]))
    assert_rejected(ledger, ledger.make_block(B, incoming=[forged]), IncorrectBundle)


def test_protected_messages_cannot_be_rejected(ledger: Ledger) -> None:
    new_committee = Committee.of_equal_weights([key_pair(2000).public_key])
    admin = ledger.admin_id
    ledger.run(ledger.make_block(admin, [CreateCommittee(Epoch(1), new_committee)]))
    (announcement,) = ledger.pending(A, MessageAction.REJECT)
    assert announcement.action == MessageAction.ACCEPT, "the helper never rejects protected ones"
    rejecting = ledger.make_block(A, incoming=[replace(announcement, action=MessageAction.REJECT)])
    assert_rejected(ledger, rejecting, ProtectedMessageRejected)


# --- epochs ----------------------------------------------------------------------------


def test_new_committee_reaches_subscribers_and_old_epoch_becomes_stale(ledger: Ledger) -> None:
    new_committee = Committee.of_equal_weights([key_pair(2000 + i).public_key for i in range(4)])
    admin = ledger.admin_id
    executed = ledger.run(ledger.make_block(admin, [CreateCommittee(Epoch(1), new_committee)]))
    assert executed.recipients() == sorted([A, B, C])
    stale_block = ledger.make_block(A, [Transfer(None, Account(B), Amount(1))])
    ledger.receive_all(A)  # takes the announcement; A is now in epoch 1
    system = ledger.chains[A].execution_state.system
    assert system.epoch.get() == Epoch(1)
    assert system.committees.get(Epoch(1)) == new_committee
    stale = replace(ledger.make_block(A, [Transfer(None, Account(B), Amount(1))]), epoch=Epoch(0))
    assert stale_block.epoch == Epoch(0)
    assert_rejected(ledger, stale, StaleEpoch)
    assert_rejected(ledger, replace(stale, epoch=Epoch(2)), InvalidEpoch)
    ledger.transfer(A, B, Amount(1))  # epoch 1 works


def test_removed_committee_makes_its_epoch_stale(ledger: Ledger) -> None:
    from edgechain.execution import RemoveCommittee

    admin = ledger.admin_id
    committee = Committee.of_equal_weights([key_pair(2000).public_key])
    ledger.run(ledger.make_block(admin, [CreateCommittee(Epoch(1), committee)]))
    ledger.run(ledger.make_block(admin, [RemoveCommittee(Epoch(0))]))
    # B takes only the creation, then the removal, in two blocks
    first, second = ledger.pending(B)
    ledger.run(ledger.make_block(B, incoming=[first]))
    ledger.run(ledger.make_block(B, incoming=[second]))
    assert ledger.chains[B].execution_state.system.committees.keys() == [Epoch(1)]


def test_committee_operations_only_on_the_admin_chain(ledger: Ledger) -> None:
    from edgechain.execution import InvalidCommitteeEpoch, NotAdminChain

    committee = Committee.of_equal_weights([key_pair(2000).public_key])
    assert_rejected(
        ledger, ledger.make_block(A, [CreateCommittee(Epoch(1), committee)]), NotAdminChain
    )
    assert_rejected(
        ledger,
        ledger.make_block(ledger.admin_id, [CreateCommittee(Epoch(2), committee)]),
        InvalidCommitteeEpoch,
    )


# --- child chains ----------------------------------------------------------------------


def test_open_chain_creates_a_child_with_balance_owner_and_committee(ledger: Ledger) -> None:
    from edgechain.execution import ChildChain, OpenChain

    child_pair = key_pair(50)
    parent_block = ledger.make_block(
        A, [OpenChain(ChainOwnership.single(owner_of(child_pair)), Amount(300))]
    )
    child_id = ChainId.child(A, parent_block.height, 0)
    ledger.add_chain(child_id, child_pair)
    assert_rejected(ledger, ledger.make_block(child_id, []), InactiveChain)
    ledger.run(parent_block)
    assert ledger.balance(A) == Amount(700)
    ledger.receive_all(ledger.admin_id)  # the admin chain learns of its new subscriber
    assert ledger.chains[ledger.admin_id].execution_state.system.subscribers.contains(child_id)
    ledger.receive_all(child_id)  # the child's first block accepts its OpenChain message
    system = ledger.chains[child_id].execution_state.system
    assert system.description.get() == ChildChain(A, BlockHeight(0), 0)
    assert system.balance.get() == Amount(300)
    assert system.ownership.get() == ChainOwnership.single(owner_of(child_pair))
    assert system.committees.get(Epoch(0)) == ledger.committee
    ledger.transfer(child_id, B, Amount(100))
    ledger.receive_all(B)
    assert ledger.balance(B) == Amount(1100)


def test_claim_withdraws_an_owners_tokens_from_another_chain(ledger: Ledger) -> None:
    from edgechain.execution import Claim

    alice = owner_of(key_pair(1))  # owner of chain A
    ledger.run(ledger.make_block(B, [Transfer(None, Account(B, alice), Amount(80))]))
    ledger.run(ledger.make_block(A, [Claim(alice, B, Account(A), Amount(30))]))
    ledger.receive_all(B)  # B executes the withdrawal signed by alice
    assert ledger.balance(B, alice) == Amount(50)
    ledger.receive_all(A)
    assert ledger.balance(A) == Amount(1030)


def test_withdrawal_of_more_than_the_owner_holds_fails(ledger: Ledger) -> None:
    from edgechain.execution import Claim

    alice = owner_of(key_pair(1))
    ledger.run(ledger.make_block(A, [Claim(alice, B, Account(A), Amount(30))]))
    assert_rejected(ledger, ledger.make_block(B, incoming=ledger.pending(B)), InsufficientFunding)
    ledger.run(ledger.make_block(B, incoming=ledger.pending(B, MessageAction.REJECT)))
    assert ledger.pending(A) == [], "a simple message is dropped when rejected"


def test_every_typed_error_is_a_chain_or_execution_error() -> None:
    for error in (
        UnauthorizedBlockProposer,
        UnexpectedBlockHeight,
        WrongPreviousBlockHash,
        StaleEpoch,
        ClosedChain,
        BundleOutOfOrder,
    ):
        assert issubclass(error, ChainError)
    for error in (InsufficientFunding, BlobsNotFound, UnauthorizedOperation):  # type: ignore[assignment]
        assert issubclass(error, ExecutionError)


def test_oversized_block_is_refused_before_anything_runs() -> None:
    from edgechain.execution import UserOperation

    ledger = make_ledger([10**18, 10**18], policy=ResourceControlPolicy.testnet())
    huge = UserOperation(ApplicationId(CryptoHash.of_bytes(b"app")), bytes(1_000_001))
    # PolicyViolation, not UnsupportedApplication: limits are checked before execution
    assert_rejected(ledger, ledger.make_block(A, [huge]), PolicyViolation)
