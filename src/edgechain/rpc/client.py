"""`RemoteValidatorNode`: a validator across the network, behind the `ValidatorNode` interface.

Each call is one HTTP POST with a canonical-CBOR body (see `edgechain.rpc.protocol`):

- bounded: a request above ``max_message_size`` is refused before it is sent, a response
  above it is cut off while streaming;
- timed: every attempt has ``timeout`` seconds;
- retried: a transport failure (refused connection, reset, timeout) is retried with
  exponential backoff; every request is idempotent on the validator (a proposal it voted
  for returns the same vote, a known certificate is acknowledged, queries and blobs are
  reads or content-addressed writes), so a retry after a lost answer is harmless;
- quick to give up on a dead validator: after a call exhausts its retries the node is
  considered down for a cool-down that doubles up to ``max_cooldown``, during which calls
  fail at once with `ValidatorOffline` (so a quorum is not held up by a dead peer);
- faithful: an error the validator raised comes back as the same exception class.

The HTTP itself is `edgechain.rpc.transport.HttpConnectionPool`: keep-alive connections
on asyncio streams, a few times cheaper in CPU per call than a general HTTP client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import websockets
from websockets.asyncio.client import connect as websocket_connect

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId, ChainId
from edgechain.chain.certificate import Certificate
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import CrossChainRequest
from edgechain.core.errors import ValidatorOffline
from edgechain.core.network import GenesisConfig
from edgechain.rpc.errors import MalformedMessage, MessageTooLarge
from edgechain.rpc.protocol import (
    CBOR_CONTENT_TYPE,
    CERTIFICATE_PATH,
    CHAIN_INFO_PATH,
    CROSS_CHAIN_PATH,
    DEFAULT_MAX_MESSAGE_SIZE,
    DOWNLOAD_BLOB_PATH,
    DOWNLOAD_CERTIFICATES_PATH,
    MAX_CERTIFICATES_PER_REQUEST,
    NOTIFICATIONS_PATH,
    PROPOSAL_PATH,
    UPLOAD_BLOB_PATH,
    ErrorResponse,
    NewBlock,
    Subscription,
    error_from_response,
    parse_http_address,
)
from edgechain.rpc.transport import HttpConnectionPool, TransportFailure

T = TypeVar("T")


class RemoteValidatorNode:
    """A `ValidatorNode` reached over HTTP at a loopback ``http://HOST:PORT``."""

    def __init__(
        self,
        address: str,
        public_key: PublicKey,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.02,
        max_cooldown: float = 1.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        parse_http_address(address)
        self.address = address.rstrip("/")
        """The validator's base URL."""
        self._public_key = public_key
        self.timeout = timeout
        """Seconds for one attempt."""
        self.retries = retries
        """Further attempts after a transport failure."""
        self.backoff = backoff
        """Seconds before the first retry (doubling after each)."""
        self.max_cooldown = max_cooldown
        """Longest time the node is skipped after it failed."""
        self.max_message_size = max_message_size
        """Largest request or response body, in bytes."""
        self._client: HttpConnectionPool | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0
        self._cooldown = 0.0

    @property
    def public_key(self) -> PublicKey:
        return self._public_key

    # ---------------------------------------------------------- ValidatorNode

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        result: ChainInfoResponse = await self._call(PROPOSAL_PATH, proposal, ChainInfoResponse)
        return result

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        result: ChainInfoResponse = await self._call(CERTIFICATE_PATH, certificate, ChainInfoResponse)
        return result

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        result: ChainInfoResponse = await self._call(CHAIN_INFO_PATH, query, ChainInfoResponse)
        return result

    async def upload_blob(self, blob: Blob) -> BlobId:
        result: BlobId = await self._call(UPLOAD_BLOB_PATH, blob, BlobId)
        return result

    async def download_blob(self, blob_id: BlobId) -> Blob:
        result: Blob = await self._call(DOWNLOAD_BLOB_PATH, blob_id, Blob)
        return result

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        certificates: list[Certificate] = []
        for start in range(0, len(hashes), MAX_CERTIFICATES_PER_REQUEST):
            batch = list(hashes[start : start + MAX_CERTIFICATES_PER_REQUEST])
            certificates += await self._call(DOWNLOAD_CERTIFICATES_PATH, batch, list[Certificate])
        if [certificate.hash() for certificate in certificates] != list(hashes):
            raise MalformedMessage(f"validator {self.address} sent other certificates than asked")
        return certificates

    async def handle_cross_chain_request(self, request: CrossChainRequest) -> None:
        """Hand a cross-chain request to this shard process (between shards of one validator)."""
        await self._call(CROSS_CHAIN_PATH, request, type(None), CrossChainRequest)

    # ----------------------------------------------------------- notifications

    async def subscribe(self, chain_ids: list[ChainId]) -> AsyncIterator[NewBlock]:
        """Yield a `NewBlock` for every block the validator confirms on ``chain_ids``
        (empty: every chain) until the caller stops iterating or the validator goes away."""
        url = "ws" + self.address.removeprefix("http") + NOTIFICATIONS_PATH
        try:
            async with websocket_connect(url, max_size=1 << 20, open_timeout=self.timeout) as socket:
                await socket.send(encode(Subscription(list(chain_ids))))
                async for message in socket:
                    if not isinstance(message, bytes):
                        raise MalformedMessage(f"validator {self.address} sent a text notification")
                    yield decode(message, NewBlock)
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as exc:
            raise ValidatorOffline(f"notifications from {self.address} stopped: {exc}") from exc

    # ---------------------------------------------------------------- plumbing

    def _http(self) -> HttpConnectionPool:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # A pool's connections belong to one event loop: a new loop gets a new pool.
            self._client = HttpConnectionPool(self.address, max_connections=64)
            self._client_loop = loop
        return self._client

    async def _call(
        self, path: str, message: Any, response_type: Any, message_type: Any = None
    ) -> Any:
        body = encode(message, message_type)
        if len(body) > self.max_message_size:
            raise MessageTooLarge(f"request to {self.address}{path}", len(body), self.max_message_size)
        if time.monotonic() < self._down_until:
            raise ValidatorOffline(f"validator {self.address} is down (retrying it shortly)")
        delay = self.backoff
        attempt = 0
        while True:
            try:
                status, content = await self._post(path, body)
                break
            except TransportFailure as failure:
                if attempt >= self.retries:
                    self._cooldown = min(self.max_cooldown, max(self._cooldown * 2, 0.1))
                    self._down_until = time.monotonic() + self._cooldown
                    raise ValidatorOffline(
                        f"validator {self.address} unreachable ({type(failure).__name__}: {failure})"
                    ) from failure
                attempt += 1
                await asyncio.sleep(delay)
                delay *= 2
        self._cooldown = 0.0
        if status == 200:
            try:
                return decode(content, response_type)
            except EdgechainError as exc:
                raise MalformedMessage(f"validator {self.address}{path} answered garbage: {exc}") from exc
        try:
            error: ErrorResponse = decode(content, ErrorResponse)
        except EdgechainError as exc:
            raise MalformedMessage(
                f"validator {self.address}{path} answered status {status} without an error body"
            ) from exc
        raise error_from_response(error, self.address)

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self._http().post(
            path, body, CBOR_CONTENT_TYPE, self.timeout, self.max_message_size
        )

    async def aclose(self) -> None:
        """Close the connection pool (if it belongs to the running loop)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()

    def __repr__(self) -> str:
        return f"RemoteValidatorNode({self.address}, {self.public_key!r})"


def remote_nodes(
    genesis: GenesisConfig, *, timeout: float = 5.0, retries: int = 2
) -> list[RemoteValidatorNode]:
    """A `RemoteValidatorNode` for every validator of the genesis committee, at its address."""
    return [
        RemoteValidatorNode(state.network_address, public_key, timeout=timeout, retries=retries)
        for public_key, state in genesis.committee.validators.items()
    ]


async def close_nodes(nodes: list[RemoteValidatorNode]) -> None:
    """Close every node's connection pool."""
    for node in nodes:
        await node.aclose()
