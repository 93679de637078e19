"""A validator whose worker shards are processes behind a proxy (`net up --shard-processes`):
cross-shard transfers, notifications through the proxy, and a dead shard that only takes
its own chains down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgechain.base.values import Amount
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.errors import NodeError
from edgechain.core.wallet import Wallet
from edgechain.rpc import close_nodes, remote_nodes, shard_of

SHARDS = 2


@pytest.fixture
def sharded_network(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "net"
    subprocess.run(
        [sys.executable, "-m", "edgechain.cli.main", "net", "up", "--detach", "--dir", str(directory),
         "--validators", "1", "--shards", str(SHARDS), "--shard-processes", "--chains", "4"],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    try:
        yield directory
    finally:
        for pid in json.loads((directory / "processes.json").read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


@pytest.mark.slow
def test_shard_processes_behind_a_proxy(sharded_network: Path) -> None:
    wallet = Wallet.load(sharded_network / "wallet.json")
    chains = [chain for chain in wallet.chains if chain != wallet.genesis.admin_id]
    shards = [shard_of(chain, SHARDS) for chain in chains]
    assert set(shards) == {0, 1}, "the test needs chains on both shards"
    processes = json.loads((sharded_network / "processes.json").read_text())

    async def scenario() -> None:
        nodes = remote_nodes(wallet.genesis, retries=0)
        try:
            clients = [wallet.client(chain, nodes) for chain in chains]
            received = []

            async def listen() -> None:
                async for notification in nodes[0].subscribe([]):
                    received.append(notification)
                    if len(received) == 2 * len(chains):
                        return

            listener = asyncio.ensure_future(listen())
            await asyncio.sleep(0.5)
            for index, client in enumerate(clients):
                await client.transfer_to_chain(Amount.from_tokens(index + 1), chains[(index + 1) % 4])
            for client in clients:
                assert await client.process_inbox() is not None
            balances = [await client.query_balance() for client in clients]
            assert balances == [Amount.from_tokens(t) for t in (1003, 999, 999, 999)]
            await asyncio.wait_for(listener, 15)  # relayed from both shards by the proxy
            assert {n.chain_id for n in received} == set(chains)

            # Kill shard 1: its chains fail, shard 0's chains still work.
            os.killpg(int(processes["validator-0-shard-1"]), signal.SIGKILL)
            await asyncio.sleep(0.3)
            for chain, shard in zip(chains, shards, strict=True):
                query = ChainInfoQuery(chain)
                if shard == 0:
                    assert (await nodes[0].handle_chain_info_query(query)).info.is_active
                else:
                    with pytest.raises(NodeError):
                        await nodes[0].handle_chain_info_query(query)
        finally:
            await close_nodes(nodes)

    asyncio.run(scenario())
