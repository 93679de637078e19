"""The `ValidatorNode` seam: what a client can ask a validator, whatever the transport.

`LocalValidatorNode` (in `edgechain.core.local_node`) serves it in-process over a
`WorkerState`; the rpc layer serves it over the network; `FaultyValidatorNode` (in
`edgechain.core.faults`) wraps any of them to inject faults in tests.
"""

from __future__ import annotations

from typing import Protocol

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.identifiers import BlobId
from edgechain.chain.certificate import Certificate
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse


class ValidatorNode(Protocol):
    """A validator as seen by a client. Every method may raise a `NodeError` leaf."""

    @property
    def public_key(self) -> PublicKey:
        """The validator's key, as the committee lists it."""
        ...

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        """Check and execute the proposed block; the response carries the validator's vote."""
        ...

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        """Apply a confirmed block (and deliver its messages); idempotent for known blocks."""
        ...

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        """Describe a chain."""
        ...

    async def upload_blob(self, blob: Blob) -> BlobId:
        """Store a blob that a coming block publishes; returns its id."""
        ...

    async def download_blob(self, blob_id: BlobId) -> Blob:
        """A stored blob (raises `BlobNotFound` when absent)."""
        ...

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        """The stored certificates with these hashes, in the same order (raises when one is absent)."""
        ...
