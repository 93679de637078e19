"""Errors of the execution layer: system operations, policy limits, contracts, the sandbox."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class ExecutionError(EdgechainError):
    """An operation or message could not be executed; the block that carries it fails."""
