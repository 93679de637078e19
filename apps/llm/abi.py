"""The llm application's types: the pinned model (parameters) and the attestation operation."""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.sdk import Abi, AccountOwner

MAX_PROMPT_CHARACTERS = 8192
"""Longest prompt (or chat message) an attestation may record."""
MAX_ATTESTED_TOKENS = 4096
"""Most tokens an attested generation may ask for."""
MILLI = 1000
"""Temperatures and top-p are recorded in thousandths: contracts hold no floats."""


@dataclass(frozen=True)
class PinnedModel:
    """Which model the application runs: an on-chain file (manifest) or a URL with its BLAKE3."""

    name: str
    """A human name for the model (shown on the model card)."""
    manifest_id: str | None
    """The root manifest blob of the model file published on-chain, as ``publish-model``
    prints it (``manifest:HEX``; text so that parameters can be given as JSON), or None."""
    url: str | None
    """Where to fetch the model file (allowed hosts only), or None."""
    content_hash: str | None
    """BLAKE3 of the model file, 64 hex digits: required with ``url``, checked against the
    manifest's file hash when both are given."""


@dataclass(frozen=True)
class ChatTurn:
    """One chat message."""

    role: str
    """``system``, ``user`` or ``assistant``."""
    content: str
    """What was said."""


@dataclass(frozen=True)
class GenerationSettings:
    """Everything besides the model and the prompt that decides the generated text."""

    max_tokens: int
    """Most tokens generated."""
    temperature_milli: int
    """Temperature in thousandths (0: greedy)."""
    top_p_milli: int
    """Nucleus threshold in thousandths (1..1000)."""
    top_k: int
    """Keep the k most likely tokens (0 keeps all)."""
    seed: bytes
    """The 32-byte sampling seed."""


@dataclass(frozen=True)
class RecordAttestation:
    """Publish what the model answered: re-run (prompt or chat, settings) and compare the hash."""

    prompt: str
    """The prompt (empty for a chat)."""
    messages: list[ChatTurn]
    """The chat messages (empty for a plain prompt)."""
    settings: GenerationSettings
    """How it was generated."""
    output_hash: bytes
    """BLAKE3 of the generated text's UTF-8 bytes (32 bytes)."""


@dataclass(frozen=True)
class Attestation:
    """A recorded attestation, with who published it and when."""

    request: RecordAttestation
    """What was attested."""
    attester: AccountOwner | None
    """The owner who signed the block that recorded it."""
    block_height: int
    """The height of that block."""


class LlmAbi(Abi):
    """Parameters pin the model; the one operation records an attestation (its index back)."""

    Parameters = PinnedModel
    Operation = RecordAttestation
    Response = int
