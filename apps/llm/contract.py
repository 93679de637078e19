"""The llm contract: checks the pinned model at creation and records attestations."""

from __future__ import annotations

from edgechain.sdk import BlobId, Contract

from .abi import (
    MAX_ATTESTED_TOKENS,
    MAX_PROMPT_CHARACTERS,
    MILLI,
    Attestation,
    LlmAbi,
    PinnedModel,
    RecordAttestation,
)
from .state import LlmState

HEX_DIGITS = "0123456789abcdef"


def check_pinned_model(model: PinnedModel) -> None:
    """Refuse parameters that do not name exactly one verifiable source."""
    if (model.manifest_id is None) == (model.url is None):
        raise ValueError("the model is named by a manifest blob id or by a URL, exactly one")
    if model.url is not None:
        if model.content_hash is None:
            raise ValueError("a model fetched by URL needs its BLAKE3 (content_hash)")
        if not (model.url.startswith("http://") or model.url.startswith("https://")):
            raise ValueError("the model URL must be http:// or https://")
    if model.content_hash is not None:
        digest = model.content_hash
        if len(digest) != 64 or any(character not in HEX_DIGITS for character in digest):
            raise ValueError("content_hash must be 64 lowercase hexadecimal digits (BLAKE3)")


class LlmContract(Contract):
    """Pins the model (checking that its manifest is on-chain) and logs attestations."""

    abi = LlmAbi
    State = LlmState

    def instantiate(self, argument: None) -> None:
        model = self.runtime.application_parameters()
        check_pinned_model(model)
        if model.manifest_id is not None:
            # Every validator checks that the model's manifest is published and stored.
            self.runtime.assert_data_blob_exists(manifest_blob_id(model.manifest_id))
        self.state.created_at_height.set(self.runtime.block_height().value)

    def execute_operation(self, operation: RecordAttestation) -> int:
        settings = operation.settings
        if (operation.prompt == "") == (len(operation.messages) == 0):
            raise ValueError("an attestation holds a prompt or chat messages, exactly one")
        if len(operation.prompt) > MAX_PROMPT_CHARACTERS:
            raise ValueError(f"prompts are at most {MAX_PROMPT_CHARACTERS} characters")
        for turn in operation.messages:
            if len(turn.content) > MAX_PROMPT_CHARACTERS:
                raise ValueError(f"chat messages are at most {MAX_PROMPT_CHARACTERS} characters")
        if not 1 <= settings.max_tokens <= MAX_ATTESTED_TOKENS:
            raise ValueError(f"max_tokens must be between 1 and {MAX_ATTESTED_TOKENS}")
        if settings.temperature_milli < 0 or not 0 < settings.top_p_milli <= MILLI:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if settings.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if len(settings.seed) != 32 or len(operation.output_hash) != 32:
            raise ValueError("the seed and the output hash are 32 bytes each")
        index = self.state.attestations.count()
        self.state.attestations.push(
            Attestation(
                request=operation,
                attester=self.runtime.authenticated_owner(),
                block_height=self.runtime.block_height().value,
            )
        )
        return index

    def execute_message(self, message: None) -> None:
        raise ValueError("the llm application sends no messages")


def manifest_blob_id(text: str) -> BlobId:
    """The manifest blob id written ``manifest:HEX``."""
    if not text.startswith("manifest:"):
        raise ValueError(f"the model's manifest id must read manifest:HEX, not {text!r}")
    return BlobId.parse(text)
