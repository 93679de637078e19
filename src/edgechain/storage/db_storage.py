"""`DbStorage`: the `Storage` protocol over one `KeyValueStore` (and, optionally, a `BlobStore`).

Key layout (each part under its own `ViewContext` child, so none is a prefix of another):

    chains/<chain id digest>/...     one `ChainStateView` per chain
    certificates/<hash digest>       the canonical encoding of a `Certificate`
    blobs/<encoded blob id>          blob bytes, when no `BlobStore` is given

With a `BlobStore`, blobs are content-addressed files that services can memory-map, and
the store verifies every blob against its id on write and on first read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EncodingError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.errors import (
    BlobMismatch,
    BlobNotFound,
    CertificateNotFound,
    CorruptCertificate,
)
from edgechain.views.context import ViewContext
from edgechain.views.store import Batch, KeyValueStore


class DbStorage:
    """Chains, certificates and blobs in a key-value store (blobs optionally in a `BlobStore`)."""

    def __init__(
        self,
        store: KeyValueStore,
        blob_store: BlobStore | None = None,
        chain_cache_size: int = 1024,
        certificate_cache_size: int = 256,
    ) -> None:
        self.store = store
        """The key-value store holding chain states and certificates."""
        self.blob_store = blob_store
        """Where blobs go; None keeps them in ``store``."""
        root = ViewContext(store)
        self._chains_context = root.child("chains")
        self._certificates_prefix = root.child("certificates").base_key
        self._blobs_prefix = root.child("blobs").base_key
        self._chain_cache: OrderedDict[ChainId, ChainStateView] = OrderedDict()
        self._chain_cache_size = chain_cache_size
        # Certificates written or read lately, with their stored bytes, by hash: a certificate
        # is needed again right after it is stored (cross-chain deliveries of its messages,
        # outbox re-sends), and decoding it again costs more than the rest of a delivery.
        # The store is still read every time; only when it returns exactly the remembered
        # bytes is the remembered certificate (which those bytes decode to) handed out.
        self._certificate_cache: OrderedDict[CryptoHash, tuple[bytes, Certificate]] = OrderedDict()
        self._certificate_cache_size = certificate_cache_size

    # ----------------------------------------------------------------- chains

    def load_chain(self, chain_id: ChainId) -> ChainStateView:
        """The chain's stored state. Views are cached (their loaded values and hashes are
        reused); a cached view left with unsaved changes is dropped, never handed out."""
        view = self._chain_cache.get(chain_id)
        if view is not None and not view.has_pending_changes():
            self._chain_cache.move_to_end(chain_id)
            return view
        view = ChainStateView(self._chains_context.child(chain_id.hash.digest), chain_id)
        self._chain_cache[chain_id] = view
        self._chain_cache.move_to_end(chain_id)
        while len(self._chain_cache) > self._chain_cache_size:
            self._chain_cache.popitem(last=False)
        return view

    def load_chain_scratch(self, chain_id: ChainId) -> ChainStateView:
        """A fresh, uncached view of the chain's stored state, to execute on and throw away."""
        return ChainStateView(self._chains_context.child(chain_id.hash.digest), chain_id)

    # ----------------------------------------------------------- certificates

    def _certificate_key(self, certificate_hash: CryptoHash) -> bytes:
        return self._certificates_prefix + certificate_hash.digest

    def _remember_certificate(
        self, certificate_hash: CryptoHash, raw: bytes, certificate: Certificate
    ) -> None:
        self._certificate_cache[certificate_hash] = (raw, certificate)
        self._certificate_cache.move_to_end(certificate_hash)
        while len(self._certificate_cache) > self._certificate_cache_size:
            self._certificate_cache.popitem(last=False)

    def write_certificate(self, certificate: Certificate) -> None:
        certificate_hash = certificate.hash()
        raw = encode(certificate)
        batch = Batch()
        batch.put(self._certificate_key(certificate_hash), raw)
        self.store.write_batch(batch)
        self._remember_certificate(certificate_hash, raw, certificate)

    def read_certificate(self, certificate_hash: CryptoHash) -> Certificate:
        (certificate,) = self.read_certificates([certificate_hash])
        return certificate

    def contains_certificate(self, certificate_hash: CryptoHash) -> bool:
        return self.store.contains_key(self._certificate_key(certificate_hash))

    def read_certificates(self, certificate_hashes: Sequence[CryptoHash]) -> list[Certificate]:
        raw_values = self.store.read_multi_values(
            [self._certificate_key(certificate_hash) for certificate_hash in certificate_hashes]
        )
        certificates: list[Certificate] = []
        for certificate_hash, raw in zip(certificate_hashes, raw_values, strict=True):
            if raw is None:
                raise CertificateNotFound(f"no certificate {certificate_hash} is stored")
            remembered = self._certificate_cache.get(certificate_hash)
            if remembered is not None and remembered[0] == raw:
                self._certificate_cache.move_to_end(certificate_hash)
                certificates.append(remembered[1])
                continue
            try:
                certificate: Certificate = decode(raw, Certificate)
            except EncodingError as exc:
                raise CorruptCertificate(f"stored certificate {certificate_hash} does not decode: {exc}") from exc
            if certificate.hash() != certificate_hash:
                raise CorruptCertificate(
                    f"certificate stored as {certificate_hash} hashes to {certificate.hash()}"
                )
            self._remember_certificate(certificate_hash, raw, certificate)
            certificates.append(certificate)
        return certificates

    # ------------------------------------------------------------------ blobs

    def _blob_key(self, blob_id: BlobId) -> bytes:
        return self._blobs_prefix + encode(blob_id)

    def write_blob(self, blob: Blob) -> None:
        blob_id = blob.id
        if self.blob_store is not None:
            self.blob_store.write_blob(blob_id, blob.content)
            return
        batch = Batch()
        batch.put(self._blob_key(blob_id), blob.content)
        self.store.write_batch(batch)

    def read_blob(self, blob_id: BlobId) -> Blob:
        if self.blob_store is not None:
            return Blob(blob_id.blob_type, self.blob_store.read_blob(blob_id))
        content = self.store.read_value(self._blob_key(blob_id))
        if content is None:
            raise BlobNotFound(f"no blob {blob_id} is stored")
        blob = Blob(blob_id.blob_type, content)
        if blob.id != blob_id:
            raise BlobMismatch(blob_id, blob.id)
        return blob

    def contains_blob(self, blob_id: BlobId) -> bool:
        if self.blob_store is not None:
            return self.blob_store.contains(blob_id)
        return self.store.contains_key(self._blob_key(blob_id))

    def missing_blobs(self, blob_ids: Sequence[BlobId]) -> list[BlobId]:
        unique = list(dict.fromkeys(blob_ids))
        if self.blob_store is not None:
            return self.blob_store.missing_verified(unique)
        return [blob_id for blob_id in unique if not self.store.contains_key(self._blob_key(blob_id))]

    def close(self) -> None:
        self._chain_cache.clear()
        self._certificate_cache.clear()
        self.store.close()
