"""`ChainTipState`: a chain's latest confirmed block (its hash) and its next height."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import CryptoHash
from edgechain.base.values import BlockHeight


@dataclass(frozen=True, slots=True)
class ChainTipState:
    """Where the chain stands: its latest confirmed block."""

    block_hash: CryptoHash | None
    """Hash of the latest confirmed block (None before the first block)."""
    next_block_height: BlockHeight
    """The height of the next block."""


GENESIS_TIP = ChainTipState(block_hash=None, next_block_height=BlockHeight(0))
"""The tip of a chain without blocks."""
