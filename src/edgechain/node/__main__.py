"""``python -m edgechain.node``: the node-side programs (the faucet; the node service).

The ``edgechain`` command starts these as their own processes (the CLI and the node
layer are siblings and do not import each other).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edgechain.base.errors import EdgechainError
from edgechain.base.values import Amount
from edgechain.core.wallet import Wallet, default_wallet_path
from edgechain.node.faucet import Faucet, make_faucet_server
from edgechain.node.service import NodeService, make_node_server
from edgechain.rpc.client import close_nodes, remote_nodes
from edgechain.storage.db_storage import DbStorage
from edgechain.views.open_store import open_store


async def run_faucet(wallet_path: Path, host: str, port: int, amount: Amount) -> None:
    wallet = Wallet.load(wallet_path)
    nodes = remote_nodes(wallet.genesis)
    client = wallet.client(wallet.resolve(None), nodes)
    await client.synchronize()
    wallet.update_from_client(client)
    wallet.save()
    server = make_faucet_server(Faucet(wallet, client, amount), host, port)
    try:
        await server.serve()
    finally:
        await close_nodes(nodes)


async def run_service(
    wallet_path: Path | None,
    host: str,
    port: int,
    storage_url: str,
    inbox_interval: float,
    web_directory: Path | None = None,
) -> None:
    wallet = Wallet.load(wallet_path)
    nodes = remote_nodes(wallet.genesis)
    storage = DbStorage(open_store(storage_url, "node_service"))
    node = NodeService(wallet, nodes, storage, inbox_interval=inbox_interval)
    server = make_node_server(node, host, port, web_directory)
    background = [
        asyncio.ensure_future(node.listen_to_validators()),
        asyncio.ensure_future(node.process_inboxes_forever()),
    ]
    try:
        await server.serve()
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await close_nodes(nodes)
        storage.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgechain.node")
    commands = parser.add_subparsers(dest="command", required=True)
    faucet = commands.add_parser("faucet", help="serve a faucet from the default chain of a wallet")
    faucet.add_argument("--wallet", type=Path, required=True)
    faucet.add_argument("--host", default="127.0.0.1")
    faucet.add_argument("--port", type=int, required=True)
    faucet.add_argument("--amount", default="10", help="tokens per new chain")
    service = commands.add_parser("service", help="serve GraphQL for the wallet's chains")
    service.add_argument("--wallet", type=Path, default=None)
    service.add_argument("--host", default="127.0.0.1")
    service.add_argument("--port", type=int, default=8080)
    service.add_argument(
        "--storage", default=None,
        help="local store URL (default: $EDGECHAIN_STORAGE, else memory:; 'sqlite': a file by the wallet)",
    )  # fmt: skip
    service.add_argument("--inbox-interval", type=float, default=1.0)
    service.add_argument(
        "--web-dir", type=Path, default=None,
        help="static pages served at /web (default: the repository's web/, when it exists)",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "faucet":
            amount = Amount.from_tokens(arguments.amount)
            asyncio.run(run_faucet(arguments.wallet, arguments.host, arguments.port, amount))
        else:
            storage_url = arguments.storage or os.environ.get("EDGECHAIN_STORAGE") or "memory:"
            if storage_url == "sqlite":  # the bare kind, as `net up` takes it: a file by the wallet
                wallet_path = arguments.wallet or default_wallet_path()
                storage_url = f"sqlite:{Path(wallet_path).with_name('node-service.sqlite')}"
            if arguments.web_dir is not None and not arguments.web_dir.is_dir():
                parser.error(f"--web-dir {arguments.web_dir} is not a directory")
            asyncio.run(run_service(arguments.wallet, arguments.host, arguments.port, storage_url,
                                    arguments.inbox_interval, arguments.web_dir))  # fmt: skip
    except EdgechainError as exc:
        print(f"edgechain node: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
