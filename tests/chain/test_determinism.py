"""The same blocks executed in two processes with different PYTHONHASHSEED give the same hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
from ledger_helpers import chain, key_pair, make_ledger, owner_of
from edgechain.base import Account, Amount, ChainId, Epoch
from edgechain.chain import ConfirmedBlock, MessageAction
from edgechain.execution import (
    ChainOwnership, Committee, CreateCommittee, OpenChain, ResourceControlPolicy, Transfer,
)

ledger = make_ledger([10**18, 10**18, 10**18], policy=ResourceControlPolicy.testnet(),
                     admin_balance=10**18)
a, b, c = chain(1), chain(2), chain(3)
alice, bob = owner_of(key_pair(1)), owner_of(key_pair(2))
ledger.run(ledger.make_block(a, [Transfer(None, Account(a, alice), Amount(500)),
                                 Transfer(alice, Account(b, bob), Amount(200)),
                                 Transfer(None, Account(c), Amount(300))]))
ledger.run(ledger.make_block(b, incoming=ledger.pending(b, MessageAction.REJECT)))
ledger.receive_all(a)
ledger.receive_all(c)
child_pair = key_pair(60)
opening = ledger.make_block(a, [OpenChain(ChainOwnership.single(owner_of(child_pair)), Amount(10**17))])
child = ChainId.child(a, opening.height, 0)
ledger.add_chain(child, child_pair)
ledger.run(opening)
ledger.receive_all(ledger.admin_id)
ledger.receive_all(child)
committee = Committee.of_equal_weights([key_pair(3000 + i).public_key for i in range(5)])
ledger.run(ledger.make_block(ledger.admin_id, [CreateCommittee(Epoch(1), committee)]))
for chain_id in (a, b, c, child):
    ledger.receive_all(chain_id)
ledger.transfer(child, b, Amount(7))
ledger.receive_all(b)
for executed in ledger.blocks:
    print("block", ConfirmedBlock(executed).hash())
for chain_id in sorted(ledger.chains):
    print("state", chain_id, ledger.chains[chain_id].execution_state.hash(), ledger.chains[chain_id].hash())
"""


def run_with_hash_seed(seed: str) -> str:
    environment = dict(os.environ)
    environment["PYTHONHASHSEED"] = seed
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), environment.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_state_hashes_do_not_depend_on_the_hash_seed() -> None:
    first = run_with_hash_seed("0")
    second = run_with_hash_seed("4242")
    assert first.count("block ") >= 10
    assert first.count("state ") == 5
    assert first == second
