"""Errors of the views layer: key-value stores and the typed views over them."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class ViewError(EdgechainError):
    """A view or key-value store failed: bad stored bytes, a closed store, a backend error."""
