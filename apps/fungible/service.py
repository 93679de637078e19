"""The fungible token's service: GraphQL queries over balances, mutations that schedule transfers.

Amounts are token amounts as text (``"1.5"`` is 1.5 tokens; answers look like ``"1.5"`` or
``"7."``); owners are 64 hex digits; accounts are ``{chainId, owner}``.
"""

from __future__ import annotations

import strawberry

from edgechain.sdk import Account, AccountOwner, Amount, ChainId, Service

from .abi import Claim, FungibleTokenAbi, Transfer
from .state import FungibleTokenState


@strawberry.type
class AccountBalance:
    """One owner's balance on this chain."""

    owner: str
    """The owner, 64 hex digits."""
    balance: str
    """Its balance in tokens, e.g. ``"2.5"``."""


@strawberry.input
class AccountInput:
    """An account: a chain and an owner on it."""

    chain_id: str
    """The chain, 64 hex digits."""
    owner: str
    """The owner, 64 hex digits."""


@strawberry.type
class Query:
    """Read the token's balances and ticker."""

    @strawberry.field
    def accounts(self, info: strawberry.Info) -> list[AccountBalance]:
        """Every owner with a balance on this chain, in owner order."""
        service: FungibleTokenService = info.context
        return [
            AccountBalance(owner=str(owner), balance=str(amount))
            for owner, amount in sorted(service.state.accounts.items())
        ]

    @strawberry.field
    def balance(self, info: strawberry.Info, owner: str) -> str:
        """``owner``'s balance on this chain (``"0."`` when it has none)."""
        service: FungibleTokenService = info.context
        amount = service.state.accounts.get(AccountOwner.from_hex(owner), Amount.zero())
        return str(amount)

    @strawberry.field
    def ticker_symbol(self, info: strawberry.Info) -> str:
        """The token's ticker symbol (the application's parameters)."""
        service: FungibleTokenService = info.context
        ticker: str = service.runtime.application_parameters()
        return ticker


@strawberry.type
class Mutation:
    """Schedule transfers and claims; they run when the next block is proposed."""

    @strawberry.mutation
    def transfer(
        self, info: strawberry.Info, owner: str, amount: str, target_account: AccountInput
    ) -> bool:
        """Schedule ``Transfer(owner, amount, targetAccount)``."""
        service: FungibleTokenService = info.context
        operation = Transfer(
            AccountOwner.from_hex(owner), Amount.from_tokens(amount), parse_account(target_account)
        )
        service.runtime.schedule_operation(operation)
        return True

    @strawberry.mutation
    def claim(
        self,
        info: strawberry.Info,
        source_account: AccountInput,
        amount: str,
        target_account: AccountInput,
    ) -> bool:
        """Schedule ``Claim(sourceAccount, amount, targetAccount)``."""
        service: FungibleTokenService = info.context
        operation = Claim(
            parse_account(source_account),
            Amount.from_tokens(amount),
            parse_account(target_account),
        )
        service.runtime.schedule_operation(operation)
        return True


def parse_account(account: AccountInput) -> Account:
    """The `Account` a GraphQL ``AccountInput`` names."""
    return Account(ChainId.from_hex(account.chain_id), AccountOwner.from_hex(account.owner))


class FungibleTokenService(Service):
    """Answers GraphQL over the token's balances."""

    abi = FungibleTokenAbi
    State = FungibleTokenState
    Query = Query
    Mutation = Mutation
