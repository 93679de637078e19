"""The llm application's state: when it was created and the attestations published so far."""

from __future__ import annotations

from edgechain.sdk.views import LogView, RegisterView, RootView

from .abi import Attestation


class LlmState(RootView):
    """The creation height (the model card's "on-chain since") and the attestation log."""

    created_at_height = RegisterView(int, -1)
    attestations = LogView(Attestation)
