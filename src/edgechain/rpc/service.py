"""`ValidatorService`: one validator's worker shards behind the `ValidatorNode` interface.

A validator runs one or more worker *shards*; chain ``c`` belongs to shard
``first 8 bytes of c's id (big-endian) mod shard count``. Each shard is a `WorkerState`
with its own chain cache and its own single thread, so requests for different shards
run concurrently while the requests of one chain are handled one at a time, in order
of arrival. The shards share one key-value store (a PostgreSQL database or a SQLite
file) and one blob store: certificates and blobs written by any shard are visible to
all. Cross-chain requests that a certificate produces are routed to the recipient's
shard and delivered before the call returns, so recipients' inboxes are up to date
when the client hears back (as with `LocalValidatorNode`).

The service also tells subscribers about every block it confirms (`subscribe`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.base.values import BlockHeight
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Timeout
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import CrossChainRequest, UpdateRecipient
from edgechain.core.errors import ClientError
from edgechain.core.worker import WorkerState
from edgechain.rpc.errors import MalformedMessage, WrongShard
from edgechain.rpc.metrics import ValidatorMetrics
from edgechain.rpc.protocol import MAX_CERTIFICATES_PER_REQUEST, NewBlock
from edgechain.storage.storage import Storage

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")

NOTIFICATION_QUEUE_SIZE = 10_000
"""Notifications kept for a slow subscriber before it is dropped."""


def shard_of(chain_id: ChainId, shard_count: int) -> int:
    """The shard that holds ``chain_id`` among ``shard_count`` shards."""
    return int.from_bytes(chain_id.hash.digest[:8], "big") % shard_count


class CrossChainPeer(Protocol):
    """Another shard process of the same validator, as far as cross-chain requests go."""

    async def handle_cross_chain_request(self, request: CrossChainRequest) -> None: ...


class Subscriber:
    """One subscriber's queue of notifications, for the chains it asked about."""

    def __init__(self, chain_ids: frozenset[ChainId]) -> None:
        self.chain_ids = chain_ids
        """The chains it hears about (empty: all)."""
        self.queue: asyncio.Queue[NewBlock | None] = asyncio.Queue(NOTIFICATION_QUEUE_SIZE)
        """Notifications to send; None means: too slow, disconnect."""

    def wants(self, chain_id: ChainId) -> bool:
        return not self.chain_ids or chain_id in self.chain_ids


