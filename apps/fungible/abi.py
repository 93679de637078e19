"""The fungible token's ABI: transfers and claims (operations), credits and withdrawals (messages).

Accounts are `Account(chain_id, owner)` with an owner: a fungible balance always belongs to
someone (an account without an owner is refused). Amounts are `Amount` (atto-units).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.sdk import Abi, Account, AccountOwner, Amount


@dataclass(frozen=True)
class InitialState:
    """The supply given out when the token is created: each owner's starting balance."""

    accounts: dict[AccountOwner, Amount]
    """Starting balance of each owner on the creator chain."""


@dataclass(frozen=True)
class Transfer:
    """Move ``amount`` from ``owner`` (who must sign) on this chain to ``target_account``."""

    owner: AccountOwner
    """The owner whose tokens move (the block's signer, or this application)."""
    amount: Amount
    """How much; positive."""
    target_account: Account
    """Where the tokens go: this chain (direct) or another (a tracked ``Credit`` message)."""


@dataclass(frozen=True)
class Claim:
    """Withdraw ``amount`` from ``source_account`` (owned by the signer, maybe on another chain)."""

    source_account: Account
    """The account to take from; its owner must sign this block."""
    amount: Amount
    """How much; positive."""
    target_account: Account
    """Where the tokens go."""


@dataclass(frozen=True)
class Balance:
    """Ask for ``owner``'s balance on this chain (for calling applications)."""

    owner: AccountOwner
    """The owner asked about."""


@dataclass(frozen=True)
class Credit:
    """Add ``amount`` to ``target`` on the receiving chain; back to ``source`` if it bounces."""

    target: AccountOwner
    """The owner credited on the receiving chain."""
    amount: Amount
    """How much."""
    source: AccountOwner
    """The owner debited on the sending chain (refunded if the receiver rejects the credit)."""


@dataclass(frozen=True)
class Withdraw:
    """On the chain holding ``owner``'s tokens: debit them and send them to ``target_account``."""

    owner: AccountOwner
    """The owner debited; the message must be authenticated by them."""
    amount: Amount
    """How much."""
    target_account: Account
    """Where the tokens go."""


class FungibleTokenAbi(Abi):
    """Operations: Transfer, Claim, Balance; messages: Credit, Withdraw; parameter: the ticker."""

    Operation = Transfer | Claim | Balance
    Response = Amount | None
    Message = Credit | Withdraw
    Parameters = str
    InstantiationArgument = InitialState
