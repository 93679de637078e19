"""The counter's state: one integer register."""

from __future__ import annotations

from edgechain.sdk.views import RegisterView, RootView


class CounterState(RootView):
    """The counter's value (0 until instantiated)."""

    value = RegisterView(int, 0)
