"""Fixtures for the core tests: an in-memory 4-validator network (helpers are in core_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgechain.core.network import LocalNetwork


@pytest.fixture
def network() -> Iterator[LocalNetwork]:
    """4 validators in memory, an admin chain and 3 user chains with 100 tokens each."""
    local_network = LocalNetwork.create(validator_count=4, user_chain_count=3)
    yield local_network
    local_network.close()
