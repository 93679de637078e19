"""The counter's service: GraphQL ``value`` query and ``increment`` mutation."""

from __future__ import annotations

import strawberry

from edgechain.sdk import Service

from .abi import CounterAbi, Increment
from .state import CounterState


@strawberry.type
class Query:
    """Read the counter."""

    @strawberry.field
    def value(self, info: strawberry.Info) -> int:
        """The counter's current value."""
        service: CounterService = info.context
        return service.state.value.get()


@strawberry.type
class Mutation:
    """Ask for an increment in the next block."""

    @strawberry.mutation
    def increment(self, info: strawberry.Info, value: int) -> bool:
        """Schedule ``Increment(value)``; it runs when the next block is proposed."""
        service: CounterService = info.context
        service.runtime.schedule_operation(Increment(value))
        return True


class CounterService(Service):
    """Answers GraphQL over the counter's state."""

    abi = CounterAbi
    State = CounterState
    Query = Query
    Mutation = Mutation
