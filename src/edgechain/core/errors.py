"""Errors of the core layer: validator workers, nodes and the chain client."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class NodeError(EdgechainError):
    """A validator refused a request, or a client could not get a quorum."""
