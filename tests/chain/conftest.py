"""Fixtures for the chain tests (helpers live in ledger_helpers.py)."""

from __future__ import annotations

import pytest
from ledger_helpers import Ledger, make_ledger


@pytest.fixture
def ledger() -> Ledger:
    """An admin chain and three user chains with 1000 atto each, single owners, no fees."""
    return make_ledger([1000, 1000, 1000])
