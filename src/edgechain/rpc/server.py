"""The validator server: a `ValidatorService` on HTTP (starlette app, served by uvicorn).

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
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
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


def build_app(service: ValidatorService | ValidatorProxy, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> Starlette:
    """The ASGI application serving ``service``."""

    def endpoint(
        method: str, request_type: Any, call: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            error_name: str | None = None
            try:
                body = await read_body(request, max_message_size)
                message = decode(body, request_type)
                result = await call(message)
                return Response(encode(result), media_type=CBOR_CONTENT_TYPE)
            except EdgechainError as error:
                error_name = type(error).__name__
                return Response(
                    encode(error_response(error)),
                    status_code=status_for(error),
                    media_type=CBOR_CONTENT_TYPE,
                )
            except Exception as error:  # a bug must not take the validator down
                error_name = "InternalError"
                logger.exception("%s failed unexpectedly", method)
                failure = ErrorResponse(
                    "edgechain.rpc.errors.RemoteError",
                    f"internal error in {method}: {type(error).__name__}: {error}",
                )
                return Response(encode(failure), status_code=500, media_type=CBOR_CONTENT_TYPE)
            finally:
                service.metrics.observe_request(method, time.perf_counter() - started, error_name)

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

    routes = [
        Route(PROPOSAL_PATH, endpoint("handle_block_proposal", BlockProposal,
                                      service.handle_block_proposal), methods=["POST"]),
        Route(CERTIFICATE_PATH, endpoint("handle_certificate", Certificate,
                                         service.handle_certificate), methods=["POST"]),
        Route(CHAIN_INFO_PATH, endpoint("handle_chain_info_query", ChainInfoQuery,
                                        service.handle_chain_info_query), methods=["POST"]),
        Route(UPLOAD_BLOB_PATH, endpoint("upload_blob", Blob, service.upload_blob),
              methods=["POST"]),
        Route(DOWNLOAD_BLOB_PATH, endpoint("download_blob", BlobId, service.download_blob),
              methods=["POST"]),
        Route(DOWNLOAD_CERTIFICATES_PATH, endpoint("download_certificates", list[CryptoHash],
                                                   service.download_certificates),
              methods=["POST"]),
        Route(METRICS_PATH, metrics, methods=["GET"]),
        Route(HEALTH_PATH, health, methods=["GET"]),
        WebSocketRoute(NOTIFICATIONS_PATH, notifications),
    ]  # fmt: skip
    if isinstance(service, ValidatorService):
        routes.append(Route(CROSS_CHAIN_PATH, endpoint("handle_cross_chain_request", CrossChainRequest,
                                                       service.handle_cross_chain_request),
                            methods=["POST"]))  # fmt: skip
    return Starlette(routes=routes)


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
