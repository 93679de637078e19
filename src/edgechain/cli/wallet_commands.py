"""`edgechain wallet init|show|set-default|request-chain`: the user's chains and keys."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import httpx

from edgechain.base.crypto import KeyPair
from edgechain.base.encoding import decode
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import ChainId
from edgechain.cli.common import add_wallet_option, open_wallet, run_on_chain
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.network import GenesisConfig
from edgechain.core.network_config import read_genesis
from edgechain.core.wallet import Wallet, default_wallet_path
from edgechain.rpc.protocol import parse_http_address

FAUCET_TIMEOUT_SECONDS = 60.0


def register(subparsers: Any) -> None:
    wallet = subparsers.add_parser("wallet", help="create and inspect the wallet")
    commands = wallet.add_subparsers(dest="wallet_command", metavar="SUBCOMMAND", required=True)

    init = commands.add_parser("init", help="create a wallet for a network")
    add_wallet_option(init)
    source = init.add_mutually_exclusive_group(required=True)
    source.add_argument("--genesis", type=Path, help="the network's genesis.cbor")
    source.add_argument("--faucet", help="a faucet URL to take the genesis (and a chain) from")
    init.add_argument("--with-new-chain", action="store_true", help="also request a chain (needs --faucet)")
    init.add_argument("--force", action="store_true", help="replace an existing wallet file")
    init.set_defaults(handler=wallet_init)

    show = commands.add_parser("show", help="list the wallet's chains")
    add_wallet_option(show)
    show.set_defaults(handler=wallet_show)

    set_default = commands.add_parser("set-default", help="make a chain the default one")
    add_wallet_option(set_default)
    set_default.add_argument("chain", help="chain id (or a unique prefix of one in the wallet)")
    set_default.set_defaults(handler=wallet_set_default)

    request = commands.add_parser("request-chain", help="ask a faucet for a new chain with tokens")
    add_wallet_option(request)
    request.add_argument("--faucet", required=True, help="the faucet URL")
    request.add_argument("--no-default", action="store_true", help="do not make it the default")
    request.set_defaults(handler=wallet_request_chain)


def _faucet_client(faucet_url: str) -> httpx.Client:
    parse_http_address(faucet_url.rstrip("/"))  # loopback only
    return httpx.Client(timeout=FAUCET_TIMEOUT_SECONDS, trust_env=False)


def fetch_genesis(faucet_url: str) -> GenesisConfig:
    try:
        with _faucet_client(faucet_url) as http:
            response = http.get(faucet_url.rstrip("/") + "/genesis")
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach the faucet at {faucet_url}: {exc}") from exc
    if response.status_code != 200:
        raise ClientError(f"the faucet at {faucet_url} answered {response.status_code}")
    try:
        genesis: GenesisConfig = decode(response.content, GenesisConfig)
    except EdgechainError as exc:
        raise ClientError(f"the faucet at {faucet_url} sent no genesis: {exc}") from exc
    return genesis


def wallet_init(arguments: argparse.Namespace) -> int:
    path = arguments.wallet or default_wallet_path()
    if arguments.with_new_chain and not arguments.faucet:
        raise ClientError("--with-new-chain needs --faucet")
    genesis = fetch_genesis(arguments.faucet) if arguments.faucet else read_genesis(arguments.genesis)
    wallet = Wallet.create(path, genesis, overwrite=arguments.force)
    print(f"wallet created at {path} (admin chain {genesis.admin_id})")
    if arguments.with_new_chain:
        chain_id = request_chain(wallet, arguments.faucet, make_default=True)
        print(f"new chain {chain_id} (default)")
    return 0


def wallet_show(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    print(f"wallet {wallet.path}")
    print(f"admin chain {wallet.genesis.admin_id}; {len(wallet.genesis.committee.validators)} validators")
    for chain_id, entry in wallet.chains.items():
        marks = []
        if chain_id == wallet.default:
            marks.append("default")
        marks.append("owned" if entry.key_seed is not None else "followed")
        if chain_id == wallet.genesis.admin_id:
            marks.append("admin")
        print(f"{chain_id}  next height {entry.next_block_height}  ({', '.join(marks)})")
    return 0


def wallet_set_default(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    chain_id = wallet.resolve(arguments.chain)
    wallet.set_default(chain_id)
    wallet.save()
    print(f"default chain: {chain_id}")
    return 0


def wallet_request_chain(arguments: argparse.Namespace) -> int:
    wallet = open_wallet(arguments)
    chain_id = request_chain(wallet, arguments.faucet, make_default=not arguments.no_default)
    print(chain_id)
    return 0


def request_chain(wallet: Wallet, faucet_url: str, make_default: bool) -> ChainId:
    """Claim a chain from the faucet for a new key, record it, and take its opening message."""
    key_pair = KeyPair.generate()
    try:
        with _faucet_client(faucet_url) as http:
            response = http.post(
                faucet_url.rstrip("/") + "/claim", json={"public_key": key_pair.public_key.hex()}
            )
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach the faucet at {faucet_url}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError as exc:
        raise ClientError(f"the faucet answered {response.status_code} without JSON") from exc
    if response.status_code != 200:
        raise ClientError(f"the faucet refused: {answer.get('error', response.status_code)}")
    try:
        chain_id = ChainId.from_hex(str(answer["chain_id"]))
    except (KeyError, ValueError, EdgechainError) as exc:
        raise ClientError(f"the faucet sent no chain id: {answer}") from exc
    wallet.add_chain(chain_id, key_pair, make_default=make_default)
    wallet.save()

    async def activate(client: ChainClient) -> None:
        # The chain exists once its first block takes the OpenChain message from the faucet.
        for _ in range(50):
            if await client.process_inbox() is not None:
                return
            await asyncio.sleep(0.1)
        raise ClientError(f"the opening message of chain {chain_id} did not arrive")

    run_on_chain(wallet, chain_id, activate, synchronize=False)
    return chain_id
