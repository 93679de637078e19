"""The transfer demo: a 4-validator in-process network on SQLite, tokens moving across chains.

``run_transfer_demo(directory)`` builds the network in ``directory`` (genesis: an admin
chain and three user chains of 100 tokens), then certifies real blocks: transfers from
one chain to others, the recipients taking the credits from their inboxes, a child chain
opened and used. Each certified block is printed with its chain, height, hash, signers
and the balances every honest validator then reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount
from edgechain.chain.certificate import Certificate
from edgechain.core.errors import NodeError
from edgechain.core.network import LocalNetwork, derive_key_pair
from edgechain.execution.errors import InsufficientFunding
from edgechain.execution.ownership import ChainOwnership

NAMES = ("alice", "bob", "carol")


def run_transfer_demo(directory: Path | str, out: Callable[[str], None] = print) -> LocalNetwork:
    """Run the demo in ``directory`` and return the (closed) network for inspection."""
    network = LocalNetwork.create(validator_count=4, user_chain_count=3, directory=directory)
    try:
        asyncio.run(_run(network, out))
    finally:
        network.close()
    return network


async def _run(network: LocalNetwork, out: Callable[[str], None]) -> None:
    names = {chain_id: name for chain_id, name in zip(network.user_chain_ids, NAMES, strict=True)}
    out(f"network: {len(network.nodes)} validators on SQLite, quorum weight"
        f" {network.committee.quorum_threshold} of {network.committee.total_weight}")
    out(f"admin chain {network.admin_id.hash.hex()[:16]}")
    for chain_id, name in names.items():
        out(f"{name:>6}'s chain {chain_id.hash.hex()[:16]}")
    alice, bob, carol = (network.client(index) for index in range(3))
    for client in (alice, bob, carol):
        await client.synchronize()  # the directory may hold an earlier run's chains

    async def balances(extra: dict[ChainId, str] | None = None) -> None:
        labels = {**names, **(extra or {})}
        parts = []
        for chain_id, name in labels.items():
            client = network.client_for(chain_id, None)
            parts.append(f"{name} {await client.query_balance()}")
        out("  balances after: " + ", ".join(parts))

    out("at start:")
    await balances()

    def describe(step: str, certificate: Certificate) -> None:
        block = certificate.executed_block.block
        signers = ", ".join(
            f"v{_validator_index(network, public_key)}" for public_key, _ in certificate.signatures
        )
        name = names.get(block.chain_id, block.chain_id.hash.hex()[:8])
        out(f"\n[{step}]")
        out(f"  certified block: chain {name} height {block.height}  hash {certificate.hash().hex()[:16]}")
        out(f"  signed by {signers}  ({len(block.incoming_bundles)} incoming bundle(s),"
            f" {len(block.operations)} operation(s))")


    describe("alice sends 10 to bob", await alice.transfer_to_chain(Amount.from_tokens(10), bob.chain_id))
    await balances()
    describe("alice sends 5 to carol", await alice.transfer_to_chain(Amount.from_tokens(5), carol.chain_id))
    await balances()
    pending = await bob.pending_bundles()
    out(f"\nbob's inbox holds {len(pending)} bundle(s), each checked against alice's certificate")
    certificate = await bob.process_inbox()
    if certificate is not None:
        describe("bob takes the credit into his next block", certificate)
        await balances()
    certificate = await carol.process_inbox()
    if certificate is not None:
        describe("carol takes her credit", certificate)
        await balances()
    describe("bob sends 12.5 to carol", await bob.transfer_to_chain(Amount.from_tokens("12.5"), carol.chain_id))
    await balances()
    certificate = await carol.process_inbox()
    if certificate is not None:
        describe("carol takes it", certificate)
        await balances()

    child_key = derive_key_pair(0, "demo-child", alice.next_block_height.value)
    ownership = ChainOwnership.single(AccountOwner.from_public_key(child_key.public_key))
    child_id, certificate = await alice.open_chain(ownership, Amount.from_tokens(20))
    describe("alice opens a child chain with 20 tokens", certificate)
    child = network.client_for(child_id, child_key)
    child_name = {child_id: "child"}
    opened = await child.process_inbox()
    if opened is not None:
        describe("the child chain's first block accepts its OpenChain message", opened)
    describe("the child chain pays carol 3", await child.transfer_to_chain(Amount.from_tokens(3), carol.chain_id))
    await balances(child_name)

    out("\n[carol tries to overspend: 1000 tokens]")
    try:
        await carol.transfer_to_chain(Amount.from_tokens(1000), alice.chain_id)
        out("  unexpectedly certified")
    except (InsufficientFunding, NodeError) as refusal:
        out(f"  refused by the validators: {type(refusal).__name__}: {refusal}")

    chain_ids = [*network.user_chain_ids, child_id]
    disagreeing = [
        chain_id
        for chain_id in chain_ids
        if len({storage.load_chain(chain_id).state_hash() for storage in network.storages}) != 1
    ]
    if disagreeing:
        out(f"\nvalidators DISAGREE on {len(disagreeing)} of {len(chain_ids)} chains")
    else:
        out(f"\nall {len(network.storages)} validators agree on the state hash of each of"
            f" the {len(chain_ids)} chains")


def _validator_index(network: LocalNetwork, public_key: object) -> int:
    for index, key_pair in enumerate(network.validator_keys):
        if key_pair.public_key == public_key:
            return index
    return -1

