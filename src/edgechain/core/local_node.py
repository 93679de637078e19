"""`LocalValidatorNode`: a validator served in-process over a `WorkerState`.

Cross-chain requests produced by a certificate are delivered to the same worker (an
in-process validator holds all its chains) before the call returns, so the recipients'
inboxes are up to date when the client hears back. A chain-info query also delivers again
what the chain's outboxes still owe, so a lost delivery is repaired by the next query.
A delivery that fails is logged and left for the next one (the outbox keeps it).
"""

from __future__ import annotations

import logging
from collections import deque

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId
from edgechain.chain.certificate import Certificate
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import CrossChainRequest
from edgechain.core.errors import ClientError
from edgechain.core.worker import WorkerState

logger = logging.getLogger(__name__)


class LocalValidatorNode:
    """A `ValidatorNode` whose requests are handled by a worker in this process."""

    def __init__(self, worker: WorkerState) -> None:
        if worker.key_pair is None:
            raise ClientError("a validator node needs a worker with a key pair")
        self.worker = worker
        """The worker holding this validator's chains."""
        self._public_key = worker.key_pair.public_key

    @property
    def public_key(self) -> PublicKey:
        return self._public_key

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        return self.worker.handle_block_proposal(proposal)

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        response, requests = self.worker.handle_certificate(certificate)
        self.deliver(requests)
        return response

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        response = self.worker.handle_chain_info_query(query)
        self.deliver(self.worker.outbox_requests(query.chain_id))
        return response

    async def upload_blob(self, blob: Blob) -> BlobId:
        return self.worker.handle_upload_blob(blob)

    async def download_blob(self, blob_id: BlobId) -> Blob:
        return self.worker.storage.read_blob(blob_id)

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        return self.worker.storage.read_certificates(hashes)

    def deliver(self, requests: list[CrossChainRequest]) -> None:
        """Handle cross-chain requests, and the ones they produce, until none is left."""
        queue = deque(requests)
        while queue:
            request = queue.popleft()
            try:
                queue.extend(self.worker.handle_cross_chain_request(request))
            except EdgechainError as failure:
                # The sender's outbox keeps the heights: the next delivery tries again.
                logger.warning("cross-chain request %r not delivered: %r", request, failure)

    def __repr__(self) -> str:
        return f"LocalValidatorNode({self.public_key!r})"
