"""`ViewContext`: where a view lives — a store and a key prefix that no sibling shares.

A child's prefix is the parent's prefix followed by the canonical CBOR encoding of the
child's name. CBOR items are self-delimiting, so no child's prefix is a prefix of a
sibling's, and a ``str`` name never collides with a ``bytes`` name of the same letters.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.encoding import encode
from edgechain.views.errors import ViewError
from edgechain.views.store import KeyValueStore


@dataclass(frozen=True, slots=True)
class ViewContext:
    """A store and the base key under which one view keeps all of its keys."""

    store: KeyValueStore
    """The key-value store the view reads from (writes go through batches)."""
    base_key: bytes = b""
    """Every key of the view starts with these bytes."""

    def child(self, name: str | bytes) -> ViewContext:
        """The context of the child view called ``name``, disjoint from every other child's."""
        if not isinstance(name, (str, bytes)):
            raise ViewError(f"a child view name is str or bytes, got {type(name).__name__}")
        return ViewContext(self.store, self.base_key + encode(name))

    def sub_key(self, suffix: bytes) -> ViewContext:
        """A context whose base key is this one's followed by raw ``suffix`` (for views' own layouts)."""
        return ViewContext(self.store, self.base_key + suffix)
