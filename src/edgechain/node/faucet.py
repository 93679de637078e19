"""The faucet: gives a new user a chain with tokens, opened from the faucet's own chain.

    GET  /genesis   the network's genesis file (canonical CBOR): what `wallet init --faucet` needs
    POST /claim     JSON {"public_key": "<hex>"} -> {"chain_id", "certificate_hash", "amount"}
    GET  /health    "ok"

Each claim certifies one block on the faucet's chain that opens a child chain owned by
the claimant's key with ``amount`` tokens; claims are handled one at a time (one chain,
one sequence of blocks). The faucet's wallet records its chain's tip after every claim.
"""

from __future__ import annotations

import asyncio
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from edgechain.base.crypto import CryptoHash, PublicKey
from edgechain.base.encoding import encode
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount
from edgechain.core.client import ChainClient
from edgechain.core.wallet import Wallet
from edgechain.execution.ownership import ChainOwnership
from edgechain.rpc.protocol import CBOR_CONTENT_TYPE, check_loopback_host
from edgechain.rpc.server import read_body

MAX_CLAIM_BODY = 4096
"""Largest claim request body, in bytes."""


class Faucet:
    """Opens chains for claimants from one chain of a wallet."""

    def __init__(self, wallet: Wallet, client: ChainClient, amount: Amount) -> None:
        self.wallet = wallet
        """The faucet's wallet (its chain's tip is saved after each claim)."""
        self.client = client
        """The client of the faucet's chain."""
        self.amount = amount
        """Tokens each new chain starts with."""
        self._lock = asyncio.Lock()

    async def claim(self, public_key: PublicKey) -> tuple[ChainId, CryptoHash]:
        """Open a chain owned by ``public_key`` with ``amount`` tokens; its id and the block's hash."""
        async with self._lock:
            ownership = ChainOwnership.single(AccountOwner.from_public_key(public_key))
            chain_id, certificate = await self.client.open_chain(ownership, self.amount)
            self.wallet.update_from_client(self.client)
            self.wallet.save()
            return chain_id, certificate.hash()


def build_faucet_app(faucet: Faucet) -> Starlette:
    """The faucet's HTTP application."""
    genesis_bytes = encode(faucet.wallet.genesis)

    async def genesis(_: Request) -> Response:
        return Response(genesis_bytes, media_type=CBOR_CONTENT_TYPE)

    async def claim(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_CLAIM_BODY)
        except EdgechainError as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        try:
            public_key = PublicKey.from_hex(str(json.loads(body)["public_key"]))
        except (ValueError, KeyError, TypeError, EdgechainError) as exc:
            return JSONResponse(
                {"error": f'expected {{"public_key": HEX}}: {exc}'}, status_code=400
            )
        try:
            chain_id, certificate_hash = await faucet.claim(public_key)
        except EdgechainError as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=503)
        return JSONResponse(
            {
                "chain_id": chain_id.hash.hex(),
                "certificate_hash": certificate_hash.hex(),
                "amount": str(faucet.amount),
            }
        )

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/genesis", genesis, methods=["GET"]),
            Route("/claim", claim, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def make_faucet_server(faucet: Faucet, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the faucet on a loopback address (not started)."""
    check_loopback_host(host)
    config = uvicorn.Config(
        build_faucet_app(faucet), host=host, port=port, log_level="warning",
        access_log=False, lifespan="off", timeout_graceful_shutdown=2,
    )  # fmt: skip
    return uvicorn.Server(config)
