"""The system application's state on one chain: description, epoch, committees, owners, balances.

Every validator keeps one ``SystemExecutionStateView`` per chain; its hash is part of the
state hash that validators sign, so everything here must be a pure function of the
chain's blocks.
"""

from __future__ import annotations

from edgechain.base.identifiers import AccountOwner, BlobId, ChainId, ModuleId
from edgechain.base.values import Amount, Epoch, Timestamp
from edgechain.execution.committee import Committee
from edgechain.execution.description import ChainDescription, InitialChainConfig
from edgechain.execution.errors import ChainNotActive, InsufficientFunding
from edgechain.execution.ownership import ChainOwnership
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext
from edgechain.views.register_view import RegisterView

NO_OWNERSHIP = ChainOwnership(super_owners=[], owners={})
"""The ownership of a chain that has not been opened."""


class SystemExecutionStateView(CompositeView):
    """The system application's views for one chain."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.description: RegisterView[ChainDescription | None] = self.register(
            "description", ChainDescription | None, None
        )
        """How the chain was created; None until it is opened."""
        self.epoch = self.register("epoch", Epoch, Epoch(0))
        """The chain's current epoch."""
        self.admin_id: RegisterView[ChainId | None] = self.register(
            "admin_id", ChainId | None, None
        )
        """The chain holding the committees."""
        self.committees = self.map("committees", Epoch, Committee)
        """The committees this chain trusts, by epoch."""
        self.ownership = self.register("ownership", ChainOwnership, NO_OWNERSHIP)
        """Who may propose blocks."""
        self.balance = self.register("balance", Amount, Amount.zero())
        """The chain's own balance."""
        self.balances = self.map("balances", AccountOwner, Amount)
        """Balances of owners on this chain (zero balances are not stored)."""
        self.timestamp = self.register("timestamp", Timestamp, Timestamp(0))
        """Timestamp of the latest block (or of the chain's creation)."""
        self.closed = self.register("closed", bool, False)
        """Whether the chain was closed."""
        self.subscribers = self.set("subscribers", ChainId)
        """(Admin chain.) Chains told about new and removed committees."""
        self.published_blobs = self.set("published_blobs", BlobId)
        """Blobs this chain's blocks published."""
        self.published_modules = self.set("published_modules", ModuleId)
        """Application modules this chain's blocks published (checked by PublishModule)."""

    def is_active(self) -> bool:
        """Whether the chain has been opened (it has a description)."""
        return self.description.get() is not None

    def ensure_active(self, chain_id: ChainId) -> None:
        if not self.is_active():
            raise ChainNotActive(f"chain {chain_id} has not been opened")

    def initialize(self, description: ChainDescription, config: InitialChainConfig) -> None:
        """Open the chain with its description and initial configuration."""
        self.description.set(description)
        self.epoch.set(config.epoch)
        self.admin_id.set(config.admin_id)
        for epoch, committee in sorted(config.committees.items()):
            self.committees.insert(epoch, committee)
        self.ownership.set(config.ownership)
        self.balance.set(config.balance)
        self.timestamp.set(config.timestamp)

    def current_committee(self) -> Committee | None:
        """The committee of the chain's current epoch, if it is still trusted."""
        return self.committees.get(self.epoch.get())

    def owner_balance(self, owner: AccountOwner | None) -> Amount:
        """The balance of ``owner`` (None: the chain's own balance)."""
        if owner is None:
            return self.balance.get()
        balance = self.balances.get(owner)
        return balance if balance is not None else Amount.zero()

    def credit(self, owner: AccountOwner | None, amount: Amount) -> None:
        """Add ``amount`` to ``owner``'s balance (None: the chain's own balance)."""
        if amount == Amount.zero():
            return
        if owner is None:
            self.balance.set(self.balance.get().try_add(amount))
        else:
            self.balances.insert(owner, self.owner_balance(owner).try_add(amount))

    def debit(self, owner: AccountOwner | None, amount: Amount, chain_id: ChainId) -> None:
        """Take ``amount`` from ``owner``'s balance; raise InsufficientFunding if it is short."""
        balance = self.owner_balance(owner)
        if amount > balance:
            account = f"chain {chain_id}" if owner is None else f"owner {owner} on chain {chain_id}"
            raise InsufficientFunding(account, balance, amount)
        remaining = balance.try_sub(amount)
        if owner is None:
            self.balance.set(remaining)
        elif remaining == Amount.zero():
            self.balances.remove(owner)
        else:
            self.balances.insert(owner, remaining)

    def total_balance(self) -> Amount:
        """The chain balance plus every owner's balance (for supply accounting)."""
        total = self.balance.get()
        for _, amount in self.balances.items():
            total = total.try_add(amount)
        return total
