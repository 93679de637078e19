"""`CompositeView` (a view made of named child views) and `RootView` (one that saves itself).

Declare children in ``__init__`` with the helpers::

    class AccountView(CompositeView):
        def __init__(self, context: ViewContext) -> None:
            super().__init__(context)
            self.balance = self.register("balance", Amount, Amount.zero())
            self.inbox = self.queue("inbox", Message)
            self.peers = self.collection("peers", ChainId, PeerView)

Each child lives under ``context.child(name)``. The hash combines (name, child hash) in
declaration order; flush, rollback and clear recurse into the children.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from edgechain.base.crypto import CryptoHash
from edgechain.views.collection_view import CollectionView
from edgechain.views.context import ViewContext
from edgechain.views.errors import ViewDeclarationError
from edgechain.views.log_view import LogView
from edgechain.views.map_view import MapView, SetView
from edgechain.views.queue_view import QueueView
from edgechain.views.register_view import RegisterView
from edgechain.views.store import Batch
from edgechain.views.view import ContentHasher, View

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W", bound=View)


class CompositeView(View):
    """A view whose contents are the named child views it declares."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self._children: dict[str, View] = {}

    def subview(self, name: str, factory: Callable[[ViewContext], W]) -> W:
        """Declare a child built by ``factory`` (e.g. another CompositeView class)."""
        if not isinstance(name, str) or not name:
            raise ViewDeclarationError(f"a child view name is a non-empty str, got {name!r}")
        if name in self._children:
            raise ViewDeclarationError(
                f"{type(self).__name__} declares the child view {name!r} twice"
            )
        view = factory(self.context.child(name))
        self._children[name] = view
        return view

    # Each helper is overloaded so that a class argument types the view (``self.log("x",
    # Block)`` is a ``LogView[Block]``); a union or generic alias gives ``Any`` parameters,
    # so annotate the attribute then (``self.ops: LogView[Operation] = self.log(...)``).

    def register(self, name: str, value_type: Any, default: T) -> RegisterView[T]:
        return self.subview(name, lambda context: RegisterView(context, value_type, default))

    @overload
    def map(self, name: str, key_type: type[K], value_type: type[V]) -> MapView[K, V]: ...
    @overload
    def map(self, name: str, key_type: Any, value_type: Any) -> MapView[Any, Any]: ...
    def map(self, name: str, key_type: Any, value_type: Any) -> MapView[Any, Any]:
        return self.subview(name, lambda context: MapView(context, key_type, value_type))

    @overload
    def set(self, name: str, key_type: type[K]) -> SetView[K]: ...
    @overload
    def set(self, name: str, key_type: Any) -> SetView[Any]: ...
    def set(self, name: str, key_type: Any) -> SetView[Any]:
        return self.subview(name, lambda context: SetView(context, key_type))

    @overload
    def log(self, name: str, value_type: type[T]) -> LogView[T]: ...
    @overload
    def log(self, name: str, value_type: Any) -> LogView[Any]: ...
    def log(self, name: str, value_type: Any) -> LogView[Any]:
        return self.subview(name, lambda context: LogView(context, value_type))

    @overload
    def queue(self, name: str, value_type: type[T]) -> QueueView[T]: ...
    @overload
    def queue(self, name: str, value_type: Any) -> QueueView[Any]: ...
    def queue(self, name: str, value_type: Any) -> QueueView[Any]:
        return self.subview(name, lambda context: QueueView(context, value_type))

    @overload
    def collection(
        self, name: str, key_type: type[K], factory: Callable[[ViewContext], W]
    ) -> CollectionView[K, W]: ...
    @overload
    def collection(
        self, name: str, key_type: Any, factory: Callable[[ViewContext], W]
    ) -> CollectionView[Any, W]: ...
    def collection(
        self, name: str, key_type: Any, factory: Callable[[ViewContext], W]
    ) -> CollectionView[Any, W]:
        return self.subview(name, lambda context: CollectionView(context, key_type, factory))

    @property
    def children(self) -> dict[str, View]:
        """The declared children by name, in declaration order."""
        return dict(self._children)

    def _stage_changes(self, batch: Batch) -> None:
        for view in self._children.values():
            view._stage_changes(batch)

    def _mark_saved(self) -> None:
        for view in self._children.values():
            view._mark_saved()

    def rollback(self) -> None:
        for view in self._children.values():
            view.rollback()

    def has_pending_changes(self) -> bool:
        return any(view.has_pending_changes() for view in self._children.values())

    def clear(self) -> None:
        for view in self._children.values():
            view.clear()

    def hash(self) -> CryptoHash:
        hasher = ContentHasher("CompositeView")
        for name, view in self._children.items():
            hasher.update(name.encode("utf-8"))
            hasher.update(view.hash().digest)
        return hasher.finish(len(self._children))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._children)})"


class RootView(CompositeView):
    """A composite view at the top of a store's key space that writes itself atomically."""

    def save(self) -> None:
        """Write every staged change in ONE batch; on a store error nothing is lost or marked saved."""
        batch = Batch()
        self._stage_changes(batch)
        if not batch.is_empty():
            self.context.store.write_batch(batch)
        self._mark_saved()
