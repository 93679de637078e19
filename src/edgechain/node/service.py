"""The node service: what a user runs next to their wallet (``edgechain service --port 8080``).

    /                                              GraphQL (POST) and the GraphiQL page (GET):
                                                   chains, blocks, certificates, blobs,
                                                   applications; mutations for system operations
    /chains/{chain_id}/applications/{application_id}   GraphQL of that application's service:
                                                   queries run locally over the followed chain's
                                                   state; mutations schedule operations that are
                                                   proposed at once in a block (its hash returned)
    /chains/{chain_id}/applications/{application_id}/stream   POST a JSON object: the service's
                                                   ``handle_stream(request)`` as a chunked
                                                   ``text/plain`` response (applications
                                                   whose service has ``handle_stream``)
    /ws                                            GraphQL subscriptions (graphql-transport-ws):
                                                   ``notifications(chainId)`` -> new blocks
    /web/…                                         the static pages of ``web/`` (the
                                                   repository's, or ``--web-dir``), when it exists

Chain states are followed locally (`ChainFollower`: checked certificates, re-executed);
service modules are imported once per module and stay loaded (`load_service_module`
caches them). A background task processes the inboxes of the wallet's owned chains and
turns the validators' new-block pushes into subscription events. Local state updates and
service queries are serialised by one lock (the local views are not shared), but a service
runs in a worker thread, so a model generating for seconds never blocks the event loop:
pages, GraphiQL, subscriptions and other requests go on. A stream holds the lock only
while ``handle_stream`` prepares (reads state, loads its model); its pieces are generated
in worker threads after the lock is released, so chain queries are answered meanwhile.
Models stay loaded once per process (``edgechain.ml.model_cache`` is thread-safe).
Malformed GraphQL gets GraphQL errors; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import Account, AccountOwner, ApplicationId, BlobId, ChainId
from edgechain.base.values import Amount, Timestamp
from edgechain.chain.certificate import Certificate
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.follower import ChainFollower
from edgechain.core.wallet import Wallet
from edgechain.execution.operations import OpenChain, Operation, PublishDataBlob, Transfer
from edgechain.execution.ownership import ChainOwnership
from edgechain.execution.service_runtime import (
    ServiceConfig,
    ServiceContext,
    open_service_stream,
    query_service,
)
from edgechain.rpc.client import RemoteValidatorNode
from edgechain.rpc.protocol import NewBlock, check_loopback_host
from edgechain.rpc.server import read_body
from edgechain.storage.storage import Storage

logger = logging.getLogger(__name__)

MAX_APPLICATION_REQUEST = 1 << 20
"""Largest body of an application query, in bytes."""

_STREAM_END = object()
"""What ``next`` returns when a service's stream is exhausted."""


def repository_web_directory() -> Path | None:
    """The repository's ``web/`` next to ``src/`` (a source checkout), if it exists."""
    directory = Path(__file__).resolve().parents[3] / "web"
    return directory if directory.is_dir() else None


