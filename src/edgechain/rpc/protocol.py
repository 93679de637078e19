"""The wire format: one HTTP POST per `ValidatorNode` method, canonical CBOR bodies both ways.

Why HTTP with canonical CBOR rather than gRPC: the dependencies are already ours
(starlette + uvicorn serve, httpx calls, websockets push), every message is a protocol
dataclass that `edgechain.base.encoding` already encodes canonically (no second schema
to keep in step, as a .proto file would be), and a request is one ``curl --data-binary``
away from debugging. Decoding is type-directed and rejects non-canonical bytes, so a
body is either exactly the expected message or an error.

    POST /v1/block_proposal          BlockProposal        -> ChainInfoResponse
    POST /v1/certificate             Certificate          -> ChainInfoResponse
    POST /v1/chain_info              ChainInfoQuery       -> ChainInfoResponse
    POST /v1/upload_blob             Blob                 -> BlobId
    POST /v1/download_blob           BlobId               -> Blob
    POST /v1/download_certificates   list[CryptoHash]     -> list[Certificate]
    WS   /v1/notifications           Subscription, then NewBlock messages pushed
    POST /v1/cross_chain             CrossChainRequest    -> null  (between shard processes)
    GET  /metrics                    Prometheus text; GET /health: "ok"

A failed request answers a non-2xx status with an `ErrorResponse` body naming the
error's class, which the client raises again as that same class (`error_from_response`).
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from edgechain.base.crypto import CryptoHash
from edgechain.base.errors import EdgechainError, EncodingError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.base.values import BlockHeight
from edgechain.rpc.errors import AddressNotAllowed, MalformedMessage, MessageTooLarge, RemoteError

PROPOSAL_PATH = "/v1/block_proposal"
CERTIFICATE_PATH = "/v1/certificate"
CHAIN_INFO_PATH = "/v1/chain_info"
UPLOAD_BLOB_PATH = "/v1/upload_blob"
DOWNLOAD_BLOB_PATH = "/v1/download_blob"
DOWNLOAD_CERTIFICATES_PATH = "/v1/download_certificates"
NOTIFICATIONS_PATH = "/v1/notifications"
CROSS_CHAIN_PATH = "/v1/cross_chain"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/health"

CBOR_CONTENT_TYPE = "application/cbor"

DEFAULT_MAX_MESSAGE_SIZE = 64 << 20
"""Largest request or response body (bytes) by default: a block's blobs travel one per request."""

MAX_CERTIFICATES_PER_REQUEST = 1000
"""Most certificates one ``download_certificates`` request may ask for (clients send batches)."""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """What a validator answers when a request fails."""

    error_type: str
    """The error's class as ``module.QualifiedName`` (e.g. ``edgechain.core.errors.UnknownChain``)."""
    message: str
    """The error's message."""
    blob_ids: list[BlobId] = field(default_factory=list)
    """For missing-blob errors: the blobs the validator lacks (the client uploads them)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A client's request for notifications about some chains."""

    chain_ids: list[ChainId]
    """The chains to hear about (empty: every chain)."""


@dataclass(frozen=True, slots=True)
class NewBlock:
    """Pushed to subscribers when a validator confirms a block."""

    chain_id: ChainId
    """The chain that grew."""
    height: BlockHeight
    """The new block's height."""
    block_hash: CryptoHash
    """The new block's certificate hash."""


def error_response(error: EdgechainError) -> ErrorResponse:
    """The wire form of ``error``."""
    cls = type(error)
    blob_ids = getattr(error, "blob_ids", None)
    carried = list(blob_ids) if isinstance(blob_ids, list) and all(
        isinstance(blob_id, BlobId) for blob_id in blob_ids
    ) else []
    return ErrorResponse(f"{cls.__module__}.{cls.__qualname__}", str(error), carried)


def error_from_response(response: ErrorResponse, address: str) -> EdgechainError:
    """The exception a validator raised, rebuilt as the same class where it is one of ours.

    Only classes already imported from ``edgechain.*`` modules and deriving from
    `EdgechainError` are rebuilt (nothing is imported on a peer's say-so); anything else
    becomes a `RemoteError` carrying the name and message.
    """
    module_name, _, class_name = response.error_type.rpartition(".")
    module = sys.modules.get(module_name) if module_name.startswith("edgechain.") else None
    cls = getattr(module, class_name, None) if module is not None else None
    if not (isinstance(cls, type) and issubclass(cls, EdgechainError)):
        return RemoteError(f"validator {address} failed: {response.error_type}: {response.message}")
    error = cls.__new__(cls)
    Exception.__init__(error, response.message)
    if response.blob_ids:
        error.blob_ids = list(response.blob_ids)  # type: ignore[attr-defined]
    return error


def status_for(error: EdgechainError) -> int:
    """The HTTP status of a failed request."""
    if isinstance(error, MessageTooLarge):
        return 413
    if isinstance(error, EncodingError | MalformedMessage):
        return 400
    return 422


LOOPBACK_NAMES = frozenset({"localhost"})


def check_loopback_host(host: str) -> None:
    """Raise `AddressNotAllowed` unless ``host`` is a loopback name or address."""
    if host in LOOPBACK_NAMES:
        return
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError as exc:
        raise AddressNotAllowed(f"{host!r} is not a loopback address") from exc
    if not address.is_loopback:
        raise AddressNotAllowed(f"{host!r} is not a loopback address: only loopback is served")


def parse_http_address(address: str) -> tuple[str, int]:
    """(host, port) of ``http://HOST:PORT``; raises unless the host is loopback."""
    parts = urlsplit(address)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise AddressNotAllowed(f"validator address {address!r} is not http://HOST:PORT")
    check_loopback_host(parts.hostname)
    return parts.hostname, parts.port
