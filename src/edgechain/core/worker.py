"""`WorkerState`: a validator's handling of proposals, certificates, cross-chain requests and
chain-info queries, over a `Storage`.

    handle_block_proposal    check the owner's signature and, through the chain's
                             `ChainManager`, the round, the leader, earlier votes and locks;
                             execute the block on the chain state and roll the changes back;
                             remember and sign a vote: to confirm (fast round)
                             or to validate (multi-leader and single-leader rounds). Never
                             two different blocks at one height and round
    handle_certificate       check it against the committee of its epoch; a confirmed block
                             is re-executed, its outcome compared, certificate and state
                             persisted; a validated block is locked and voted to confirm; a
                             timeout moves the chain to its next round. For a confirmed block
                             (new or already applied), the cross-chain requests returned carry
                             every message the recipients have not confirmed yet
    handle_cross_chain_request   check delivered bundles against the sender's stored
                             certificate, add them to an inbox (no gaps) / trim an outbox
    outbox_requests          the deliveries a chain still owes (re-sent until confirmed)
    handle_chain_info_query  the chain's tip, balance, state hash, round, inbox, confirmed
                             hashes; on request, a timeout vote for a round past its deadline

Handlers validate before they mutate and save the chain state once, atomically; one that
fails leaves unsaved changes at most, which the storage never hands out again.
"""

from __future__ import annotations

from collections import OrderedDict

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.base.values import BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block, ExecutedBlock, IncomingBundle, MessageBundle
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Timeout, ValidatedBlock, Vote
from edgechain.chain.errors import InactiveChain, StaleEpoch, UnexpectedBlockHeight
from edgechain.chain.execution import execute_block
from edgechain.chain.proposal import BlockProposal
from edgechain.chain.state import ChainStateView
from edgechain.core.chain_info import ChainInfo, ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import ConfirmUpdatedRecipient, CrossChainRequest, UpdateRecipient
from edgechain.core.errors import (
    BlobsNotFound,
    InvalidCrossChainRequest,
    MissingEarlierBlocks,
    UnknownChain,
    WorkerError,
)
from edgechain.execution.committee import Committee
from edgechain.execution.messages import MessageAction, OpenChainMessage
from edgechain.execution.ownership import ChainOwnership
from edgechain.storage.errors import CertificateNotFound
from edgechain.storage.storage import Storage

MAX_CLOCK_SKEW_MICROS = 2_000_000
"""How far in the future (µs) a proposed block's timestamp may be, against this node's clock."""

CHECKED_CERTIFICATES_KEPT = 256
"""How many checked certificates a worker remembers (to skip checking the same object again)."""