class NodeService:
    """The wallet's chains, followed locally, with clients to propose on the owned ones."""

    def __init__(
        self,
        wallet: Wallet,
        validators: list[RemoteValidatorNode],
        storage: Storage,
        inbox_interval: float = 1.0,
        service_config: ServiceConfig | None = None,
    ) -> None:
        self.wallet = wallet
        self.validators = validators
        self.follower = ChainFollower(storage, wallet.genesis, validators)
        self.inbox_interval = inbox_interval
        """Seconds between two rounds of automatic inbox processing."""
        self.service_config = service_config or ServiceConfig.from_policy(
            wallet.genesis.committee.policy
        )
        """What services may do beyond reading state (``fetch_url`` hosts, caps)."""
        self.state_lock = asyncio.Lock()
        """Serialises local state reads and updates."""
        self._clients: dict[ChainId, ChainClient] = {}
        self._chain_locks: dict[ChainId, asyncio.Lock] = {}
        self._subscribers: list[tuple[ChainId | None, asyncio.Queue[NewBlock]]] = []

    # ----------------------------------------------------------------- chains

    async def client(self, chain_id: ChainId) -> ChainClient:
        client = self._clients.get(chain_id)
        if client is None:
            client = self.wallet.client(chain_id, self.validators)
            await client.synchronize()
            self._clients[chain_id] = client
        return client

    def _lock(self, chain_id: ChainId) -> asyncio.Lock:
        return self._chain_locks.setdefault(chain_id, asyncio.Lock())

    async def execute(
        self, chain_id: ChainId, operations: list[Operation], blobs: list[Blob] | None = None
    ) -> Certificate:
        """Propose ``operations`` on an owned chain; returns the certificate."""
        async with self._lock(chain_id):
            client = await self.client(chain_id)
            if client.key_pair is None:
                raise ClientError(f"chain {chain_id} is not owned by this wallet")
            try:
                certificate = await client.execute_operations(operations, blobs=blobs or [])
            except EdgechainError:
                # Another client of this wallet may have moved the chain on: catch up, retry once.
                await client.synchronize()
                certificate = await client.execute_operations(operations, blobs=blobs or [])
            self.wallet.update_from_client(client)
            self.wallet.save()
            return certificate

    async def process_inbox(self, chain_id: ChainId) -> Certificate | None:
        async with self._lock(chain_id):
            client = await self.client(chain_id)
            certificate = await client.process_inbox()
            self.wallet.update_from_client(client)
            self.wallet.save()
            return certificate

    async def open_chain(self, parent_id: ChainId, balance: Amount) -> ChainId:
        """Open a child chain owned by a new key (kept in the wallet) and take its opening message."""
        key_pair = KeyPair.generate()
        ownership = ChainOwnership.single(AccountOwner.from_public_key(key_pair.public_key))
        certificate = await self.execute(parent_id, [OpenChain(ownership, balance)])
        chain_id = ChainId.child(parent_id, certificate.executed_block.block.height, 0)
        self.wallet.add_chain(chain_id, key_pair)
        self.wallet.save()
        await self.process_inbox(chain_id)
        return chain_id

    async def followed_chain(self, chain_id: ChainId) -> Any:
        async with self.state_lock:
            return await self.follower.follow(chain_id)

    async def _service_context(self, chain_id: ChainId) -> ServiceContext:
        """A service context over the followed chain's latest state (hold ``state_lock``)."""
        chain = await self.follower.follow(chain_id)
        system = chain.execution_state.system
        return ServiceContext(
            state=chain.execution_state,
            chain_id=chain_id,
            system_time=Timestamp(system.timestamp.get().micros),
            next_block_height=chain.next_block_height(),
            blob_source=self.follower.storage,
            config=self.service_config,
        )

    async def query_application(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> dict[str, Any]:
        """Answer ``request`` with the application's service (in a worker thread, over the
        followed state); propose the operations its mutations scheduled at once."""
        async with self.state_lock:
            context = await self._service_context(chain_id)
            answer = await asyncio.to_thread(query_service, context, application_id, request)
            operations = list(context.scheduled)
        result: dict[str, Any] = dict(answer) if isinstance(answer, dict) else {"data": answer}
        if operations:
            certificate = await self.execute(chain_id, list(operations))
            result["blockHash"] = certificate.hash().hex()
        return result

    async def open_stream(
        self, chain_id: ChainId, application_id: ApplicationId, request: Any
    ) -> Iterator[str]:
        """The service's ``handle_stream(request)``, prepared in a worker thread under the
        state lock; the caller consumes it (in worker threads) after the lock is released."""
        async with self.state_lock:
            context = await self._service_context(chain_id)
            return await asyncio.to_thread(open_service_stream, context, application_id, request)

    # ---------------------------------------------------------- notifications

    def subscribe(self, chain_id: ChainId | None) -> asyncio.Queue[NewBlock]:
        queue: asyncio.Queue[NewBlock] = asyncio.Queue(1000)
        self._subscribers.append((chain_id, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[NewBlock]) -> None:
        self._subscribers = [(c, q) for c, q in self._subscribers if q is not queue]

    def publish(self, notification: NewBlock) -> None:
        for chain_id, queue in self._subscribers:
            if chain_id is None or chain_id == notification.chain_id:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(notification)

    async def listen_to_validators(self) -> None:
        """Forward new-block pushes (from the first validator that answers) to subscribers."""
        index = 0
        while True:
            node = self.validators[index % len(self.validators)]
            try:
                async for notification in node.subscribe([]):
                    self.publish(notification)
            except (EdgechainError, OSError) as failure:
                logger.info("notifications from %s stopped: %s", node.address, failure)
            index += 1
            await asyncio.sleep(0.5)

    async def process_inboxes_forever(self) -> None:
        while True:
            for chain_id, entry in list(self.wallet.chains.items()):
                if entry.key_seed is None:
                    continue
                try:
                    await self.process_inbox(chain_id)
                except (EdgechainError, TimeoutError) as failure:
                    logger.info("inbox of %s: %s", chain_id, failure)
            await asyncio.sleep(self.inbox_interval)


# --------------------------------------------------------------------- GraphQL


@strawberry.type
class ChainSummary:
    """A chain as this node sees it (followed locally)."""

    chain_id: str
    next_block_height: int
    balance: str
    block_hash: str | None
    state_hash: str
    owned: bool
    applications: list[str]


@strawberry.type
class BlockSummary:
    """A confirmed block."""

    height: int
    hash: str
    timestamp: int
    operations: int
    incoming_bundles: int
    signers: int


@strawberry.type
class BlobSummary:
    """A blob held by the node's local storage."""

    blob_id: str
    size: int


@strawberry.type
class ApplicationSummary:
    """An application known on a chain."""

    application_id: str
    module_id: str
    creator_chain_id: str
    creator_block_height: int


@strawberry.type
class BlockEvent:
    """A new block on a chain (pushed by the validators)."""

    chain_id: str
    height: int
    hash: str


def _node(info: strawberry.Info) -> NodeService:
    node: NodeService = info.context["node"]
    return node


def _chain_id(text: str) -> ChainId:
    try:
        return ChainId.from_hex(text)
    except (ValueError, EdgechainError) as exc:
        raise ValueError(f"{text!r} is not a chain id") from exc


def _summary(node: NodeService, chain_id: ChainId, chain: Any) -> ChainSummary:
    tip = chain.tip_state.get()
    entry = node.wallet.chains.get(chain_id)
    return ChainSummary(
        chain_id=chain_id.hash.hex(),
        next_block_height=chain.next_block_height().value,
        balance=str(chain.execution_state.system.balance.get()),
        block_hash=tip.block_hash.hex() if tip.block_hash is not None else None,
        state_hash=chain.state_hash().hex(),
        owned=entry is not None and entry.key_seed is not None,
        applications=[str(app) for app in list(chain.execution_state.applications.keys())],
    )


def _block(certificate: Certificate) -> BlockSummary:
    block = certificate.executed_block.block
    return BlockSummary(
        height=block.height.value,
        hash=certificate.hash().hex(),
        timestamp=block.timestamp.micros,
        operations=len(block.operations),
        incoming_bundles=len(block.incoming_bundles),
        signers=len(certificate.signatures),
    )


@strawberry.type
class Query:
    """The node's chains, blocks, certificates and blobs."""

    @strawberry.field
    async def chains(self, info: strawberry.Info) -> list[ChainSummary]:
        node = _node(info)
        result = []
        for chain_id in list(node.wallet.chains):
            result.append(_summary(node, chain_id, await node.followed_chain(chain_id)))
        return result

    @strawberry.field
    async def chain(self, info: strawberry.Info, chain_id: str) -> ChainSummary:
        node = _node(info)
        identifier = _chain_id(chain_id)
        return _summary(node, identifier, await node.followed_chain(identifier))

    @strawberry.field
    async def blocks(
        self, info: strawberry.Info, chain_id: str, limit: int = 10
    ) -> list[BlockSummary]:
        node = _node(info)
        identifier = _chain_id(chain_id)
        chain = await node.followed_chain(identifier)
        count = chain.confirmed_log.count()
        start = max(0, count - max(0, min(limit, 1000)))
        hashes = chain.confirmed_log.read(start, count) if start < count else []
        certificates = node.follower.storage.read_certificates(hashes)
        return [_block(certificate) for certificate in reversed(certificates)]

    @strawberry.field
    async def applications(self, info: strawberry.Info, chain_id: str) -> list[ApplicationSummary]:
        node = _node(info)
        chain = await node.followed_chain(_chain_id(chain_id))
        return [
            ApplicationSummary(
                application_id=str(application_id),
                module_id=f"{d.module_id.contract_blob_hash.hex()}:{d.module_id.service_blob_hash.hex()}",
                creator_chain_id=d.creator_chain_id.hash.hex(),
                creator_block_height=d.block_height.value,
            )
            for application_id, d in chain.execution_state.applications.items()
        ]

    @strawberry.field
    async def certificate(self, info: strawberry.Info, hash: str) -> BlockSummary | None:
        node = _node(info)
        try:
            certificate = node.follower.storage.read_certificate(CryptoHash.from_hex(hash))
        except (EdgechainError, ValueError):
            return None
        return _block(certificate)

    @strawberry.field
    async def blob(self, info: strawberry.Info, blob_id: str) -> BlobSummary | None:
        node = _node(info)
        try:
            blob = node.follower.storage.read_blob(BlobId.parse(blob_id))
        except (EdgechainError, ValueError):
            return None
        return BlobSummary(blob_id=blob_id, size=blob.size)


@strawberry.type
class Mutation:
    """System operations on the wallet's owned chains; each returns the new block's hash."""

    @strawberry.mutation
    async def transfer(
        self,
        info: strawberry.Info,
        chain_id: str,
        recipient: str,
        amount: str,
        owner: str | None = None,
    ) -> str:
        target = Account(_chain_id(recipient), AccountOwner.from_hex(owner) if owner else None)
        client_chain = _chain_id(chain_id)
        certificate = await _node(info).execute(
            client_chain, [Transfer(None, target, Amount.from_tokens(amount))]
        )
        return certificate.hash().hex()

    @strawberry.mutation
    async def process_inbox(self, info: strawberry.Info, chain_id: str) -> str | None:
        certificate = await _node(info).process_inbox(_chain_id(chain_id))
        return certificate.hash().hex() if certificate is not None else None

    @strawberry.mutation
    async def open_chain(self, info: strawberry.Info, chain_id: str, balance: str = "0") -> str:
        """Open a chain owned by a new key of this wallet; returns its id."""
        return (
            await _node(info).open_chain(_chain_id(chain_id), Amount.from_tokens(balance))
        ).hash.hex()

    @strawberry.mutation
    async def publish_data_blob(self, info: strawberry.Info, chain_id: str, bytes_hex: str) -> str:
        blob = Blob.data(bytes.fromhex(bytes_hex))
        await _node(info).execute(_chain_id(chain_id), [PublishDataBlob(blob.id)], [blob])
        return str(blob.id)


@strawberry.type
class Subscription:
    """New blocks, per chain."""

    @strawberry.subscription
    async def notifications(
        self, info: strawberry.Info, chain_id: str
    ) -> AsyncGenerator[BlockEvent, None]:
        node = _node(info)
        queue = node.subscribe(_chain_id(chain_id))
        try:
            while True:
                event = await queue.get()
                yield BlockEvent(chain_id=event.chain_id.hash.hex(), height=event.height.value,
                                 hash=event.block_hash.hex())  # fmt: skip
        finally:
            node.unsubscribe(queue)


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class _NodeGraphQL(GraphQL):  # type: ignore[type-arg]
    def __init__(self, node: NodeService) -> None:
        super().__init__(SCHEMA, graphql_ide="graphiql")
        self.node = node

    async def get_context(self, request: Any, response: Any) -> Any:
        return {"request": request, "response": response, "node": self.node}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


async def _application_request(
    request: Request, needs_query: bool
) -> tuple[ChainId, ApplicationId, dict[str, Any]] | JSONResponse:
    """The chain, application and JSON object of an application request, or the error."""
    try:
        chain_id = ChainId.from_hex(request.path_params["chain_id"])
        application_id = ApplicationId.from_hex(request.path_params["application_id"])
    except (ValueError, EdgechainError) as exc:
        return _error(400, f"bad path: {exc}")
    try:
        body = await read_body(request, MAX_APPLICATION_REQUEST)
    except EdgechainError as exc:
        return _error(413, str(exc))
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if needs_query and not isinstance(payload.get("query"), str):
            raise ValueError('expected {"query": …}')
    except ValueError as exc:
        return _error(400, f"malformed request: {exc}")
    return chain_id, application_id, payload


async def _pieces_of(stream: Iterator[str]) -> AsyncIterator[str]:
    """A service's stream, each piece generated in a worker thread; closed when the client
    goes away, so the service's generation (and its locks) end with the response."""
    try:
        while True:
            piece = await asyncio.to_thread(next, stream, _STREAM_END)
            if piece is _STREAM_END:
                return
            yield str(piece)
    except Exception as failure:  # headers are sent: end the text, log why
        logger.warning("stream ended by its service: %s: %s", type(failure).__name__, failure)
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            with contextlib.suppress(ValueError):  # still running in its thread: it ends there
                close()


def build_node_app(node: NodeService, web_directory: Path | None = None) -> Starlette:
    """The node service's ASGI app (routes in the module docstring); ``web_directory``
    (default: the repository's ``web/``) is served at ``/web`` when it exists."""
    graphql_app = _NodeGraphQL(node)

    async def application(request: Request) -> Response:
        parsed = await _application_request(request, needs_query=True)
        if isinstance(parsed, JSONResponse):
            return parsed
        chain_id, application_id, payload = parsed
        try:
            result = await node.query_application(chain_id, application_id, payload)
        except EdgechainError as exc:
            return _error(422, f"{type(exc).__name__}: {exc}")
        return JSONResponse(result)

    async def stream(request: Request) -> Response:
        parsed = await _application_request(request, needs_query=False)
        if isinstance(parsed, JSONResponse):
            return parsed
        chain_id, application_id, payload = parsed
        try:
            pieces = await node.open_stream(chain_id, application_id, payload)
        except (EdgechainError, ValueError, KeyError, TypeError) as exc:
            # The service refused the request (``handle_stream`` validates before it streams).
            return _error(422, f"{type(exc).__name__}: {exc}")
        return StreamingResponse(
            _pieces_of(pieces),
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    routes: list[BaseRoute] = [
        Route("/chains/{chain_id}/applications/{application_id}", application, methods=["POST"]),
        Route("/chains/{chain_id}/applications/{application_id}/stream", stream, methods=["POST"]),
        WebSocketRoute("/ws", graphql_app),
        Route("/", graphql_app, methods=["GET", "POST"]),
    ]
    directory = web_directory if web_directory is not None else repository_web_directory()
    if directory is not None and directory.is_dir():
        routes.append(Mount("/web", StaticFiles(directory=str(directory), html=True)))
    return Starlette(routes=routes)


def make_node_server(
    node: NodeService, host: str, port: int, web_directory: Path | None = None
) -> uvicorn.Server:
    check_loopback_host(host)
    config = uvicorn.Config(
        build_node_app(node, web_directory), host=host, port=port, log_level="warning",
        access_log=False, lifespan="off", timeout_graceful_shutdown=2,
    )  # fmt: skip
    return uvicorn.Server(config)
