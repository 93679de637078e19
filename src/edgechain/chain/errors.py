"""Errors of the chain layer: blocks, proposals, votes, certificates, inboxes."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class ChainError(EdgechainError):
    """A block, proposal, vote or certificate that the chain's rules reject."""