class WorkerState:
    """Handles the requests of one validator (or of a client's local node) for its chains."""

    def __init__(
        self,
        storage: Storage,
        key_pair: KeyPair | None,
        chain_filter: frozenset[ChainId] | None = None,
        *,
        sole_writer: bool = False,
    ) -> None:
        self.storage = storage
        """Where chains, certificates and blobs are kept."""
        self.key_pair = key_pair
        """The validator's signing key; None for a node that does not vote."""
        self.chain_filter = chain_filter
        """The chains this worker handles (None: all of them)."""
        self.sole_writer = sole_writer
        """True when no other worker writes to this storage's chains (one shard holding every
        chain): then the storage's cached views are current for every chain, senders too."""
        self._checked_certificates: OrderedDict[CryptoHash, tuple[Certificate, Committee]] = (
            OrderedDict()
        )

    # -------------------------------------------------------------- proposals

    def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        """Check and execute a proposal without keeping its effects; return a signed vote.

        Fast round: a vote to confirm the block. Multi-leader and single-leader rounds: a
        vote to validate it (phase one of two). The chain's `ChainManager` decides whether
        this validator may vote at all (round, leader, earlier vote, lock).
        """
        if self.key_pair is None:
            raise WorkerError("this node does not vote: it has no validator key")
        block = proposal.content.block
        self._check_handles(block.chain_id)
        proposal.check_signature()
        chain = self.storage.load_chain(block.chain_id)
        next_height = chain.next_block_height()
        if block.height != next_height:
            raise UnexpectedBlockHeight(
                f"block {block.height} of chain {block.chain_id}: the next height is {next_height}"
            )
        _check_known(chain)
        ownership = _ownership_for(chain, block)
        earlier_vote = chain.manager.check_proposal(proposal, ownership)
        if earlier_vote is not None:
            return self._response(chain, earlier_vote)
        carried = proposal.validated_block_certificate
        if carried is not None:
            carried.check(self._committee_for(chain, block.epoch, block))
        missing = self.storage.missing_blobs(block.published_blob_ids)
        if missing:
            raise BlobsNotFound(list(missing))
        # Execute on the loaded chain state and roll every staged change back before the vote
        # is recorded: nothing of the proposal's execution reaches the stored state (the save
        # below writes the manager's vote only). The loaded view is reused rather than a fresh
        # copy read from the store: reading and decoding the whole state again cost more than
        # the execution itself. On an execution error ``execute_block`` rolls back too.
        local_time = Timestamp(Timestamp.now().micros + MAX_CLOCK_SKEW_MICROS)
        try:
            outcome = execute_block(chain, block, local_time, self.storage.missing_blobs)
        finally:
            chain.rollback()
        vote = chain.manager.vote_for_proposal(
            proposal, ExecutedBlock(block, outcome), self.key_pair
        )
        chain.save()
        return self._response(chain, vote)

    # ----------------------------------------------------------- certificates

    def handle_certificate(
        self, certificate: Certificate
    ) -> tuple[ChainInfoResponse, list[CrossChainRequest]]:
        """Handle a certificate; return the chain info and the cross-chain requests to send.

        Confirmed block: re-execute, compare, persist, deliver its messages. Validated block
        (multi-owner rounds): lock on it and vote to confirm it. Timeout: move to the next
        round. A certificate for a height this node has passed is answered without change.
        """
        value = certificate.value
        if isinstance(value, Timeout):
            return self._handle_timeout_certificate(certificate, value), []
        executed_block = certificate.executed_block
        block = executed_block.block
        self._check_handles(block.chain_id)
        chain = self.storage.load_chain(block.chain_id)
        next_height = chain.next_block_height()
        if block.height < next_height:
            # Already applied: deliver again whatever the recipients have not confirmed.
            return self._response(chain, None), self._outbox_requests(chain)
        if block.height > next_height:
            raise MissingEarlierBlocks(block.chain_id, next_height, block.height)
        self._check_certificate(certificate, self._committee_for(chain, block.epoch, block))
        missing = self.storage.missing_blobs(block.published_blob_ids)
        if missing:
            raise BlobsNotFound(list(missing))
        if isinstance(value, ValidatedBlock):
            vote = chain.manager.handle_validated_certificate(certificate, self.key_pair)
            chain.save()
            return self._response(chain, vote), []
        chain.apply_confirmed_block(executed_block, self.storage.missing_blobs)
        # The next height's first round starts now (its deadline counts from here).
        chain.manager.reset(chain.execution_state.system.ownership.get(), Timestamp.now())
        # The certificate first: a crash in between leaves an unused certificate, never a
        # chain whose confirmed log names a certificate that is not stored.
        self.storage.write_certificate(certificate)
        chain.save()
        return self._response(chain, None), self._outbox_requests(chain)

    def _handle_timeout_certificate(
        self, certificate: Certificate, timeout: Timeout
    ) -> ChainInfoResponse:
        self._check_handles(timeout.chain_id)
        chain = self.storage.load_chain(timeout.chain_id)
        next_height = chain.next_block_height()
        if timeout.height < next_height:
            return self._response(chain, None)
        if timeout.height > next_height:
            raise MissingEarlierBlocks(timeout.chain_id, next_height, timeout.height)
        certificate.check(self._committee_for(chain, timeout.epoch, None))
        ownership, _ = _round_rules(chain)
        chain.manager.handle_timeout_certificate(certificate, ownership, Timestamp.now())
        chain.save()
        return self._response(chain, None)

    def _check_certificate(self, certificate: Certificate, committee: Committee) -> None:
        """``certificate.check(committee)``, skipped only for the very certificate object
        this worker already checked against an equal committee (certificates are immutable;
        the storage hands out the object it stored, so a delivery of a block's messages
        right after the block does not verify the same signatures again)."""
        certificate_hash = certificate.hash()
        checked = self._checked_certificates.get(certificate_hash)
        if checked is not None and checked[0] is certificate and checked[1] == committee:
            self._checked_certificates.move_to_end(certificate_hash)
            return
        certificate.check(committee)
        self._checked_certificates[certificate_hash] = (certificate, committee)
        self._checked_certificates.move_to_end(certificate_hash)
        while len(self._checked_certificates) > CHECKED_CERTIFICATES_KEPT:
            self._checked_certificates.popitem(last=False)

    def _committee_for(self, chain: ChainStateView, epoch: Epoch, block: Block | None) -> Committee:
        """The committee that must have signed for ``epoch``, from what this validator trusts.

        An active chain: the committees it accepted through its own certified blocks (which
        go back to genesis). A chain not yet open here: the committees of the admin chain as
        this validator knows it, found through the parent chain's state on this validator.
        Never the committees a block's own ``OpenChain`` message names: anyone can invent a
        committee and sign with it.
        """
        committees = self._trusted_committees(chain, block)
        committee = committees.get(epoch)
        if committee is None:
            raise StaleEpoch(
                f"chain {chain.chain_id}: epoch {epoch} has no committee this validator trusts"
            )
        return committee

    def _trusted_committees(
        self, chain: ChainStateView, block: Block | None
    ) -> dict[Epoch, Committee]:
        system = chain.execution_state.system
        if system.is_active():
            return dict(system.committees.items())
        # A block names its opening message; a timeout relies on the one received here.
        message = _opening_message(block) if block is not None else chain.received_opening()
        if message is None:
            raise InactiveChain(f"chain {chain.chain_id} is not active on this validator")
        # The child's id is the hash of its description, so the description's parent is the
        # one chain that can open it; what the parent says about its admin chain is certified
        # history on this validator, unlike anything inside the certificate being checked.
        parent_id = message.description.parent
        if message.description.chain_id() != chain.chain_id:
            raise InactiveChain(
                f"chain {chain.chain_id}: its first block opens chain"
                f" {message.description.chain_id()} instead"
            )
        parent = self.storage.load_chain_scratch(parent_id)
        admin_id = parent.execution_state.system.admin_id.get() if parent.is_active() else None
        if admin_id is None:
            raise InactiveChain(
                f"chain {chain.chain_id} is not active on this validator, nor is its parent"
                f" {parent_id}: the parent's blocks must come first"
            )
        admin = self.storage.load_chain_scratch(admin_id)
        if not admin.is_active():
            raise InactiveChain(
                f"chain {chain.chain_id}: its admin chain {admin_id} is not active on this validator"
            )
        return dict(admin.execution_state.system.committees.items())

    # ------------------------------------------------------------ cross-chain

    def handle_cross_chain_request(self, request: CrossChainRequest) -> list[CrossChainRequest]:
        """Deliver bundles to an inbox (answering with a confirmation), or trim an outbox.

        Delivered bundles are trusted only as far as this validator's own storage vouches for
        them: each must be exactly what a stored certificate of the sender, signed by a
        committee this validator trusts, sends the recipient. A delivery that would leave a
        gap in the inbox raises ``MissingEarlierBundles`` and changes nothing.
        """
        if isinstance(request, UpdateRecipient):
            self._check_handles(request.recipient)
            if not request.bundles:
                raise InvalidCrossChainRequest(
                    f"update of chain {request.recipient} from {request.sender} carries no bundles"
                )
            self._check_bundles_certified(request)
            chain = self.storage.load_chain(request.recipient)
            chain.receive_bundles(
                request.sender, request.bundles, request.previous_height, Timestamp.now()
            )
            chain.save()
            return [
                ConfirmUpdatedRecipient(request.sender, request.recipient, request.bundles[-1].height)
            ]
        self._check_handles(request.sender)
        chain = self.storage.load_chain(request.sender)
        chain.mark_messages_as_received(request.recipient, request.latest_height)
        chain.save()
        return []

    def _check_bundles_certified(self, request: UpdateRecipient) -> None:
        by_certificate: dict[CryptoHash, list[MessageBundle]] = {}
        for bundle in request.bundles:
            by_certificate.setdefault(bundle.certificate_hash, []).append(bundle)
        where = f"update of chain {request.recipient} from {request.sender}"
        # Another shard may hold (and advance) the sender chain: then only a fresh view is
        # current. A worker that is the only writer reads its own (cached) view.
        sender_chain = (
            self.storage.load_chain(request.sender)
            if self.sole_writer
            else self.storage.load_chain_scratch(request.sender)
        )
        for certificate_hash, bundles in by_certificate.items():
            try:
                certificate = self.storage.read_certificate(certificate_hash)
            except CertificateNotFound as missing:
                raise InvalidCrossChainRequest(
                    f"{where}: certificate {certificate_hash} is not stored on this validator"
                ) from missing
            if not isinstance(certificate.value, ConfirmedBlock):
                raise InvalidCrossChainRequest(
                    f"{where}: certificate {certificate_hash} does not confirm a block"
                )
            executed_block = certificate.executed_block
            block = executed_block.block
            if block.chain_id != request.sender:
                raise InvalidCrossChainRequest(
                    f"{where}: certificate {certificate_hash} is of chain {block.chain_id}"
                )
            self._check_certificate(
                certificate, self._committee_for(sender_chain, block.epoch, block)
            )
            if bundles != executed_block.message_bundles_for(request.recipient, certificate_hash):
                raise InvalidCrossChainRequest(
                    f"{where}: the bundles at height {block.height} are not the ones its"
                    f" certificate {certificate_hash} sends"
                )

    def outbox_requests(self, chain_id: ChainId) -> list[CrossChainRequest]:
        """The deliveries ``chain_id`` still owes: every unconfirmed block's bundles, per
        recipient, in order (an in-process node sends them again on a chain-info query)."""
        self._check_handles(chain_id)
        return self._outbox_requests(self.storage.load_chain(chain_id))

    def _outbox_requests(self, chain: ChainStateView) -> list[CrossChainRequest]:
        requests: list[CrossChainRequest] = []
        for recipient, previous_height, heights in chain.unconfirmed_outboxes():
            certificate_hashes = [
                chain.confirmed_log.read(height.value, height.value + 1)[0] for height in heights
            ]
            bundles: list[MessageBundle] = []
            for certificate in self.storage.read_certificates(certificate_hashes):
                bundles.extend(
                    certificate.executed_block.message_bundles_for(recipient, certificate.hash())
                )
            requests.append(UpdateRecipient(chain.chain_id, recipient, previous_height, bundles))
        return requests

    # ---------------------------------------------------------------- queries

    def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        """Describe a chain; with ``request_timeout_vote``, also sign a timeout for its round."""
        self._check_handles(query.chain_id)
        chain = self.storage.load_chain(query.chain_id)
        if query.request_timeout_vote:
            return self._vote_timeout(chain)
        pending: list[IncomingBundle] = []
        if query.request_pending_message_bundles:
            # The chain's own listing: per origin in order, a child chain's opening bundle first.
            pending = chain.pending_incoming_bundles(MessageAction.ACCEPT)
        hashes: list[CryptoHash] = []
        if query.request_sent_certificate_hashes_from is not None:
            start = query.request_sent_certificate_hashes_from.value
            end = min(chain.confirmed_log.count(), start + query.request_sent_certificate_hashes_limit)
            if start < end:
                hashes = chain.confirmed_log.read(start, end)
        return self._response(chain, None, pending, hashes)

    def _vote_timeout(self, chain: ChainStateView) -> ChainInfoResponse:
        if self.key_pair is None:
            raise WorkerError("this node does not vote: it has no validator key")
        _check_known(chain)
        ownership, epoch = _round_rules(chain)
        now = Timestamp.now()
        if chain.manager.ensure_deadline(ownership, now):
            # A round that had no clock (a genesis chain's height 0) starts it now.
            chain.save()
        vote = chain.manager.vote_timeout(
            chain.chain_id, chain.next_block_height(), epoch, ownership, self.key_pair, now
        )
        chain.save()
        return self._response(chain, vote)

    def handle_upload_blob(self, blob: Blob) -> BlobId:
        """Store a blob that a coming block publishes."""
        self.storage.write_blob(blob)
        return blob.id

    # ---------------------------------------------------------------- helpers

    def chain_info(self, chain: ChainStateView) -> ChainInfo:
        """The chain's info without the optional parts."""
        return self._info(chain, [], [])

    def _info(
        self,
        chain: ChainStateView,
        pending: list[IncomingBundle],
        hashes: list[CryptoHash],
    ) -> ChainInfo:
        system = chain.execution_state.system
        tip = chain.tip_state.get()
        active = system.is_active()
        ownership: ChainOwnership | None = None
        epoch: Epoch | None = None
        if active or chain.received_opening() is not None:
            # A chain not yet active reports the rules of its height 0 (from its opening).
            ownership, epoch = _round_rules(chain)
        manager = chain.manager
        return ChainInfo(
            chain_id=chain.chain_id,
            is_active=active and not system.closed.get(),
            epoch=epoch,
            next_block_height=tip.next_block_height,
            block_hash=tip.block_hash,
            timestamp=system.timestamp.get(),
            chain_balance=system.balance.get(),
            state_hash=chain.state_hash(),
            ownership=ownership,
            current_round=manager.effective_round(ownership) if ownership is not None else None,
            round_timeout=manager.round_timeout.get(),
            locked=manager.locked.get(),
            requested_pending_message_bundles=pending,
            requested_sent_certificate_hashes=hashes,
        )

    def _response(
        self,
        chain: ChainStateView,
        vote: Vote | None,
        pending: list[IncomingBundle] | None = None,
        hashes: list[CryptoHash] | None = None,
    ) -> ChainInfoResponse:
        return ChainInfoResponse.new(
            self._info(chain, pending or [], hashes or []), self.key_pair, vote
        )

    def _check_handles(self, chain_id: ChainId) -> None:
        if self.chain_filter is not None and chain_id not in self.chain_filter:
            raise WorkerError(f"chain {chain_id} is not handled by this worker")


