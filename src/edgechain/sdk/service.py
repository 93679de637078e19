"""`Service`: the off-chain half of an application (full Python on the user's machine, read-only).

    service = MyService.new(runtime)       # state loaded read-only at the chain's latest block
    service.handle_query(request)          # GraphQL by default: the class's Query / Mutation

A service may import anything (the ML stack included), read blobs and fetch allowed URLs
through its runtime; it cannot write state: a mutation calls
``self.runtime.schedule_operation(operation)`` and the operation runs in the next block.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import strawberry

from edgechain.execution.runtime import ServiceRuntime
from edgechain.sdk.abi import Abi
from edgechain.sdk.graphql import build_schema, run_graphql
from edgechain.sdk.views import RootView

S = TypeVar("S", bound="Service")

_schemas: dict[type, strawberry.Schema] = {}


class Service:
    """Base class of an application's service; subclass it in ``service.py`` (exactly one)."""

    abi: ClassVar[type[Abi]] = Abi
    """The application's ABI."""
    State: ClassVar[type[RootView] | None] = None
    """The application's state class; loaded read-only as ``self.state``."""
    Query: ClassVar[type | None] = None
    """A ``@strawberry.type`` class: the GraphQL queries (resolvers see the service as ``self``)."""
    Mutation: ClassVar[type | None] = None
    """An optional ``@strawberry.type`` class whose resolvers schedule operations."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        """What the service may ask of the node."""
        if self.State is not None:
            self.state = self.State.load(runtime)

    @classmethod
    def new(cls: type[S], runtime: ServiceRuntime) -> S:
        """A service instance over the chain's latest state (Linera's ``Service::new``)."""
        return cls(runtime)

    def handle_query(self, request: Any) -> Any:
        """Answer a query: GraphQL against ``Query``/``Mutation`` unless overridden."""
        schema = self.schema()
        return run_graphql(schema, request, self)

    @classmethod
    def schema(cls) -> strawberry.Schema:
        """The GraphQL schema of this service (built once per class)."""
        schema = _schemas.get(cls)
        if schema is None:
            if cls.Query is None:
                raise NotImplementedError(f"{cls.__name__} defines no Query and no handle_query")
            schema = _schemas[cls] = build_schema(cls.Query, cls.Mutation)
        return schema
