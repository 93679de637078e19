"""`ValidatorProxy`: one validator's public endpoint in front of its shard *processes*.

When a validator outgrows one process (or machine), each worker shard runs as its own
``edgechain validator run --shard I`` process over the shared store, and the proxy
(``edgechain validator run`` without ``--shard``) is what the committee's address points
to: it routes each request to the shard that holds the request's chain (chains are
partitioned by id, `shard_of`), sends blob and certificate requests to any shard (the
store is shared), and relays every shard's new-block notifications to its subscribers.
The shards deliver cross-chain requests to each other directly (``/v1/cross_chain``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.chain.certificate import Certificate, Timeout
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.errors import ClientError
from edgechain.rpc.client import RemoteValidatorNode
from edgechain.rpc.metrics import ValidatorMetrics
from edgechain.rpc.protocol import NewBlock
from edgechain.rpc.service import NOTIFICATION_QUEUE_SIZE, Subscriber, shard_of

logger = logging.getLogger(__name__)


class ValidatorProxy:
    """Routes a validator's requests to its shard processes by chain id."""

    def __init__(self, public_key: PublicKey, shards: list[RemoteValidatorNode]) -> None:
        if not shards:
            raise ClientError("a proxy needs at least one shard")
        self._public_key = public_key
        self.shards = shards
        """The shard processes, by shard index."""
        self.metrics = ValidatorMetrics()
        """What ``/metrics`` reports (requests as the proxy saw them)."""
        self._subscribers: list[Subscriber] = []
        self._relays: list[asyncio.Future[None]] = []

    @property
    def public_key(self) -> PublicKey:
        return self._public_key

    def _shard(self, chain_id: ChainId) -> RemoteValidatorNode:
        return self.shards[shard_of(chain_id, len(self.shards))]

    def _count_vote(self, response: ChainInfoResponse) -> ChainInfoResponse:
        if response.vote is not None:
            self.metrics.votes_signed += 1
        return response

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        shard = self._shard(proposal.content.block.chain_id)
        return self._count_vote(await shard.handle_block_proposal(proposal))

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        value = certificate.value
        chain_id = value.chain_id if isinstance(value, Timeout) else certificate.executed_block.block.chain_id
        return self._count_vote(await self._shard(chain_id).handle_certificate(certificate))

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        return self._count_vote(await self._shard(query.chain_id).handle_chain_info_query(query))

    async def upload_blob(self, blob: Blob) -> BlobId:
        return await self.shards[0].upload_blob(blob)

    async def download_blob(self, blob_id: BlobId) -> Blob:
        return await self.shards[0].download_blob(blob_id)

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        return await self.shards[0].download_certificates(hashes)

    # ---------------------------------------------------------- notifications

    def subscribe(self, chain_ids: frozenset[ChainId]) -> Subscriber:
        if not self._relays:
            self._relays = [asyncio.ensure_future(self._relay(shard)) for shard in self.shards]
        subscriber = Subscriber(chain_ids)
        self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    async def _relay(self, shard: RemoteValidatorNode) -> None:
        while True:
            try:
                async for notification in shard.subscribe([]):
                    self._notify(notification)
            except EdgechainError as failure:
                logger.info("notifications from shard %s stopped: %s", shard.address, failure)
            await asyncio.sleep(0.5)

    def _notify(self, notification: NewBlock) -> None:
        self.metrics.blocks_confirmed += 1
        for subscriber in list(self._subscribers):
            if subscriber.wants(notification.chain_id):
                try:
                    subscriber.queue.put_nowait(notification)
                    self.metrics.notifications_sent += 1
                except asyncio.QueueFull:
                    logger.warning("dropping a subscriber %d notifications behind", NOTIFICATION_QUEUE_SIZE)
                    self.unsubscribe(subscriber)

    async def aclose(self) -> None:
        for relay in self._relays:
            relay.cancel()
        for relay in self._relays:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay
        for shard in self.shards:
            await shard.aclose()
