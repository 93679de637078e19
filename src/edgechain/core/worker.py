"""`WorkerState`: a validator's (or a client's local node's) handling of proposals, certificates,
cross-chain requests and chain-info queries, over a `Storage`.

    handle_block_proposal    check the owner's signature and the round, execute the block on
                             the chain state, roll everything back, remember and sign a vote
                             for the confirmed block (fast round); never two different blocks
                             at one height and round
    handle_certificate       check it against the committee of its epoch, re-execute it,
                             compare the outcome, persist certificate and state, and return
                             the cross-chain requests that carry its messages to recipients
    handle_cross_chain_request   add delivered bundles to an inbox / trim an outbox
    handle_chain_info_query  the chain's tip, balance, state hash, inbox, confirmed hashes

Every handler validates before it mutates and saves the chain state once, atomically.
"""

from __future__ import annotations

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.base.values import Epoch, Timestamp
from edgechain.chain.block import Block, ExecutedBlock, IncomingBundle
from edgechain.chain.certificate import Certificate, ConfirmedBlock, ValidatedBlock, Vote
from edgechain.chain.errors import StaleEpoch, UnauthorizedBlockProposer
from edgechain.chain.execution import execute_block
from edgechain.chain.proposal import BlockProposal
from edgechain.chain.rounds import Fast
from edgechain.chain.state import ChainStateView
from edgechain.core.chain_info import ChainInfo, ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import ConfirmUpdatedRecipient, CrossChainRequest, UpdateRecipient
from edgechain.core.errors import (
    BlobsNotFound,
    ConflictingProposal,
    InvalidCrossChainRequest,
    MissingEarlierBlocks,
    WorkerError,
)
from edgechain.execution.committee import Committee
from edgechain.execution.messages import MessageAction, OpenChainMessage
from edgechain.storage.storage import Storage

MAX_CLOCK_SKEW_MICROS = 2_000_000
"""How far in the future (µs) a proposed block's timestamp may be, against this node's clock."""


