"""Helpers for the core tests: run coroutines, read a validator's chain state, build blocks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView
from edgechain.core.network import LocalNetwork
from edgechain.execution.operations import Operation

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a fresh event loop."""
    return asyncio.run(coroutine)


def chain_state(network: LocalNetwork, validator: int, user_index: int) -> ChainStateView:
    """User chain ``user_index`` as validator ``validator`` stores it."""
    return network.storages[validator].load_chain(network.user_chain_ids[user_index])


def state_summary(network: LocalNetwork, validator: int, user_index: int) -> tuple[object, ...]:
    """What must not change when a request is rejected: tip, state hash, balance, manager."""
    chain = chain_state(network, validator, user_index)
    return (
        chain.tip_state.get(),
        chain.state_hash(),
        chain.execution_state.system.balance.get(),
        chain.manager.pending_vote.get(),
        chain.confirmed_log.count(),
    )


def next_block(
    network: LocalNetwork,
    user_index: int,
    operations: list[Operation],
    previous: Certificate | None = None,
) -> Block:
    """The next block of user chain ``user_index`` after ``previous`` (or its first block)."""
    owner = network.client(user_index).owner
    chain_id = network.user_chain_ids[user_index]
    if previous is None:
        height, previous_hash = 0, None
    else:
        height = previous.executed_block.block.height.value + 1
        previous_hash = previous.hash()
    return Block(
        chain_id=chain_id,
        epoch=Epoch(0),
        height=BlockHeight(height),
        timestamp=Timestamp.now(),
        authenticated_signer=owner,
        previous_block_hash=previous_hash,
        incoming_bundles=[],
        operations=operations,
        published_blob_ids=[],
    )


def tokens(count: int | str) -> Amount:
    return Amount.from_tokens(count)
