"""The validator server: a `ValidatorService` on HTTP (an ASGI app served by uvicorn).

The protocol's POST endpoints are answered by a bare ASGI layer; GET endpoints, the
notification websocket and anything unexpected go to a Starlette app with the same routes.

Every request is handled on its own: a body that is too large, garbage, a message for an
unknown chain, a bad signature or a bug in a handler ends in an `ErrorResponse` for that
request (and a count in ``/metrics``), never in the server stopping. Only loopback
addresses are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId
from edgechain.chain.certificate import Certificate
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.cross_chain import CrossChainRequest
from edgechain.rpc.errors import MalformedMessage, MessageTooLarge
from edgechain.rpc.protocol import (
    CBOR_CONTENT_TYPE,
    CERTIFICATE_PATH,
    CHAIN_INFO_PATH,
    CROSS_CHAIN_PATH,
    DEFAULT_MAX_MESSAGE_SIZE,
    DOWNLOAD_BLOB_PATH,
    DOWNLOAD_CERTIFICATES_PATH,
    HEALTH_PATH,
    METRICS_PATH,
    NOTIFICATIONS_PATH,
    PROPOSAL_PATH,
    UPLOAD_BLOB_PATH,
    ErrorResponse,
    Subscription,
    check_loopback_host,
    error_response,
    status_for,
)
from edgechain.rpc.proxy import ValidatorProxy
from edgechain.rpc.service import ValidatorService

logger = logging.getLogger(__name__)

SUBSCRIPTION_TIMEOUT_SECONDS = 10.0
"""How long a websocket may take to say what it subscribes to."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (before reading it all) one above ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError as exc:
            raise MalformedMessage(f"bad Content-Length {declared!r}") from exc
        if declared_size > limit:
            raise MessageTooLarge("request body", declared_size, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MessageTooLarge("request body", size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def answer(
    service: ValidatorService | ValidatorProxy,
    method: str,
    request_type: Any,
    call: Callable[[Any], Awaitable[Any]],
    read: Callable[[], Awaitable[bytes]],
) -> tuple[int, bytes]:
    """Read, decode and handle one request; return the status and the CBOR body to send.

    Every failure becomes an error body for this request only; the time and the outcome
    are counted in the service's metrics.
    """
    started = time.perf_counter()
    error_name: str | None = None
    try:
        message = decode(await read(), request_type)
        result = await call(message)
        return 200, encode(result)
    except EdgechainError as error:
        error_name = type(error).__name__
        return status_for(error), encode(error_response(error))
    except Exception as error:  # a bug must not take the validator down
        error_name = "InternalError"
        logger.exception("%s failed unexpectedly", method)
        failure = ErrorResponse(
            "edgechain.rpc.errors.RemoteError",
            f"internal error in {method}: {type(error).__name__}: {error}",
        )
        return 500, encode(failure)
    finally:
        service.metrics.observe_request(method, time.perf_counter() - started, error_name)


class _Endpoint(NamedTuple):
    method: str
    request_type: Any
    call: Callable[[Any], Awaitable[Any]]


class _PostFastPath:
    """The protocol's POST endpoints as a bare ASGI app in front of the Starlette one.

    A vote or a certificate is answered without Starlette's middleware, router and request
    objects (which cost as much CPU as handling a proposal); everything else (GET, the
    websocket, a wrong method) goes to the Starlette app, which routes the same paths.
    """

    def __init__(
        self,
        service: ValidatorService | ValidatorProxy,
        endpoints: dict[str, _Endpoint],
        fallback: ASGIApp,
        max_message_size: int,
    ) -> None:
        self.service = service
        self.endpoints = endpoints
        self.fallback = fallback
        self.max_message_size = max_message_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self.endpoints.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if endpoint is None:
            await self.fallback(scope, receive, send)
            return

        async def read() -> bytes:
            return await _read_asgi_body(scope, receive, self.max_message_size)

        status, content = await answer(
            self.service, endpoint.method, endpoint.request_type, endpoint.call, read
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", CBOR_CONTENT_TYPE.encode("ascii")),
                    (b"content-length", str(len(content)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


async def _read_asgi_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refusing (before reading it all) one above ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared_size = int(value)
            except ValueError as exc:
                raise MalformedMessage(f"bad Content-Length {value!r}") from exc
            if declared_size > limit:
                raise MessageTooLarge("request body", declared_size, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise MalformedMessage("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise MessageTooLarge("request body", size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def build_app(service: ValidatorService | ValidatorProxy, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> ASGIApp:
    """The ASGI application serving ``service``."""

    def endpoint(
        method: str, request_type: Any, call: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            status, content = await answer(
                service, method, request_type, call, lambda: read_body(request, max_message_size)
            )
            return Response(content, status_code=status, media_type=CBOR_CONTENT_TYPE)

        return handle

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(
            service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def notifications(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            data = await asyncio.wait_for(websocket.receive_bytes(), SUBSCRIPTION_TIMEOUT_SECONDS)
            subscription: Subscription = decode(data, Subscription)
        except (EdgechainError, TimeoutError, KeyError, WebSocketDisconnect, RuntimeError):
            with contextlib.suppress(Exception):
                await websocket.close(code=1008)
            return
        subscriber = service.subscribe(frozenset(subscription.chain_ids))
        receiver = asyncio.ensure_future(_wait_for_disconnect(websocket))
        try:
            while True:
                getter = asyncio.ensure_future(subscriber.queue.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    return
                notification = getter.result()
                if notification is None:
                    await websocket.close(code=1013)
                    return
                await websocket.send_bytes(encode(notification))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return
        finally:
            receiver.cancel()
            service.unsubscribe(subscriber)

    posts = {
        PROPOSAL_PATH: _Endpoint("handle_block_proposal", BlockProposal, service.handle_block_proposal),
        CERTIFICATE_PATH: _Endpoint("handle_certificate", Certificate, service.handle_certificate),
        CHAIN_INFO_PATH: _Endpoint("handle_chain_info_query", ChainInfoQuery,
                                   service.handle_chain_info_query),
        UPLOAD_BLOB_PATH: _Endpoint("upload_blob", Blob, service.upload_blob),
        DOWNLOAD_BLOB_PATH: _Endpoint("download_blob", BlobId, service.download_blob),
        DOWNLOAD_CERTIFICATES_PATH: _Endpoint("download_certificates", list[CryptoHash],
                                              service.download_certificates),
    }  # fmt: skip
    if isinstance(service, ValidatorService):
        posts[CROSS_CHAIN_PATH] = _Endpoint(
            "handle_cross_chain_request", CrossChainRequest, service.handle_cross_chain_request
        )
    routes = [
        *(Route(path, endpoint(*post), methods=["POST"]) for path, post in posts.items()),
        Route(METRICS_PATH, metrics, methods=["GET"]),
        Route(HEALTH_PATH, health, methods=["GET"]),
        WebSocketRoute(NOTIFICATIONS_PATH, notifications),
    ]
    return _PostFastPath(service, posts, Starlette(routes=routes), max_message_size)


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    """Return when the peer closes the websocket (anything it sends is ignored)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def make_server(
    service: ValidatorService | ValidatorProxy,
    host: str,
    port: int,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> uvicorn.Server:
    """A uvicorn server for ``service`` on a loopback ``host``:``port`` (not started)."""
    check_loopback_host(host)
    config = uvicorn.Config(
        build_app(service, max_message_size),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws_max_size=1 << 20,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)
