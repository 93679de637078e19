"""The picky token's service: the chain's balance."""

from __future__ import annotations

import strawberry

from edgechain.sdk import Service

from .abi import PickyTokenAbi
from .state import PickyTokenState


@strawberry.type
class Query:
    """Read the balance."""

    @strawberry.field
    def balance(self, info: strawberry.Info) -> int:
        """This chain's balance."""
        service: PickyTokenService = info.context
        return service.state.balance.get()


class PickyTokenService(Service):
    """Answers GraphQL over the balance."""

    abi = PickyTokenAbi
    State = PickyTokenState
    Query = Query
