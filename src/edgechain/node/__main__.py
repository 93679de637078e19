"""``python -m edgechain.node``: the node-side programs (the faucet; the node service).

The ``edgechain`` command starts these as their own processes (the CLI and the node
layer are siblings and do not import each other).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from edgechain.base.errors import EdgechainError
from edgechain.base.values import Amount
from edgechain.core.wallet import Wallet
from edgechain.node.faucet import Faucet, make_faucet_server
from edgechain.rpc.client import close_nodes, remote_nodes


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgechain.node")
    commands = parser.add_subparsers(dest="command", required=True)
    faucet = commands.add_parser("faucet", help="serve a faucet from the default chain of a wallet")
    faucet.add_argument("--wallet", type=Path, required=True)
    faucet.add_argument("--host", default="127.0.0.1")
    faucet.add_argument("--port", type=int, required=True)
    faucet.add_argument("--amount", default="10", help="tokens per new chain")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "faucet":
            amount = Amount.from_tokens(arguments.amount)
            asyncio.run(run_faucet(arguments.wallet, arguments.host, arguments.port, amount))
    except EdgechainError as exc:
        print(f"edgechain node: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
