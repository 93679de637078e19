"""What the client commands share: the wallet option, connecting to validators, progress bars."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from edgechain.base.identifiers import ChainId
from edgechain.core.client import ChainClient
from edgechain.core.wallet import WALLET_ENV, Wallet
from edgechain.rpc.client import close_nodes, remote_nodes

T = TypeVar("T")


def add_wallet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wallet",
        type=Path,
        default=None,
        help=f"the wallet file (default: ${WALLET_ENV}, else ~/.config/edgechain/wallet.json)",
    )


def open_wallet(arguments: argparse.Namespace) -> Wallet:
    return Wallet.load(arguments.wallet)


def run_on_chain(
    wallet: Wallet,
    chain_id: ChainId,
    work: Callable[[ChainClient], Awaitable[T]],
    synchronize: bool = True,
) -> T:
    """Connect to the validators, catch the chain's client up, run ``work``, save the tip."""

    async def session() -> T:
        nodes = remote_nodes(wallet.genesis)
        try:
            client = wallet.client(chain_id, nodes)
            if synchronize:
                await client.synchronize()
            try:
                return await work(client)
            finally:
                wallet.update_from_client(client)
                wallet.save()
        finally:
            await close_nodes(nodes)

    return asyncio.run(session())


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(steps)``."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda steps: progress.advance(task, steps)
