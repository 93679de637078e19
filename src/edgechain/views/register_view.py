"""`RegisterView`: one typed value with a default (stored only when it differs from the default)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.views.context import ViewContext
from edgechain.views.store import Batch
from edgechain.views.view import TAG_META, ContentHasher, View, decode_stored

T = TypeVar("T")


class RegisterView(View, Generic[T]):
    """A single value of ``value_type``; reads ``default`` until something is set."""

    __slots__ = ("_default", "_default_encoded", "_key", "_saved", "_staged", "_value_type")

    def __init__(self, context: ViewContext, value_type: Any, default: T) -> None:
        super().__init__(context)
        self._value_type = value_type
        self._default = default
        self._default_encoded = encode(default, value_type)
        self._key = context.base_key + TAG_META
        self._saved: tuple[T, bytes] | None = None
        self._staged: tuple[T, bytes] | None = None

    def _load_saved(self) -> tuple[T, bytes]:
        if self._saved is None:
            raw = self.context.store.read_value(self._key)
            if raw is None:
                self._saved = (self._default, self._default_encoded)
            else:
                self._saved = (decode_stored(raw, self._value_type, self._key), raw)
        return self._saved

    def _current(self) -> tuple[T, bytes]:
        return self._staged if self._staged is not None else self._load_saved()

    def get(self) -> T:
        """The current value (staged if any, else saved, else the default)."""
        return self._current()[0]

    def set(self, value: T) -> None:
        self._staged = (value, encode(value, self._value_type))

    def clear(self) -> None:
        self._staged = (self._default, self._default_encoded)

    def _stage_changes(self, batch: Batch) -> None:
        if self._staged is None:
            return
        encoded = self._staged[1]
        if encoded == self._default_encoded:
            batch.delete(self._key)
        else:
            batch.put(self._key, encoded)

    def _mark_saved(self) -> None:
        if self._staged is not None:
            self._saved = self._staged
            self._staged = None

    def rollback(self) -> None:
        self._staged = None

    def has_pending_changes(self) -> bool:
        return self._staged is not None

    def hash(self) -> CryptoHash:
        hasher = ContentHasher("RegisterView")
        hasher.update(self._current()[1])
        return hasher.finish(1)

    def __repr__(self) -> str:
        return f"RegisterView({self.get()!r})"