def _check_known(chain: ChainStateView) -> None:
    """Raise UnknownChain for a chain this validator holds nothing of: not active, no block,
    nothing delivered to it (for a child chain: its opening message has not arrived)."""
    if chain.is_active() or chain.next_block_height() != BlockHeight(0) or chain.inboxes.indices():
        return
    raise UnknownChain(
        f"chain {chain.chain_id} is unknown to this validator: it is not active and nothing"
        " was delivered to it yet (bring its parent's blocks here first)"
    )


def _round_rules(chain: ChainStateView) -> tuple[ChainOwnership, Epoch]:
    """The ownership and epoch that govern the rounds at the chain's next height: the chain's
    own, or for a chain not yet active, those of the opening message received here."""
    system = chain.execution_state.system
    if system.is_active():
        return system.ownership.get(), system.epoch.get()
    opening = chain.received_opening()
    if opening is None:
        raise InactiveChain(
            f"chain {chain.chain_id} is not active on this validator and its opening message"
            " has not arrived"
        )
    return opening.config.ownership, opening.config.epoch


def _ownership_for(chain: ChainStateView, block: Block) -> ChainOwnership:
    """Who may propose ``block``: the chain's owners, or for a child chain's first block the
    owners its OpenChain message names."""
    system = chain.execution_state.system
    if system.is_active():
        return system.ownership.get()
    message = _opening_message(block)
    if message is None:
        raise InactiveChain(
            f"chain {block.chain_id} is not open: its first block must accept its parent's"
            " OpenChain message"
        )
    return message.config.ownership


def _opening_message(block: Block) -> OpenChainMessage | None:
    if block.incoming_bundles and block.incoming_bundles[0].bundle.messages:
        message = block.incoming_bundles[0].bundle.messages[0].message
        if isinstance(message, OpenChainMessage):
            return message
    return None

