"""Application state as views: declare fields on a `RootView` subclass; read and write through them.

    class CounterState(RootView):
        value = RegisterView(int, default=0)
        owners = MapView(AccountOwner, Amount)
        history = LogView(int)

    state = CounterState.load(runtime)     # contract: metered and writable; service: read-only
    state.value.set(state.value.get() + 1)

Each field lives under its own key prefix (the canonical encoding of its name) inside the
application's own key-value space in the chain state, so it is hashed into the chain's
state hash, rolled back with a failed block and never visible to other applications.
Values are stored in the canonical encoding of their declared type. In a contract every
access is charged (fuel and the block's byte counters) before it happens; in a service a
write raises ``ServiceWriteAttempt``. Values come back as fresh copies: changing a list you
got from ``get`` changes nothing until you ``set`` it.

Known limit: ``MapView.keys/items/count`` and ``SetView.elements/count`` scan the
application's whole key space (fine for thousands of entries, not for millions).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from edgechain.base.encoding import decode, encode
from edgechain.execution.storage_access import ApplicationStorage, application_storage_of

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R", bound="RootView")

_LOG_COUNT = b"\x00"
_LOG_ENTRY = b"\x01"


class _Field:
    """A field declaration on a `RootView` subclass (a descriptor returning a bound handle)."""

    def __init__(self) -> None:
        self._name = ""
        self._prefix = b""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._prefix = encode(name, str)

    def _bind(self, storage: ApplicationStorage) -> Any:
        raise NotImplementedError

    def __get__(self, instance: RootView | None, owner: type) -> Any:
        if instance is None:
            return self
        handles = instance._handles
        handle = handles.get(self._name)
        if handle is None:
            handle = handles[self._name] = self._bind(instance._storage)
        return handle

    def __set__(self, instance: RootView, value: object) -> None:
        raise AttributeError(
            f"state field '{self._name}' cannot be replaced; use its methods (e.g. .set(value))"
        )


class RegisterView(_Field, Generic[V]):
    """One value, with a default until it is first set: ``get()``, ``set(value)``."""

    def __init__(self, value_type: Any, default: V) -> None:
        super().__init__()
        self._value_type = value_type
        self._default = default

    def _bind(self, storage: ApplicationStorage) -> RegisterHandle[V]:
        return RegisterHandle(storage, self._prefix, self._value_type, self._default)


class RegisterHandle(Generic[V]):
    """A `RegisterView` field of one loaded state."""

    __slots__ = ("_default", "_key", "_storage", "_type")

    def __init__(
        self, storage: ApplicationStorage, key: bytes, value_type: Any, default: V
    ) -> None:
        self._storage = storage
        self._key = key
        self._type = value_type
        self._default = default

    def get(self) -> V:
        """The current value (the default if never set)."""
        raw = self._storage.read(self._key)
        if raw is None:
            return self._default
        return decode(raw, self._type)  # type: ignore[no-any-return]

    def set(self, value: V) -> None:
        """Replace the value."""
        self._storage.write(self._key, encode(value, self._type))


class MapView(_Field, Generic[K, V]):
    """A map: ``get(k)``, ``insert(k, v)``, ``remove(k)``, ``contains(k)``, ``keys()``, ``items()``, ``count()``."""

    def __init__(self, key_type: Any, value_type: Any) -> None:
        super().__init__()
        self._key_type = key_type
        self._value_type = value_type

    def _bind(self, storage: ApplicationStorage) -> MapHandle[K, V]:
        return MapHandle(storage, self._prefix, self._key_type, self._value_type)


class MapHandle(Generic[K, V]):
    """A `MapView` field of one loaded state."""

    __slots__ = ("_key_type", "_prefix", "_storage", "_value_type")

    def __init__(
        self, storage: ApplicationStorage, prefix: bytes, key_type: Any, value_type: Any
    ) -> None:
        self._storage = storage
        self._prefix = prefix
        self._key_type = key_type
        self._value_type = value_type

    def _key(self, key: K) -> bytes:
        return self._prefix + encode(key, self._key_type)

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value at ``key``, or ``default``."""
        raw = self._storage.read(self._key(key))
        if raw is None:
            return default
        return decode(raw, self._value_type)  # type: ignore[no-any-return]

    def insert(self, key: K, value: V) -> None:
        """Set the value at ``key``."""
        self._storage.write(self._key(key), encode(value, self._value_type))

    def __setitem__(self, key: K, value: V) -> None:
        self.insert(key, value)

    def remove(self, key: K) -> None:
        """Remove ``key`` (nothing happens if it is absent)."""
        self._storage.delete(self._key(key))

    def contains(self, key: K) -> bool:
        """Whether ``key`` has a value."""
        return self._storage.read(self._key(key)) is not None

    def keys(self) -> list[K]:
        """Every key, in the order of their encodings."""
        start = len(self._prefix)
        return [
            decode(raw[start:], self._key_type)
            for raw in self._storage.keys_with_prefix(self._prefix)
        ]

    def items(self) -> list[tuple[K, V]]:
        """Every (key, value), in the order of the keys' encodings."""
        start = len(self._prefix)
        pairs: list[tuple[K, V]] = []
        for raw_key in self._storage.keys_with_prefix(self._prefix):
            raw_value = self._storage.read(raw_key)
            if raw_value is not None:
                pairs.append(
                    (decode(raw_key[start:], self._key_type), decode(raw_value, self._value_type))
                )
        return pairs

    def count(self) -> int:
        """How many keys have a value."""
        return len(self._storage.keys_with_prefix(self._prefix))


