"""The llm service: loads the pinned model once per content hash, answers prompts and chats.

The model named by the parameters is verified before anything parses it
(`edgechain.sdk.pinned_files`: an on-chain file is the node's memory map of the file its
manifest describes, verified against the manifest's BLAKE3, never copied into bytes; a URL's
bytes are hashed against the pinned BLAKE3) and kept in the process-wide
`edgechain.ml.model_cache`, so queries after the first reuse it. Generation is reproducible: the model is loaded in the engine's exact mode (prefill
bit-identical to token-by-token evaluation, no BLAS), so the same model, prompt, settings
and seed give the same text for everyone (``seed`` defaults to the engine's fixed seed).

GraphQL: ``model`` (the model card), ``prompt(prompt, maxTokens, temperature, topP, topK,
seed)``, ``chat(messages, …)``, ``attestations``, ``verifyAttestation(index)``; mutations
``attestPrompt(…)`` and ``attestChat(…)`` generate, then schedule ``RecordAttestation``.
Streaming: ``handle_stream({"prompt": …} or {"messages": […]}, …)`` yields text pieces as
they are generated (the node serves it as a chunked response).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import blake3
import strawberry

from edgechain.base.blobs import Manifest
from edgechain.ml import DEFAULT_SEED, LanguageModel, SamplingParams
from edgechain.ml.errors import MLError
from edgechain.ml.model_cache import CachedModel, shared_model_cache
from edgechain.sdk import Service
from edgechain.sdk.pinned_files import (
    PinnedSource,
    open_pinned_file,
    pinned_content_hash,
    read_pinned_manifest,
)

from .abi import (
    MAX_ATTESTED_TOKENS,
    MILLI,
    ChatTurn,
    GenerationSettings,
    LlmAbi,
    PinnedModel,
    RecordAttestation,
)
from .state import LlmState

_generation_lock = threading.Lock()
"""One generation at a time in this process (the model's kernels use every core already)."""


class PinnedModelError(Exception):
    """The pinned model cannot be read or does not match what the parameters pinned."""


# -- the pinned model ------------------------------------------------------------------------


def manifest_of(runtime: Any, pinned: PinnedModel) -> Manifest | None:
    """The root manifest of an on-chain model (None for a URL model)."""
    if pinned.manifest_id is None:
        return None
    return read_pinned_manifest(runtime, pinned.manifest_id)


def content_hash_of(runtime: Any, pinned: PinnedModel) -> str:
    """The BLAKE3 the model file must have: the manifest's, or the pinned one for a URL."""
    return pinned_content_hash(
        runtime, manifest_id=pinned.manifest_id, content_hash=pinned.content_hash
    )


def open_pinned_model(runtime: Any, pinned: PinnedModel) -> CachedModel:
    """The pinned model, loaded once per content hash in this process from the verified file
    (`edgechain.sdk.pinned_files`: a memory map of the on-chain file, or checked URL bytes)."""
    expected = content_hash_of(runtime, pinned)

    def open_source() -> PinnedSource:
        return open_pinned_file(
            runtime, manifest_id=pinned.manifest_id, url=pinned.url, content_hash=expected
        ).source

    return shared_model_cache().get_entry(expected, open_source, what=pinned.name, exact=True)


# -- generation ------------------------------------------------------------------------------


def seed_from_text(seed: str | None) -> bytes:
    """64 hex digits are the seed itself; other text is hashed (BLAKE3); None: the fixed seed."""
    if seed is None or seed == "":
        return bytes(DEFAULT_SEED)
    text = seed.strip().lower()
    if len(text) == 64 and all(character in "0123456789abcdef" for character in text):
        return bytes.fromhex(text)
    return bytes(blake3.blake3(seed.encode("utf-8")).digest())


def settings_from(
    max_tokens: int, temperature: float, top_p: float, top_k: int, seed: str | None
) -> GenerationSettings:
    """Settings as recorded on-chain (thousandths), validated."""
    if not 1 <= max_tokens <= MAX_ATTESTED_TOKENS:
        raise ValueError(f"maxTokens must be between 1 and {MAX_ATTESTED_TOKENS}")
    return GenerationSettings(
        max_tokens=max_tokens,
        temperature_milli=round(temperature * MILLI),
        top_p_milli=round(top_p * MILLI),
        top_k=top_k,
        seed=seed_from_text(seed),
    )


def sampling_of(settings: GenerationSettings) -> SamplingParams:
    """The ML engine's sampling parameters for recorded settings (exactly reproducible)."""
    return SamplingParams(
        temperature=settings.temperature_milli / MILLI,
        top_p=settings.top_p_milli / MILLI,
        top_k=settings.top_k,
    )


def output_hash(text: str) -> bytes:
    """BLAKE3 of the text's UTF-8 bytes (what attestations record; equal to ``b3sum``)."""
    return bytes(blake3.blake3(text.encode("utf-8")).digest())


def stream_generation(
    model: LanguageModel, prompt: str, messages: Sequence[ChatTurn], settings: GenerationSettings
) -> Iterator[str]:
    """Yield the text pieces of one generation (a plain prompt, or a chat if ``messages``)."""
    sampling = sampling_of(settings)
    with _generation_lock:
        if messages:
            chat = [{"role": turn.role, "content": turn.content} for turn in messages]
            tokens = model.chat(chat, settings.max_tokens, sampling, settings.seed)
        else:
            tokens = model.generate(prompt, settings.max_tokens, sampling, settings.seed)
        for token in tokens:
            if token.text:
                yield token.text


# -- GraphQL ---------------------------------------------------------------------------------


@strawberry.type
class ModelCard:
    """What a user should know about the pinned model."""

    name: str
    manifest_id: str | None
    url: str | None
    content_hash: str
    size_bytes: float | None
    on_chain_since_block: int | None
    loaded: bool


@strawberry.type
class SettingsOutput:
    """Generation settings as recorded."""

    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    seed: str


@strawberry.type
class AttestationOutput:
    """One recorded attestation."""

    index: int
    prompt: str
    messages: list[str]
    settings: SettingsOutput
    output_hash: str
    attester: str | None
    block_height: int


@strawberry.type
class Verification:
    """A recorded attestation re-run here."""

    index: int
    matches: bool
    recorded_hash: str
    computed_hash: str
    output: str


@strawberry.type
class AttestResult:
    """What an attest mutation generated and scheduled."""

    output: str
    output_hash: str


@strawberry.input
class ChatTurnInput:
    """One chat message."""

    role: str
    content: str


def _settings_output(settings: GenerationSettings) -> SettingsOutput:
    return SettingsOutput(
        max_tokens=settings.max_tokens,
        temperature=settings.temperature_milli / MILLI,
        top_p=settings.top_p_milli / MILLI,
        top_k=settings.top_k,
        seed=settings.seed.hex(),
    )


@strawberry.type
class Query:
    """The model card, generation, and the attestation log."""

    @strawberry.field
    def model(self, info: strawberry.Info) -> ModelCard:
        """The pinned model (``loaded``: whether this process holds it already)."""
        service: LlmService = info.context
        return service.model_card()

    @strawberry.field
    def prompt(
        self,
        info: strawberry.Info,
        prompt: str,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 0.95,
        top_k: int = 40,
        seed: str | None = None,
    ) -> str:
        """The text the model generates after ``prompt``."""
        service: LlmService = info.context
        settings = settings_from(max_tokens, temperature, top_p, top_k, seed)
        return "".join(service.stream(prompt, [], settings))

    @strawberry.field
    def chat(
        self,
        info: strawberry.Info,
        messages: list[ChatTurnInput],
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 0.95,
        top_k: int = 40,
        seed: str | None = None,
    ) -> str:
        """The assistant's reply to ``messages``, by the model's chat template."""
        service: LlmService = info.context
        settings = settings_from(max_tokens, temperature, top_p, top_k, seed)
        turns = [ChatTurn(turn.role, turn.content) for turn in messages]
        return "".join(service.stream("", turns, settings))

    @strawberry.field
    def attestations(self, info: strawberry.Info) -> list[AttestationOutput]:
        """Every recorded attestation, oldest first."""
        service: LlmService = info.context
        log = service.state.attestations
        outputs = []
        for index, attestation in enumerate(log.read(0, log.count())):
            request = attestation.request
            outputs.append(
                AttestationOutput(
                    index=index,
                    prompt=request.prompt,
                    messages=[f"{turn.role}: {turn.content}" for turn in request.messages],
                    settings=_settings_output(request.settings),
                    output_hash=request.output_hash.hex(),
                    attester=None if attestation.attester is None else str(attestation.attester),
                    block_height=attestation.block_height,
                )
            )
        return outputs

    @strawberry.field
    def verify_attestation(self, info: strawberry.Info, index: int) -> Verification:
        """Re-run attestation ``index`` with the pinned model and compare the output hash."""
        service: LlmService = info.context
        attestation = service.state.attestations.get(index)
        if attestation is None:
            raise ValueError(f"there is no attestation {index}")
        request = attestation.request
        output = "".join(service.stream(request.prompt, request.messages, request.settings))
        computed = output_hash(output)
        return Verification(
            index=index,
            matches=computed == request.output_hash,
            recorded_hash=request.output_hash.hex(),
            computed_hash=computed.hex(),
            output=output,
        )


@strawberry.type
class Mutation:
    """Generate here, then publish an attestation of it in the next block."""

    @strawberry.mutation
    def attest_prompt(
        self,
        info: strawberry.Info,
        prompt: str,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 0.95,
        top_k: int = 40,
        seed: str | None = None,
    ) -> AttestResult:
        """Generate from ``prompt`` and schedule its attestation."""
        service: LlmService = info.context
        settings = settings_from(max_tokens, temperature, top_p, top_k, seed)
        return service.attest(prompt, [], settings)

    @strawberry.mutation
    def attest_chat(
        self,
        info: strawberry.Info,
        messages: list[ChatTurnInput],
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 0.95,
        top_k: int = 40,
        seed: str | None = None,
    ) -> AttestResult:
        """Generate a chat reply and schedule its attestation."""
        service: LlmService = info.context
        settings = settings_from(max_tokens, temperature, top_p, top_k, seed)
        turns = [ChatTurn(turn.role, turn.content) for turn in messages]
        return service.attest("", turns, settings)


class LlmService(Service):
    """Runs the pinned model for queries; never reloads it while the process lives."""

    abi = LlmAbi
    State = LlmState
    Query = Query
    Mutation = Mutation

    def pinned(self) -> PinnedModel:
        """The model the parameters pin."""
        pinned: PinnedModel = self.runtime.application_parameters()
        return pinned

    def language_model(self) -> LanguageModel:
        """The loaded model (loading it on the first call in this process)."""
        model = open_pinned_model(self.runtime, self.pinned()).model
        if not isinstance(model, LanguageModel):
            raise PinnedModelError("the pinned model is not a language model")
        return model

    def model_card(self) -> ModelCard:
        pinned = self.pinned()
        manifest = manifest_of(self.runtime, pinned)
        content_hash = content_hash_of(self.runtime, pinned)
        cached = shared_model_cache().cached(content_hash, exact=True)
        size = manifest.total_length if manifest is not None else (cached.size if cached else None)
        created = self.state.created_at_height.get()
        return ModelCard(
            name=pinned.name,
            manifest_id=None if pinned.manifest_id is None else str(pinned.manifest_id),
            url=pinned.url,
            content_hash=content_hash,
            size_bytes=None if size is None else float(size),
            on_chain_since_block=created if created >= 0 else None,
            loaded=cached is not None,
        )

    def stream(
        self, prompt: str, messages: Sequence[ChatTurn], settings: GenerationSettings
    ) -> Iterator[str]:
        """The text pieces generated for a prompt or a chat."""
        try:
            model = self.language_model()
        except MLError as error:
            raise PinnedModelError(str(error)) from error
        return stream_generation(model, prompt, messages, settings)

    def attest(
        self, prompt: str, messages: Sequence[ChatTurn], settings: GenerationSettings
    ) -> AttestResult:
        output = "".join(self.stream(prompt, messages, settings))
        digest = output_hash(output)
        self.runtime.schedule_operation(
            RecordAttestation(
                prompt=prompt, messages=list(messages), settings=settings, output_hash=digest
            )
        )
        return AttestResult(output=output, output_hash=digest.hex())

    def handle_stream(self, request: Mapping[str, Any]) -> Iterator[str]:
        """Stream a generation: ``{"prompt": str}`` or ``{"messages": [{"role", "content"}]}``,
        with optional ``maxTokens``, ``temperature``, ``topP``, ``topK``, ``seed``."""
        settings = settings_from(
            int(request.get("maxTokens", 128)),
            float(request.get("temperature", 0.0)),
            float(request.get("topP", 0.95)),
            int(request.get("topK", 40)),
            request.get("seed"),
        )
        raw_messages = request.get("messages") or []
        turns = [ChatTurn(str(turn["role"]), str(turn["content"])) for turn in raw_messages]
        prompt = "" if turns else str(request.get("prompt", ""))
        if not turns and not prompt:
            raise ValueError("a stream request needs a prompt or messages")
        return self.stream(prompt, turns, settings)
