"""The picky token's state: this chain's balance."""

from __future__ import annotations

from edgechain.sdk.views import RegisterView, RootView


class PickyTokenState(RootView):
    """One balance per chain."""

    balance = RegisterView(int, 0)
