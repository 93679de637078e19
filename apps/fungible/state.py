"""The fungible token's state: the balance of each owner on this chain."""

from __future__ import annotations

from edgechain.sdk import AccountOwner, Amount
from edgechain.sdk.views import MapView, RootView


class FungibleTokenState(RootView):
    """Balances per owner (owners with nothing have no entry)."""

    accounts = MapView(AccountOwner, Amount)
