"""The `Storage` seam: where a validator (or a client's local node) keeps chains, certificates and blobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView


class Storage(Protocol):
    """Chain states (as views), certificates by hash, and blobs by id."""

    def load_chain(self, chain_id: ChainId) -> ChainStateView:
        """The chain's state view (empty and inactive if the chain was never stored)."""
        ...

    def load_chain_scratch(self, chain_id: ChainId) -> ChainStateView:
        """A private view of the chain's stored state, to execute a proposal on and discard."""
        ...

    def write_certificate(self, certificate: Certificate) -> None:
        """Store ``certificate`` under its hash (idempotent)."""
        ...

    def read_certificate(self, certificate_hash: CryptoHash) -> Certificate:
        """The stored certificate; raises `CertificateNotFound`."""
        ...

    def contains_certificate(self, certificate_hash: CryptoHash) -> bool:
        ...

    def read_certificates(self, certificate_hashes: Sequence[CryptoHash]) -> list[Certificate]:
        """The stored certificates, in the order asked; raises `CertificateNotFound` for any absent."""
        ...

    def write_blob(self, blob: Blob) -> None:
        """Store ``blob`` under its id (idempotent)."""
        ...

    def read_blob(self, blob_id: BlobId) -> Blob:
        """The stored blob; raises `BlobNotFound`."""
        ...

    def contains_blob(self, blob_id: BlobId) -> bool:
        ...

    def missing_blobs(self, blob_ids: Sequence[BlobId]) -> list[BlobId]:
        """The ids not stored, in the order given, each once."""
        ...

    def close(self) -> None:
        """Release the underlying store."""
        ...
