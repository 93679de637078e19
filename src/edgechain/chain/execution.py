"""`execute_block`: the one state-transition function of a chain.

    validate_block   every rule that can be checked before anything changes:
                     chain, activity, epoch, height, previous hash, signer, timestamp,
                     closed chain, policy limits, inbox order, blob availability
    apply            incoming bundles (accepted: executed; rejected: tracked messages
                     bounce), then operations, then fees; outboxes scheduled; tip moved
    outcome          outgoing messages per transaction and the execution state's hash

On any error every staged change of the chain state is rolled back and the error is
raised again, so a failed block leaves no trace. The caller saves a successful one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgechain.base.encoding import encode
from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block, BlockExecutionOutcome, Event, ExecutedBlock, IncomingBundle
from edgechain.chain.certificate import ConfirmedBlock
from edgechain.chain.errors import (
    ClosedChain,
    InactiveChain,
    InvalidEpoch,
    InvalidTimestamp,
    PendingChanges,
    PolicyViolation,
    ProtectedMessageRejected,
    StaleEpoch,
    UnauthorizedBlockProposer,
    UnexpectedBlockHeight,
    WrongChain,
    WrongPreviousBlockHash,
)
from edgechain.chain.inbox import START, check_removals
from edgechain.chain.tip import ChainTipState
from edgechain.execution.blobs import (
    BlobChecker,
    BlobReader,
    blob_access,
    check_blobs_available,
)
from edgechain.execution.committee import Committee
from edgechain.execution.errors import InsufficientFundingForFees
from edgechain.execution.messages import (
    Message,
    MessageAction,
    MessageKind,
    OpenChainMessage,
    OutgoingMessage,
)
from edgechain.execution.operations import Operation
from edgechain.execution.ownership import ChainOwnership
from edgechain.execution.state import BlockExecutor
from edgechain.execution.system import BlockContext

if TYPE_CHECKING:
    from edgechain.chain.state import ChainStateView


def execute_block(
    chain_state: ChainStateView,
    block: Block,
    local_time: Timestamp | None,
    blob_checker: BlobChecker,
    *,
    require_received_bundles: bool = True,
) -> BlockExecutionOutcome:
    """Validate and execute ``block`` on ``chain_state``; return its outcome.

    ``local_time`` is the node's clock (a block may not be later); None skips that check
    (for certified blocks). ``blob_checker`` returns the published blob ids the node lacks;
    pass the node's storage itself (or its bound ``missing_blobs``) so that contracts can
    be loaded from their bytecode blobs and read data blobs.
    ``require_received_bundles`` (proposals) refuses bundles not yet in the inbox; certified
    blocks pass False. ``chain_state`` must have no unsaved changes. On error, everything is
    rolled back; on success the changes stay staged for the caller to ``save()``.
    """
    if chain_state.has_pending_changes():
        raise PendingChanges(
            f"chain {chain_state.chain_id} has unsaved changes: save or roll back before executing"
        )
    checker, blob_source = blob_access(blob_checker)
    try:
        committee = validate_block(
            chain_state, block, local_time, checker, require_received_bundles
        )
        published_bytes = _published_blob_bytes(
            _where(block, chain_state), block, committee, blob_source
        )
        executor = chain_state.execution_state.block_executor(
            _block_context(chain_state.chain_id, block), committee.policy, checker, blob_source
        )
        try:
            return _apply_block(
                chain_state, block, committee, executor, require_received_bundles, published_bytes
            )
        finally:
            executor.close()
    except BaseException:
        chain_state.rollback()
        raise


def validate_block(
    chain_state: ChainStateView,
    block: Block,
    local_time: Timestamp | None,
    blob_checker: BlobChecker,
    require_received_bundles: bool = True,
) -> Committee:
    """Check every rule that needs no execution; return the committee of the block's epoch.

    Changes nothing.
    """
    chain_id = chain_state.chain_id
    where = f"block {block.height} of chain {chain_id}"
    if block.chain_id != chain_id:
        raise WrongChain(f"block for chain {block.chain_id} executed on chain {chain_id}")
    system = chain_state.execution_state.system
    if system.is_active():
        epoch = system.epoch.get()
        committees = {epoch: committee for epoch, committee in system.committees.items()}
        ownership = system.ownership.get()
        previous_timestamp = system.timestamp.get()
        closed = system.closed.get()
    else:
        opening = _opening_message(chain_id, block)
        epoch = opening.config.epoch
        committees = dict(opening.config.committees)
        ownership = opening.config.ownership
        previous_timestamp = opening.config.timestamp
        closed = False

    committee = _check_epoch(where, block.epoch, epoch, committees)
    tip = chain_state.tip_state.get()
    if block.height != tip.next_block_height:
        raise UnexpectedBlockHeight(
            f"{where}: expected height {tip.next_block_height}, got {block.height}"
        )
    if block.previous_block_hash != tip.block_hash:
        raise WrongPreviousBlockHash(
            f"{where}: previous block hash is {block.previous_block_hash}, the tip is {tip.block_hash}"
        )
    _check_signer(where, block, ownership)
    if block.timestamp < previous_timestamp:
        raise InvalidTimestamp(
            f"{where}: timestamp {block.timestamp} is before the previous {previous_timestamp}"
        )
    if local_time is not None and block.timestamp > local_time:
        raise InvalidTimestamp(
            f"{where}: timestamp {block.timestamp} is in the future (local time {local_time})"
        )
    if closed and (
        block.operations
        or any(incoming.action == MessageAction.ACCEPT for incoming in block.incoming_bundles)
    ):
        raise ClosedChain(f"{where}: the chain is closed; it may only reject incoming bundles")
    _check_policy(where, block, committee)
    _check_incoming_bundles(chain_state, block, require_received_bundles)
    check_blobs_available(blob_checker, block.published_blob_ids)
    return committee


def _opening_message(chain_id: ChainId, block: Block) -> OpenChainMessage:
    """The OpenChain message that the first block of a child chain must accept first."""
    if block.height == BlockHeight(0) and block.incoming_bundles:
        first = block.incoming_bundles[0]
        if first.action == MessageAction.ACCEPT and first.bundle.messages:
            message = first.bundle.messages[0].message
            if (
                isinstance(message, OpenChainMessage)
                and message.description.chain_id() == chain_id
                and message.description.parent == first.origin
            ):
                return message
    raise InactiveChain(
        f"chain {chain_id} is not open: its first block must accept its parent's OpenChain message"
    )


def _check_epoch(
    where: str, block_epoch: Epoch, chain_epoch: Epoch, committees: dict[Epoch, Committee]
) -> Committee:
    if block_epoch < chain_epoch:
        raise StaleEpoch(f"{where}: epoch {block_epoch} is stale, the chain is in {chain_epoch}")
    if block_epoch != chain_epoch:
        raise InvalidEpoch(f"{where}: epoch {block_epoch}, but the chain is in {chain_epoch}")
    committee = committees.get(block_epoch)
    if committee is None:
        raise StaleEpoch(f"{where}: the committee of epoch {block_epoch} was removed")
    return committee


def _check_signer(where: str, block: Block, ownership: ChainOwnership) -> None:
    """The signer must be an owner, unless the chain opens its multi-leader rounds to anyone.

    Which round a proposer may use is the consensus rules' business
    (``ChainManager.check_proposal``: in open multi-leader rounds anyone may propose, in the
    other rounds only super owners or the leader); this check only refuses what no round
    allows. Being the signer gives no authority over the chain's own tokens: system
    operations check ownership themselves.
    """
    signer = block.authenticated_signer
    if signer is None:
        raise UnauthorizedBlockProposer(f"{where}: the block has no authenticated signer")
    if not ownership.is_owner(signer) and not ownership.open_multi_leader_rounds:
        raise UnauthorizedBlockProposer(f"{where}: signer {signer} is not an owner of the chain")


def _check_policy(where: str, block: Block, committee: Committee) -> None:
    policy = committee.policy
    published = block.published_blob_ids
    if len(published) > policy.maximum_published_blobs:
        raise PolicyViolation(
            f"{where} publishes {len(published)} blobs; the limit is {policy.maximum_published_blobs}"
        )
    if len(set(published)) != len(published):
        raise PolicyViolation(f"{where} lists a published blob twice")
    if policy.maximum_block_size < (1 << 64) - 1:
        size = len(encode(block))
        if size > policy.maximum_block_size:
            raise PolicyViolation(
                f"{where} is {size} bytes; the limit is {policy.maximum_block_size}"
            )


def _check_incoming_bundles(
    chain_state: ChainStateView, block: Block, require_received_bundles: bool
) -> None:
    by_origin: dict[ChainId, list[IncomingBundle]] = {}
    for incoming in block.incoming_bundles:
        by_origin.setdefault(incoming.origin, []).append(incoming)
        if incoming.action == MessageAction.REJECT and any(
            not posted.kind.may_be_rejected() for posted in incoming.bundle.messages
        ):
            raise ProtectedMessageRejected(
                f"block {block.height} of chain {chain_state.chain_id} rejects a bundle from"
                f" {incoming.origin} at height {incoming.bundle.height} holding a protected or"
                " bouncing message"
            )
    for origin, incomings in by_origin.items():
        bundles = [incoming.bundle for incoming in incomings]
        inbox = chain_state.inboxes.try_load_entry(origin)
        if inbox is None:
            # Nothing received from this origin: only a certified block may take its bundles.
            check_removals([], START, START, bundles, not require_received_bundles)
        else:
            inbox.check_removals(bundles, allow_unreceived=not require_received_bundles)


def _where(block: Block, chain_state: ChainStateView) -> str:
    return f"block {block.height} of chain {chain_state.chain_id}"


def _published_blob_bytes(
    where: str, block: Block, committee: Committee, blob_source: BlobReader | None
) -> int:
    """The total size of the blobs ``block`` publishes, each checked against the blob size limit.

    Only where the node's blob source is reachable (availability itself is checked by
    ``validate_block``); without one, sizes are neither checked nor charged.
    """
    if blob_source is None or not block.published_blob_ids:
        return 0
    policy = committee.policy
    total = 0
    for blob_id in block.published_blob_ids:
        size = blob_source.read_blob(blob_id).size
        if size > policy.maximum_blob_size:
            raise PolicyViolation(
                f"{where} publishes {blob_id} of {size} bytes; the limit is"
                f" {policy.maximum_blob_size}"
            )
        total += size
    return total


def _block_context(chain_id: ChainId, block: Block) -> BlockContext:
    return BlockContext(
        chain_id=chain_id,
        height=block.height,
        timestamp=block.timestamp,
        authenticated_signer=block.authenticated_signer,
        published_blob_ids=list(block.published_blob_ids),
    )


def _apply_block(
    chain_state: ChainStateView,
    block: Block,
    committee: Committee,
    executor: BlockExecutor,
    require_received_bundles: bool,
    published_bytes: int,
) -> BlockExecutionOutcome:
    execution_state = chain_state.execution_state
    messages: list[list[OutgoingMessage]] = []
    for incoming in block.incoming_bundles:
        inbox = chain_state.inboxes.load_entry(incoming.origin)
        inbox.remove_bundle(incoming.bundle, allow_unreceived=not require_received_bundles)
        outgoing: list[OutgoingMessage] = []
        for posted in incoming.bundle.messages:
            if incoming.action == MessageAction.ACCEPT:
                outgoing.extend(
                    executor.execute_message(
                        incoming.origin,
                        posted.authenticated_signer,
                        posted.kind == MessageKind.BOUNCING,
                        posted.message,
                    )
                )
            elif posted.kind == MessageKind.TRACKED:
                outgoing.append(
                    _bounce(incoming.origin, posted.authenticated_signer, posted.message)
                )
        messages.append(outgoing)
    for operation in block.operations:
        messages.append(executor.execute_operation(operation))

    system = execution_state.system
    fees = _block_fees(block, messages, committee, executor, published_bytes)
    if fees > Amount.zero():
        balance = system.balance.get()
        if fees > balance:
            raise InsufficientFundingForFees(
                f"block {block.height} of chain {chain_state.chain_id} owes fees of {fees};"
                f" the chain balance is {balance}"
            )
        system.balance.set(balance.try_sub(fees))
    system.timestamp.set(block.timestamp)

    for destination in sorted({message.destination for batch in messages for message in batch}):
        chain_state.outboxes.load_entry(destination).schedule_message(block.height)

    transaction_count = len(messages)
    outcome = BlockExecutionOutcome(
        messages=messages,
        state_hash=execution_state.hash(),
        oracle_responses=[[] for _ in range(transaction_count)],
        events=[list[Event]() for _ in range(transaction_count)],
        fees=fees,
        fuel_used=executor.fuel_used,
    )
    block_hash = ConfirmedBlock(ExecutedBlock(block, outcome)).hash()
    chain_state.tip_state.set(ChainTipState(block_hash, block.height.next()))
    chain_state.confirmed_log.push(block_hash)
    chain_state.manager.reset(system.ownership.get())
    return outcome


def _bounce(
    origin: ChainId, authenticated_signer: AccountOwner | None, message: Message
) -> OutgoingMessage:
    return OutgoingMessage(
        destination=origin,
        authenticated_signer=authenticated_signer,
        grant=Amount.zero(),
        refund_grant_to=None,
        kind=MessageKind.BOUNCING,
        message=message,
    )


def _block_fees(
    block: Block,
    messages: list[list[OutgoingMessage]],
    committee: Committee,
    executor: BlockExecutor,
    published_bytes: int,
) -> Amount:
    policy = committee.policy
    if policy.no_prices():
        return Amount.zero()
    return policy.block_fees(
        operation_sizes=[len(encode(operation, Operation)) for operation in block.operations],
        message_sizes=[
            len(encode(message.message, Message)) for batch in messages for message in batch
        ],
        published_blob_count=len(block.published_blob_ids),
        published_blob_bytes=published_bytes,
        fuel_used=executor.fuel_used,
        bytes_read=executor.user.tracker.bytes_read,
        bytes_written=executor.user.tracker.bytes_written,
    )