class SetView(_Field, Generic[K]):
    """A set: ``insert(k)``, ``remove(k)``, ``contains(k)``, ``elements()`` (sorted by encoding), ``count()``."""

    def __init__(self, key_type: Any) -> None:
        super().__init__()
        self._key_type = key_type

    def _bind(self, storage: ApplicationStorage) -> SetHandle[K]:
        return SetHandle(storage, self._prefix, self._key_type)


class SetHandle(Generic[K]):
    """A `SetView` field of one loaded state."""

    __slots__ = ("_key_type", "_prefix", "_storage")

    def __init__(self, storage: ApplicationStorage, prefix: bytes, key_type: Any) -> None:
        self._storage = storage
        self._prefix = prefix
        self._key_type = key_type

    def insert(self, key: K) -> None:
        """Add ``key``."""
        self._storage.write(self._prefix + encode(key, self._key_type), b"")

    def remove(self, key: K) -> None:
        """Remove ``key`` (nothing happens if it is absent)."""
        self._storage.delete(self._prefix + encode(key, self._key_type))

    def contains(self, key: K) -> bool:
        """Whether ``key`` is in the set."""
        return self._storage.read(self._prefix + encode(key, self._key_type)) is not None

    def elements(self) -> list[K]:
        """Every element, in the order of their encodings."""
        start = len(self._prefix)
        return [
            decode(raw[start:], self._key_type)
            for raw in self._storage.keys_with_prefix(self._prefix)
        ]

    def count(self) -> int:
        """How many elements."""
        return len(self._storage.keys_with_prefix(self._prefix))


class LogView(_Field, Generic[V]):
    """An append-only list: ``push(v)``, ``get(i)``, ``count()``, ``read(start, end)``."""

    def __init__(self, value_type: Any) -> None:
        super().__init__()
        self._value_type = value_type

    def _bind(self, storage: ApplicationStorage) -> LogHandle[V]:
        return LogHandle(storage, self._prefix, self._value_type)


class LogHandle(Generic[V]):
    """A `LogView` field of one loaded state."""

    __slots__ = ("_prefix", "_storage", "_value_type")

    def __init__(self, storage: ApplicationStorage, prefix: bytes, value_type: Any) -> None:
        self._storage = storage
        self._prefix = prefix
        self._value_type = value_type

    def count(self) -> int:
        """How many entries."""
        raw = self._storage.read(self._prefix + _LOG_COUNT)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def push(self, value: V) -> None:
        """Append ``value``."""
        index = self.count()
        self._storage.write(
            self._prefix + _LOG_ENTRY + index.to_bytes(8, "big"), encode(value, self._value_type)
        )
        self._storage.write(self._prefix + _LOG_COUNT, (index + 1).to_bytes(8, "big"))

    def get(self, index: int) -> V | None:
        """The entry at ``index`` (None outside 0..count-1)."""
        if not 0 <= index < self.count():
            return None
        raw = self._storage.read(self._prefix + _LOG_ENTRY + index.to_bytes(8, "big"))
        return None if raw is None else decode(raw, self._value_type)

    def read(self, start: int, end: int) -> list[V]:
        """The entries ``start`` (included) to ``end`` (excluded), clipped to the log."""
        stop = min(end, self.count())
        values: list[V] = []
        for index in range(max(0, start), stop):
            raw = self._storage.read(self._prefix + _LOG_ENTRY + index.to_bytes(8, "big"))
            if raw is not None:
                values.append(decode(raw, self._value_type))
        return values


class RootView:
    """An application's state: subclass it and declare view fields as class attributes."""

    def __init__(self, storage: ApplicationStorage) -> None:
        self._storage = storage
        self._handles: dict[str, Any] = {}

    @classmethod
    def load(cls: type[R], runtime: object) -> R:
        """The state of the application ``runtime`` runs (a contract or a service runtime)."""
        return cls(application_storage_of(runtime))


__all__ = [
    "LogHandle",
    "LogView",
    "MapHandle",
    "MapView",
    "RegisterHandle",
    "RegisterView",
    "RootView",
    "SetHandle",
    "SetView",
]
