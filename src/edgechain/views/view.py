"""The `View` base class every typed view derives from, and the helpers they share.

A view stages its changes in memory; `flush(batch)` moves them into a `Batch` (the caller
writes it), `rollback()` discards them. `hash()` is a BLAKE3 digest of the view's current
contents only — independent of the backend, of the key layout's history and of what was
staged versus saved — so that validators agree on state hashes.

Values a view returns are its cached objects: treat them as immutable (protocol values are
frozen dataclasses); to change one, ``set``/``insert`` a new value.

Subclasses implement the flush in two steps, `_stage_changes` (write the batch, change
nothing) and `_mark_saved` (the batch is durable: staged becomes saved), so that
`RootView.save` can keep the staged changes if the store refuses the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import blake3

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode
from edgechain.base.errors import EncodingError
from edgechain.views.context import ViewContext
from edgechain.views.errors import CorruptedViewData
from edgechain.views.store import Batch

# Key tags inside one view's prefix. They are CBOR unsigned integers 0..2, never the first
# byte of an encoded str or bytes, so they cannot collide with `ViewContext.child` names.
TAG_META = b"\x00"
TAG_ENTRY = b"\x01"
TAG_HASH = b"\x02"


class View(ABC):
    """A typed, lazily loaded view of the keys under one `ViewContext`."""

    __slots__ = ("context",)

    def __init__(self, context: ViewContext) -> None:
        self.context = context

    def flush(self, batch: Batch) -> None:
        """Move the staged changes into ``batch``; the caller must write it before reading on.

        After this the view considers them saved: ``has_pending_changes()`` is False.
        """
        self._stage_changes(batch)
        self._mark_saved()

    @abstractmethod
    def _stage_changes(self, batch: Batch) -> None:
        """Append the staged changes to ``batch`` without changing the view."""

    @abstractmethod
    def _mark_saved(self) -> None:
        """The staged changes are now in the store: treat them as saved contents."""

    @abstractmethod
    def rollback(self) -> None:
        """Discard the staged changes: the view shows the saved contents again."""

    @abstractmethod
    def has_pending_changes(self) -> bool:
        """Whether anything is staged and not yet flushed."""

    @abstractmethod
    def clear(self) -> None:
        """Stage the removal of every entry (the view becomes empty / back to its default)."""

    @abstractmethod
    def hash(self) -> CryptoHash:
        """A deterministic hash of the current contents, staged changes included."""


class ContentHasher:
    """Streams length-prefixed byte strings into BLAKE3 under a view-kind tag."""

    __slots__ = ("_hasher",)

    def __init__(self, tag: str, hasher: Any = None) -> None:
        if hasher is None:
            hasher = blake3.blake3(b"edgechain.views." + tag.encode("ascii") + b"::")
        self._hasher = hasher

    def update(self, data: bytes) -> None:
        self._hasher.update(len(data).to_bytes(8, "big"))
        self._hasher.update(data)

    def copy(self) -> ContentHasher:
        return ContentHasher("", self._hasher.copy())

    def finish(self, count: int) -> CryptoHash:
        """The digest, closed by the number of items (so an empty view still hashes its kind)."""
        final = self._hasher.copy()
        final.update(b"#" + count.to_bytes(8, "big"))
        return CryptoHash(final.digest())


def decode_stored(raw: bytes, value_type: Any, key: bytes) -> Any:
    """Decode stored bytes, turning a bad encoding into `CorruptedViewData` naming the key."""
    try:
        return decode(raw, value_type)
    except EncodingError as exc:
        raise CorruptedViewData(
            key, getattr(value_type, "__name__", repr(value_type)), str(exc)
        ) from exc


def decode_stored_int(raw: bytes, key: bytes) -> int:
    """Decode a stored non-negative counter."""
    value = decode_stored(raw, int, key)
    if not isinstance(value, int) or value < 0:
        raise CorruptedViewData(key, "counter", f"{value!r} is negative")
    return value
