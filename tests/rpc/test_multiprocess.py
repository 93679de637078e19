"""Four validator processes; a burst of transfers; one validator kill -9'ed in the middle.

Every transfer must be certified by the three survivors, who must agree on every chain's
balance and state hash; the killed validator, restarted on its files, must catch up and
agree on every state hash too. Once on SQLite, once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_network import ProcessNetwork

from edgechain.base.values import Amount
from edgechain.core.chain_info import ChainInfo, ChainInfoQuery
from edgechain.rpc import RemoteValidatorNode

CHAINS = 4
TRANSFERS_PER_CHAIN = 50
KILL_AFTER = 60
VICTIM = 3


@pytest.fixture
def sqlite_network(tmp_path: Path) -> Iterator[ProcessNetwork]:
    network = ProcessNetwork(tmp_path, 4, CHAINS, "sqlite")
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


@pytest.fixture
def postgres_network(tmp_path: Path, postgres_dsn: str) -> Iterator[ProcessNetwork]:
    network = ProcessNetwork(tmp_path, 4, CHAINS, postgres_dsn, shards=2)
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


async def _infos(node: RemoteValidatorNode, network: ProcessNetwork) -> list[ChainInfo]:
    return [
        (await node.handle_chain_info_query(ChainInfoQuery(chain_id))).info
        for chain_id in network.user_chain_ids
    ]


async def _burst_with_a_crash(network: ProcessNetwork) -> None:
    nodes = network.nodes(timeout=5.0, retries=2)
    clients = [network.client(index, nodes) for index in range(CHAINS)]
    certified = 0
    crashed = asyncio.Event()

    async def send_all(index: int) -> None:
        nonlocal certified
        recipient = network.user_chain_ids[(index + 1) % CHAINS]
        for _ in range(TRANSFERS_PER_CHAIN):
            certificate = await clients[index].transfer_to_chain(Amount.from_tokens(1), recipient)
            assert certificate.hash() is not None
            certified += 1
            if certified == KILL_AFTER:
                network.kill(VICTIM)  # SIGKILL to the process group, mid-burst
                crashed.set()

    await asyncio.gather(*(send_all(index) for index in range(CHAINS)))
    assert crashed.is_set()
    assert certified == CHAINS * TRANSFERS_PER_CHAIN
    for client in clients:
        assert await client.process_inbox() is not None

    survivors = [node for index, node in enumerate(nodes) if index != VICTIM]
    survivor_infos = [await _infos(node, network) for node in survivors]
    expected_height = TRANSFERS_PER_CHAIN + 1
    for infos in survivor_infos:
        assert [info.chain_balance for info in infos] == [Amount.from_tokens(1000)] * CHAINS
        assert [info.next_block_height.value for info in infos] == [expected_height] * CHAINS
        assert [info.state_hash for info in infos] == [i.state_hash for i in survivor_infos[0]]
        assert [info.block_hash for info in infos] == [i.block_hash for i in survivor_infos[0]]

    # Restart the victim on its own files; the chains' clients bring it up to date.
    network.start(VICTIM)
    network.wait_ready(VICTIM)
    await asyncio.sleep(1.2)  # let the clients' cool-down for the dead validator pass
    before = await _infos(nodes[VICTIM], network)
    assert all(info.next_block_height.value < expected_height for info in before)
    for client in clients:
        failures = await client.synchronize_validators()
        assert failures == {}, failures
    restarted = await _infos(nodes[VICTIM], network)
    assert [info.state_hash for info in restarted] == [i.state_hash for i in survivor_infos[0]]
    assert [info.block_hash for info in restarted] == [i.block_hash for i in survivor_infos[0]]
    assert [info.chain_balance for info in restarted] == [Amount.from_tokens(1000)] * CHAINS
    for node in nodes:
        await node.aclose()


@pytest.mark.slow
def test_kill_9_mid_burst_on_sqlite(sqlite_network: ProcessNetwork) -> None:
    asyncio.run(_burst_with_a_crash(sqlite_network))


@pytest.mark.slow
def test_kill_9_mid_burst_on_postgresql(postgres_network: ProcessNetwork) -> None:
    asyncio.run(_burst_with_a_crash(postgres_network))
