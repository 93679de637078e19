"""The fungible token's contract: balances, transfers (direct or by tracked credit), claims.

A transfer to another chain debits the sender here and sends a *tracked* ``Credit``: if the
receiving chain rejects it, it comes back bouncing and the sender is refunded, so tokens are
never lost. A claim asks the chain holding the signer's tokens, by an *authenticated*
``Withdraw`` message, to send them on.
"""

from __future__ import annotations

from edgechain.sdk import Account, AccountOwner, Amount, Contract

from .abi import Balance, Claim, Credit, FungibleTokenAbi, InitialState, Transfer, Withdraw
from .state import FungibleTokenState


class FungibleTokenContract(Contract):
    """Keeps balances; only an account's owner (or this application) may move its tokens."""

    abi = FungibleTokenAbi
    State = FungibleTokenState

    def instantiate(self, argument: InitialState) -> None:
        ticker = self.runtime.application_parameters()
        if not ticker:
            raise ValueError("the ticker symbol (the application's parameters) is empty")
        for owner, amount in argument.accounts.items():
            if amount > Amount.zero():
                self.credit(owner, amount)

    def execute_operation(self, operation: Transfer | Claim | Balance) -> Amount | None:
        if isinstance(operation, Balance):
            return self.balance(operation.owner)
        if isinstance(operation, Transfer):
            self.check_transfer(operation.amount, operation.target_account)
            self.runtime.check_account_permission(operation.owner)
            self.debit(operation.owner, operation.amount)
            self.finish_transfer(operation.owner, operation.amount, operation.target_account)
            return None
        if isinstance(operation, Claim):
            self.check_transfer(operation.amount, operation.target_account)
            source = operation.source_account
            owner = owner_of(source, "source")
            self.runtime.check_account_permission(owner)
            if source.chain_id == self.runtime.chain_id():
                self.debit(owner, operation.amount)
                self.finish_transfer(owner, operation.amount, operation.target_account)
            else:
                withdraw = Withdraw(owner, operation.amount, operation.target_account)
                self.runtime.send_message(source.chain_id, withdraw, authenticated=True)
            return None
        raise ValueError("unknown fungible token operation")

    def execute_message(self, message: Credit | Withdraw) -> None:
        if isinstance(message, Credit):
            if self.runtime.message_is_bouncing():
                self.credit(message.source, message.amount)  # the receiver refused: refund
            else:
                self.credit(message.target, message.amount)
            return
        if isinstance(message, Withdraw):
            self.runtime.check_account_permission(message.owner)
            self.debit(message.owner, message.amount)
            self.finish_transfer(message.owner, message.amount, message.target_account)
            return
        raise ValueError("unknown fungible token message")

    # -- balances

    def balance(self, owner: AccountOwner) -> Amount:
        return self.state.accounts.get(owner, Amount.zero())

    def credit(self, owner: AccountOwner, amount: Amount) -> None:
        self.state.accounts.insert(owner, self.balance(owner).try_add(amount))

    def debit(self, owner: AccountOwner, amount: Amount) -> None:
        balance = self.balance(owner)
        if balance < amount:
            raise ValueError(
                f"overdraft on chain {self.runtime.chain_id()}: {owner} has {balance},"
                f" cannot move {amount}"
            )
        remaining = balance.try_sub(amount)
        if remaining == Amount.zero():
            self.state.accounts.remove(owner)
        else:
            self.state.accounts.insert(owner, remaining)

    # -- transfers

    def check_transfer(self, amount: Amount, target_account: Account) -> None:
        if amount == Amount.zero():
            raise ValueError("a transfer must move a positive amount")
        owner_of(target_account, "target")

    def finish_transfer(
        self, source: AccountOwner, amount: Amount, target_account: Account
    ) -> None:
        """Credit the target here, or send a tracked credit to its chain (refunded if refused)."""
        target = owner_of(target_account, "target")
        if target_account.chain_id == self.runtime.chain_id():
            self.credit(target, amount)
        else:
            credit = Credit(target, amount, source)
            self.runtime.send_message(target_account.chain_id, credit, tracked=True)


def owner_of(account: Account, role: str) -> AccountOwner:
    """The account's owner; a fungible account without an owner is refused."""
    if account.owner is None:
        raise ValueError(f"the {role} account {account} has no owner")
    return account.owner