class WorkerState:
    """Handles the requests of one validator (or of a client's local node) for its chains."""

    def __init__(
        self,
        storage: Storage,
        key_pair: KeyPair | None,
        chain_filter: frozenset[ChainId] | None = None,
    ) -> None:
        self.storage = storage
        """Where chains, certificates and blobs are kept."""
        self.key_pair = key_pair
        """The validator's signing key; None for a node that does not vote."""
        self.chain_filter = chain_filter
        """The chains this worker handles (None: all of them)."""

    # -------------------------------------------------------------- proposals

    def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        """Check and execute a proposal without keeping its effects; return a signed vote."""
        if self.key_pair is None:
            raise WorkerError("this node does not vote: it has no validator key")
        block = proposal.content.block
        self._check_handles(block.chain_id)
        if not isinstance(proposal.content.round, Fast):
            raise WorkerError(
                f"chain {block.chain_id}: only fast-round proposals are supported,"
                f" got round {proposal.content.round}"
            )
        proposal.check_signature()
        chain = self.storage.load_chain(block.chain_id)
        earlier_vote = chain.manager.pending_vote.get()
        voted_block = _voted_block(earlier_vote, block, proposal)
        if earlier_vote is not None and voted_block is not None:
            if voted_block == block:
                return self._response(chain, earlier_vote)
            raise ConflictingProposal(
                f"chain {block.chain_id}: already voted for another block at height {block.height}"
                f" in round {proposal.content.round}"
            )
        if chain.is_active():
            self._check_super_owner(chain, block, proposal)
        missing = self.storage.missing_blobs(block.published_blob_ids)
        if missing:
            raise BlobsNotFound(list(missing))
        # Execute on a scratch copy of the chain state that is never saved, then drop it:
        # nothing of the proposal's execution can reach the stored state.
        scratch = self.storage.load_chain(block.chain_id)
        local_time = Timestamp(Timestamp.now().micros + MAX_CLOCK_SKEW_MICROS)
        outcome = execute_block(scratch, block, local_time, self.storage.missing_blobs)
        if not chain.is_active():
            self._check_super_owner(scratch, block, proposal)
        scratch.rollback()
        vote = Vote.new(ConfirmedBlock(ExecutedBlock(block, outcome)), Fast(), self.key_pair)
        chain.manager.proposed.set(proposal)
        chain.manager.pending_vote.set(vote)
        chain.save()
        return self._response(chain, vote)

    @staticmethod
    def _check_super_owner(chain: ChainStateView, block: Block, proposal: BlockProposal) -> None:
        ownership = chain.execution_state.system.ownership.get()
        if proposal.owner not in ownership.super_owners:
            raise UnauthorizedBlockProposer(
                f"block {block.height} of chain {block.chain_id}: {proposal.owner} may not"
                " propose in the fast round (not a super owner)"
            )

    # ----------------------------------------------------------- certificates

    def handle_certificate(
        self, certificate: Certificate
    ) -> tuple[ChainInfoResponse, list[CrossChainRequest]]:
        """Apply a confirmed block; return the chain info and the cross-chain requests to send.

        A certificate for a block this node already has is answered without change.
        """
        if not isinstance(certificate.value, ConfirmedBlock):
            raise WorkerError("only confirmed-block certificates are supported")
        executed_block = certificate.executed_block
        block = executed_block.block
        self._check_handles(block.chain_id)
        chain = self.storage.load_chain(block.chain_id)
        next_height = chain.next_block_height()
        if block.height < next_height:
            return self._response(chain, None), []
        if block.height > next_height:
            raise MissingEarlierBlocks(block.chain_id, next_height, block.height)
        certificate.check(self._committee_for(chain, block))
        missing = self.storage.missing_blobs(block.published_blob_ids)
        if missing:
            raise BlobsNotFound(list(missing))
        chain.apply_confirmed_block(executed_block, self.storage.missing_blobs)
        # The certificate first: a crash in between leaves an unused certificate, never a
        # chain whose confirmed log names a certificate that is not stored.
        self.storage.write_certificate(certificate)
        chain.save()
        certificate_hash = certificate.hash()
        requests: list[CrossChainRequest] = [
            UpdateRecipient(
                block.chain_id,
                recipient,
                executed_block.message_bundles_for(recipient, certificate_hash),
            )
            for recipient in executed_block.recipients()
        ]
        return self._response(chain, None), requests

    def _committee_for(self, chain: ChainStateView, block: Block) -> Committee:
        """The committee that must have signed ``block``: its epoch's, as the chain knows it."""
        system = chain.execution_state.system
        if system.is_active():
            committees = dict(system.committees.items())
        else:
            committees = _opening_committees(block)
        committee = committees.get(block.epoch)
        if committee is None:
            raise StaleEpoch(
                f"block {block.height} of chain {block.chain_id}: epoch {block.epoch} has no"
                " committee this chain trusts"
            )
        return committee

    # ------------------------------------------------------------ cross-chain

    def handle_cross_chain_request(self, request: CrossChainRequest) -> list[CrossChainRequest]:
        """Deliver bundles to an inbox (answering with a confirmation), or trim an outbox."""
        if isinstance(request, UpdateRecipient):
            self._check_handles(request.recipient)
            if not request.bundles:
                raise InvalidCrossChainRequest(
                    f"update of chain {request.recipient} from {request.sender} carries no bundles"
                )
            chain = self.storage.load_chain(request.recipient)
            chain.receive_bundles(request.sender, request.bundles)
            chain.save()
            return [
                ConfirmUpdatedRecipient(request.sender, request.recipient, request.bundles[-1].height)
            ]
        self._check_handles(request.sender)
        chain = self.storage.load_chain(request.sender)
        chain.mark_messages_as_received(request.recipient, request.latest_height)
        chain.save()
        return []

    # ---------------------------------------------------------------- queries

    def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        self._check_handles(query.chain_id)
        chain = self.storage.load_chain(query.chain_id)
        pending: list[IncomingBundle] = []
        if query.request_pending_message_bundles:
            for origin in chain.pending_inbox_origins():
                inbox = chain.inboxes.load_entry(origin)
                pending.extend(
                    IncomingBundle(origin, bundle, MessageAction.ACCEPT)
                    for bundle in inbox.added_bundles.elements()
                )
        hashes: list[CryptoHash] = []
        if query.request_sent_certificate_hashes_from is not None:
            start = query.request_sent_certificate_hashes_from.value
            end = min(chain.confirmed_log.count(), start + query.request_sent_certificate_hashes_limit)
            if start < end:
                hashes = chain.confirmed_log.read(start, end)
        return self._response(chain, None, pending, hashes)

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
        return ChainInfo(
            chain_id=chain.chain_id,
            is_active=active and not system.closed.get(),
            epoch=system.epoch.get() if active else None,
            next_block_height=tip.next_block_height,
            block_hash=tip.block_hash,
            timestamp=system.timestamp.get(),
            chain_balance=system.balance.get(),
            state_hash=chain.state_hash(),
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


def _voted_block(vote: Vote | None, block: Block, proposal: BlockProposal) -> Block | None:
    """The block ``vote`` was cast for, if it is at ``block``'s chain and height in ``proposal``'s round."""
    if vote is None or not isinstance(vote.value, ConfirmedBlock | ValidatedBlock):
        return None
    voted_block = vote.value.executed_block.block
    if (
        voted_block.chain_id == block.chain_id
        and voted_block.height == block.height
        and vote.round == proposal.content.round
    ):
        return voted_block
    return None


def _opening_committees(block: Block) -> dict[Epoch, Committee]:
    """For the first block of a child chain: the committees its OpenChain message names."""
    if block.incoming_bundles and block.incoming_bundles[0].bundle.messages:
        message = block.incoming_bundles[0].bundle.messages[0].message
        if isinstance(message, OpenChainMessage):
            return dict(message.config.committees)
    return {}
