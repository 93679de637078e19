"""LocalNetwork on SQLite: close and reopen gives the same state hashes, and the chains continue;
and determinism across processes with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core_helpers import chain_state, run, tokens

from edgechain.base.values import BlockHeight
from edgechain.core.network import LocalNetwork


def all_state_hashes(network: LocalNetwork) -> list[list[str]]:
    chain_ids = [network.admin_id, *network.user_chain_ids]
    return [
        [storage.load_chain(chain_id).state_hash().hex() for chain_id in chain_ids]
        for storage in network.storages
    ]


def test_validators_on_sqlite_reopen_with_the_same_state_and_continue(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2, directory=tmp_path)
    alice, bob = network.client(0), network.client(1)

    async def first_session() -> None:
        await alice.transfer_to_chain(tokens(10), network.user_chain_ids[1])
        await alice.publish_data_blob(b"weights of a very small model")
        await bob.process_inbox()

    run(first_session())
    hashes_before = all_state_hashes(network)
    assert all(row == hashes_before[0] for row in hashes_before)
    network.close()

    reopened = LocalNetwork.create(validator_count=4, user_chain_count=2, directory=tmp_path)
    assert all_state_hashes(reopened) == hashes_before
    assert chain_state(reopened, 2, 0).next_block_height() == BlockHeight(2)
    alice_again, bob_again = reopened.client(0), reopened.client(1)

    async def second_session() -> None:
        await alice_again.synchronize()
        await bob_again.synchronize()
        assert alice_again.next_block_height == BlockHeight(2)
        await bob_again.transfer_to_chain(tokens(5), reopened.user_chain_ids[0])
        await alice_again.process_inbox()
        assert await alice_again.query_balance() == tokens(95)
        assert await bob_again.query_balance() == tokens(105)

    run(second_session())
    hashes_after = all_state_hashes(reopened)
    assert all(row == hashes_after[0] for row in hashes_after)
    assert hashes_after != hashes_before
    reopened.close()


_SCENARIO = """
import asyncio, json, sys
from edgechain.base.values import Amount, Timestamp
from edgechain.core.network import LocalNetwork

async def main():
    network = LocalNetwork.create(validator_count=4, user_chain_count=3)
    clients = [network.client(i) for i in range(3)]
    ticks = iter(range(1, 1000))
    for client in clients:
        client.clock = lambda: Timestamp(next(ticks) * 1_000_000)  # reproducible timestamps
    for step in range(6):
        sender, recipient = step % 3, (step + 1) % 3
        await clients[sender].transfer_to_chain(Amount.from_tokens(step + 1), network.user_chain_ids[recipient])
        await clients[recipient].process_inbox()
    print(json.dumps([[s.load_chain(c).state_hash().hex() for c in network.user_chain_ids]
                      for s in network.storages]))

asyncio.run(main())
"""


def test_same_blocks_give_the_same_state_hashes_under_different_hash_seeds() -> None:
    outputs = []
    for hash_seed in ("1", "4242"):
        environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
        completed = subprocess.run(
            [sys.executable, "-c", _SCENARIO],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=True,
        )
        outputs.append(json.loads(completed.stdout))
    assert outputs[0] == outputs[1]
    assert all(row == outputs[0][0] for row in outputs[0])
