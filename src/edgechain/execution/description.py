"""How a chain came to be: its description (root or child) and the configuration it starts with."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.identifiers import ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.execution.committee import Committee
from edgechain.execution.ownership import ChainOwnership


@dataclass(frozen=True, slots=True)
class RootChain:
    """A chain created at genesis."""

    index: int
    """Its position among the genesis chains (the admin chain is usually 0)."""

    def chain_id(self) -> ChainId:
        return ChainId.root(self.index)


@dataclass(frozen=True, slots=True)
class ChildChain:
    """A chain opened by an ``OpenChain`` operation of another chain."""

    parent: ChainId
    """The chain whose block opened it."""
    height: BlockHeight
    """The height of that block."""
    index: int
    """Which of that block's ``OpenChain`` operations it was (0, 1, ...)."""

    def chain_id(self) -> ChainId:
        return ChainId.child(self.parent, self.height, self.index)


ChainDescription = RootChain | ChildChain
"""Where a chain comes from; its id is the hash of this description."""


@dataclass(frozen=True, slots=True)
class InitialChainConfig:
    """What a new chain starts with (at genesis, or from its parent's ``OpenChain``)."""

    ownership: ChainOwnership
    """Who may propose its blocks."""
    epoch: Epoch
    """The current epoch."""
    admin_id: ChainId
    """The chain that holds the committees."""
    committees: dict[Epoch, Committee]
    """The committees the chain trusts, by epoch (must contain ``epoch``)."""
    balance: Amount
    """Its initial chain balance."""
    timestamp: Timestamp
    """Its creation time; its first block may not be earlier."""