class ValidatorService:
    """A validator's shards served as a `ValidatorNode` (in this process; the server puts it on HTTP).

    In-process shards: one `WorkerState` per storage, each on its own thread (a single
    shard runs inline on the event loop). Process
    shards (``process_shard=(index, count)``): this service is shard ``index`` of
    ``count`` running as processes; it holds one worker, refuses requests for other
    shards' chains, and sends cross-chain requests for them to ``peers[shard]`` (the other
    shard processes of the same validator), which deliver them and what they produce.
    """

    def __init__(
        self,
        key_pair: KeyPair,
        shard_storages: Sequence[Storage],
        *,
        process_shard: tuple[int, int] | None = None,
        peers: dict[int, CrossChainPeer] | None = None,
    ) -> None:
        if not shard_storages:
            raise ClientError("a validator needs at least one worker shard")
        if process_shard is not None and len(shard_storages) != 1:
            raise ClientError("a shard process holds exactly one worker")
        self.key_pair = key_pair
        """The validator's signing key."""
        # A single in-process shard is the only writer of its store's chains.
        sole_writer = process_shard is None and len(shard_storages) == 1
        self.workers = [
            WorkerState(storage, key_pair, sole_writer=sole_writer) for storage in shard_storages
        ]
        """One worker per shard (routing, not a chain filter, keeps chains apart)."""
        self.process_shard = process_shard
        """(this shard, shard count) when shards are processes; None for in-process shards."""
        self.peers = dict(peers or {})
        """The other shard processes, by shard index (process shards only)."""
        self.metrics = ValidatorMetrics()
        """What ``/metrics`` reports."""
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shard-{index}")
            for index in range(len(shard_storages))
        ]
        self._subscribers: list[Subscriber] = []
        self._notified_heights: dict[ChainId, BlockHeight] = {}

    @property
    def public_key(self) -> PublicKey:
        return self.key_pair.public_key

    @property
    def shard_count(self) -> int:
        return self.process_shard[1] if self.process_shard is not None else len(self.workers)

    def _local_index(self, chain_id: ChainId) -> int | None:
        """The index into ``workers`` of the chain's shard; None when another process holds it."""
        shard = shard_of(chain_id, self.shard_count)
        if self.process_shard is None:
            return shard
        return 0 if shard == self.process_shard[0] else None

    async def _on_shard(self, chain_id: ChainId, call: Callable[[WorkerState], T]) -> T:
        index = self._local_index(chain_id)
        if index is None:
            raise WrongShard(
                f"chain {chain_id} belongs to shard {shard_of(chain_id, self.shard_count)},"
                f" not to this shard {self.process_shard}"
            )
        return await self._run(index, call, self.workers[index])

    async def _run(self, index: int, call: Callable[[A], T], argument: A) -> T:
        """Run a synchronous handler for shard ``index``: inline when there is one shard (no
        thread hand-off, no GIL ping-pong with the event loop), else on the shard's thread."""
        if len(self._executors) == 1:
            return call(argument)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executors[index], call, argument)

    # ---------------------------------------------------------- ValidatorNode

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        return await asyncio.shield(self._handle_block_proposal(proposal))

    async def _handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        chain_id = proposal.content.block.chain_id
        response = await self._on_shard(chain_id, lambda w: w.handle_block_proposal(proposal))
        if response.vote is not None:
            self.metrics.votes_signed += 1
        return response

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        # Shielded: once the shard has applied the block, its cross-chain requests must be
        # delivered even if the caller stops waiting (a cancelled caller would lose them).
        return await asyncio.shield(self._handle_certificate(certificate))

    async def _handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        value = certificate.value
        chain_id = (
            value.chain_id if isinstance(value, Timeout) else certificate.executed_block.block.chain_id
        )
        response, requests = await self._on_shard(
            chain_id, lambda w: w.handle_certificate(certificate)
        )
        await self.deliver(requests)
        if response.vote is not None:
            self.metrics.votes_signed += 1
        if isinstance(value, ConfirmedBlock):
            height = value.executed_block.block.height
            notified = self._notified_heights.get(chain_id)
            is_new = notified is None or height > notified
            if is_new and response.info.next_block_height == height.next():
                self._notified_heights[chain_id] = height
                self._notify(NewBlock(chain_id, height, certificate.hash()))
        return response

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        response = await self._on_shard(query.chain_id, lambda w: w.handle_chain_info_query(query))
        # As in-process: a query re-sends the chain's unconfirmed outgoing bundles.
        await self.deliver(await self._on_shard(query.chain_id, lambda w: w.outbox_requests(query.chain_id)))
        if response.vote is not None:
            self.metrics.votes_signed += 1
        return response

    async def upload_blob(self, blob: Blob) -> BlobId:
        return await self._run(0, self.workers[0].handle_upload_blob, blob)

    async def download_blob(self, blob_id: BlobId) -> Blob:
        return await self._run(0, self.workers[0].storage.read_blob, blob_id)

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        if len(hashes) > MAX_CERTIFICATES_PER_REQUEST:
            raise MalformedMessage(
                f"asked for {len(hashes)} certificates; at most {MAX_CERTIFICATES_PER_REQUEST}"
                " per request"
            )
        return await self._run(0, self.workers[0].storage.read_certificates, hashes)

    # ------------------------------------------------------------ cross-chain

    async def deliver(self, requests: list[CrossChainRequest]) -> None:
        """Handle cross-chain requests on their chains' shards, and the ones they produce."""
        queue = deque(requests)
        while queue:
            request = queue.popleft()
            target = request.recipient if isinstance(request, UpdateRecipient) else request.sender
            try:
                if self._local_index(target) is None:
                    await self._peer_for(target).handle_cross_chain_request(request)
                    continue
                queue.extend(
                    await self._on_shard(target, lambda w, r=request: w.handle_cross_chain_request(r))  # type: ignore[misc]
                )
            except EdgechainError as failure:
                # The sender's outbox keeps the heights: the next delivery tries again.
                logger.warning("cross-chain request %r not delivered: %r", request, failure)

    async def handle_cross_chain_request(self, request: CrossChainRequest) -> None:
        """Deliver a request from another shard process (and what it produces)."""
        await self.deliver([request])

    def _peer_for(self, chain_id: ChainId) -> CrossChainPeer:
        shard = shard_of(chain_id, self.shard_count)
        peer = self.peers.get(shard)
        if peer is None:
            raise WrongShard(f"no peer shard process {shard} for chain {chain_id}")
        return peer

    # ---------------------------------------------------------- notifications

    def subscribe(self, chain_ids: frozenset[ChainId]) -> Subscriber:
        """Start queueing new-block notifications for ``chain_ids`` (empty: all chains)."""
        subscriber = Subscriber(chain_ids)
        self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def _notify(self, notification: NewBlock) -> None:
        self.metrics.blocks_confirmed += 1
        for subscriber in list(self._subscribers):
            if not subscriber.wants(notification.chain_id):
                continue
            try:
                subscriber.queue.put_nowait(notification)
                self.metrics.notifications_sent += 1
            except asyncio.QueueFull:
                logger.warning("dropping a subscriber that fell %d notifications behind",
                               NOTIFICATION_QUEUE_SIZE)
                self.unsubscribe(subscriber)
                subscriber.queue = asyncio.Queue(1)
                subscriber.queue.put_nowait(None)

    def close(self, close_storage: bool = True) -> None:
        """Stop the shard threads and (unless the caller owns it) close every shard's storage once."""
        for executor in self._executors:
            executor.shutdown(wait=True)
        if not close_storage:
            return
        closed: set[int] = set()
        for worker in self.workers:
            storage = worker.storage
            close = getattr(storage, "close", None)
            store = getattr(storage, "store", storage)
            if close is not None and id(store) not in closed:
                closed.add(id(store))
                close()
