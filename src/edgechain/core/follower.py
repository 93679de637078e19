"""`ChainFollower`: a client-side, non-voting copy of chains, kept up to date from the validators.

The node service answers application queries from local state, so it needs the chains'
states, not just their tips. A follower holds a `WorkerState` without a key over its own
storage (genesis written in) and applies *checked* certificates to it: certificates come
from the validators through `ChainClient.certificates_of_chain`, which verifies each
against the committee, and the local worker re-executes every block, so a lying validator
cannot make the follower hold a state the committee did not certify.

Before a block is applied, the senders of its incoming bundles are followed up to the
bundles' heights (their certified blocks put the messages in the local inbox), and the
blobs it publishes or reads are downloaded (and checked against their ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.base.values import BlockHeight, Epoch
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView
from edgechain.core.client import ChainClient
from edgechain.core.errors import BlobsNotFound, ClientError, QuorumNotReached
from edgechain.core.network import GenesisConfig
from edgechain.core.node import ValidatorNode
from edgechain.core.worker import WorkerState
from edgechain.storage.storage import Storage

logger = logging.getLogger(__name__)

MAX_FOLLOW_DEPTH = 16
"""How many sender chains deep the follower goes to fill an inbox."""


class ChainFollower:
    """Applies the validators' checked certificates to a local, non-voting copy of chains."""

    def __init__(
        self, storage: Storage, genesis: GenesisConfig, validators: Sequence[ValidatorNode]
    ) -> None:
        genesis.initialize(storage)
        self.storage = storage
        """The local storage (chains, certificates, blobs)."""
        self.worker = WorkerState(storage, None)
        """The local, keyless worker that re-executes every block."""
        self.genesis = genesis
        self.validators = list(validators)

    def reader(self, chain_id: ChainId) -> ChainClient:
        """A keyless client of ``chain_id`` (to read checked certificates, blobs, infos)."""
        return ChainClient(
            chain_id, None, self.validators, {Epoch(0): self.genesis.committee}, Epoch(0)
        )

    def local_chain(self, chain_id: ChainId) -> ChainStateView:
        return self.storage.load_chain(chain_id)

    async def follow(self, chain_id: ChainId) -> ChainStateView:
        """Bring the local copy of ``chain_id`` to the tip that validators vouch for."""
        info = await self.reader(chain_id).query_chain_info()
        await self.follow_to(chain_id, info.next_block_height)
        return self.local_chain(chain_id)

    async def follow_to(self, chain_id: ChainId, target: BlockHeight, depth: int = 0) -> None:
        """Apply ``chain_id``'s certificates below ``target`` that the local copy lacks."""
        local_next = self.local_chain(chain_id).next_block_height()
        if local_next >= target:
            return
        if depth > MAX_FOLLOW_DEPTH:
            raise ClientError(f"following chain {chain_id}: sender chains nest too deep")
        reader = self.reader(chain_id)
        for certificate in await reader.certificates_of_chain(chain_id, local_next, target):
            await self.apply(certificate, reader, depth)

    async def apply(self, certificate: Certificate, reader: ChainClient, depth: int = 0) -> None:
        """Apply one checked certificate locally (senders and blobs first)."""
        block = certificate.executed_block.block
        for incoming in block.incoming_bundles:
            await self.follow_to(incoming.origin, incoming.bundle.height.next(), depth + 1)
        await self._fetch_blobs(self.storage.missing_blobs(block.published_blob_ids), reader)
        for _attempt in range(4):
            try:
                _, requests = self.worker.handle_certificate(certificate)
            except BlobsNotFound as missing:
                await self._fetch_blobs(list(missing.blob_ids), reader)
                continue
            queue = deque(requests)
            while queue:
                request = queue.popleft()
                try:
                    queue.extend(self.worker.handle_cross_chain_request(request))
                except EdgechainError as failure:
                    # Kept in the sender's outbox: a later certificate re-sends it.
                    logger.info("local cross-chain request %r not delivered: %r", request, failure)
            return
        raise ClientError(f"could not gather the blobs of block {block.height} of {block.chain_id}")

    async def _fetch_blobs(self, blob_ids: list[BlobId], reader: ChainClient) -> None:
        if not blob_ids:
            return
        for blob_id in blob_ids:
            failures: dict[str, Exception] = {}
            for node in self.validators:
                try:
                    blob = await asyncio.wait_for(node.download_blob(blob_id), reader.request_timeout)
                except (EdgechainError, TimeoutError) as failure:
                    failures[str(node.public_key)] = failure
                    continue
                if blob.id == blob_id:  # content-addressed: any validator's copy will do
                    self.storage.write_blob(blob)
                    break
                failures[str(node.public_key)] = ClientError(f"sent blob {blob.id} for {blob_id}")
            else:
                raise QuorumNotReached(f"no validator gave blob {blob_id}", failures)
