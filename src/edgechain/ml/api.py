"""The ML engine's front door: `load_model(source)` and the models it returns.

    model = load_model("SmolLM2-135M-Instruct.Q4_1.gguf")           # LanguageModel
    for token in model.generate("Once upon a time", max_tokens=32):
        print(token.text, end="")
    encoder = load_model("all-MiniLM-L6-v2/")                        # EmbeddingModel
    vectors = encoder.embed(["a sentence"])                          # (1, 384), unit norm

A source is a path (GGUF, llama2.c ``.bin``, a Hugging Face directory or ``.safetensors``
file), or a read-only memory map / bytes-like of a GGUF, safetensors or llama2.c file
(the blob store hands out maps). Only parsing happens here; the architectures live in
`llama` and `bert`, the numbers in the chosen backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgechain.ml.bert import BertEncoder
from edgechain.ml.errors import BackendUnavailable, GenerationError, ModelFormatError
from edgechain.ml.formats import ModelSource, open_model_file, validate_tensors
from edgechain.ml.generation import GeneratedToken, generate
from edgechain.ml.llama import Backend, LlamaModel, NumpyBackend, config_of, llama_tensors
from edgechain.ml.sampling import Sampler, SamplingParams
from edgechain.ml.tokenizers import (
    ChatMessage,
    Tokenizer,
    load_tokenizer,
    tokenizer_from_model_file,
)
from edgechain.ml.weights import ModelFile

BACKENDS = ("numpy", "torch")


class LanguageModel:
    """A Llama-family model with its tokenizer: generate text, chat, or read logits."""

    def __init__(
        self,
        model: LlamaModel,
        tokenizer: Tokenizer | None,
        model_file: ModelFile,
        decoder: Any = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_file = model_file
        self.decoder: Any = decoder if decoder is not None else model
        """What generation runs: the model itself, or (CUDA) a `GraphDecoder` over it that
        replays each one-token step from a recorded CUDA graph."""

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def backend(self) -> str:
        return self.model.backend.name

    def _require_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise GenerationError(
                "this model has no tokenizer: pass token ids, or load it with tokenizer=..."
            )
        return self.tokenizer

    def encode(self, text: str) -> list[int]:
        """Prompt text to ids as llama.cpp does for prompts (BOS per the file, specials parsed)."""
        return self._require_tokenizer().encode(text, add_special=True, parse_special=True)

    def generate(
        self,
        prompt: str | Sequence[int],
        max_tokens: int = 128,
        sampling: SamplingParams | None = None,
        seed: bytes | int | None = None,
    ) -> Iterator[GeneratedToken]:
        """Stream tokens after ``prompt`` (text or ids); greedy and the default seed unless told."""
        ids = self.encode(prompt) if isinstance(prompt, str) else [int(i) for i in prompt]
        return generate(
            self.decoder, ids, max_tokens, sampling, Sampler(seed), tokenizer=self.tokenizer
        )

    def generate_text(
        self,
        prompt: str | Sequence[int],
        max_tokens: int = 128,
        sampling: SamplingParams | None = None,
        seed: bytes | int | None = None,
    ) -> str:
        """The whole generated text at once."""
        return "".join(token.text for token in self.generate(prompt, max_tokens, sampling, seed))

    def chat(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int = 128,
        sampling: SamplingParams | None = None,
        seed: bytes | int | None = None,
    ) -> Iterator[GeneratedToken]:
        """Stream the assistant's reply to ``messages``, by the file's chat template."""
        tokenizer = self._require_tokenizer()
        if tokenizer.chat_template is None:
            raise GenerationError("this model's files carry no chat template")
        prompt = tokenizer.render_chat(messages, add_generation_prompt=True)
        return self.generate(prompt, max_tokens, sampling, seed)

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Logits (T, vocab) float32 of every position of ``ids`` evaluated in one batch."""
        state = self.model.new_state(len(ids))
        return self.model.forward(list(ids), state, all_logits=True)

    def info(self) -> dict[str, Any]:
        """What the CLI's ``ml info`` prints."""
        c = self.model.config
        types: dict[str, int] = {}
        for record in self.model_file.tensors.values():
            types[record.tensor_type.name] = types.get(record.tensor_type.name, 0) + 1
        return {
            "kind": "language model",
            "architecture": "llama",
            "format": self.model_file.format,
            "source": self.model_file.source,
            "name": str(self.model_file.metadata.get("general.name", "")),
            "backend": self.backend,
            "layers": c.n_layers,
            "dim": c.dim,
            "hidden_dim": c.hidden_dim,
            "heads": c.n_heads,
            "kv_heads": c.n_kv_heads,
            "vocab_size": c.vocab_size,
            "context_length": c.context_length,
            "rope_theta": c.rope_theta,
            "tied_output": self.model.tied_output,
            "tensor_types": types,
            "tokenizer": type(self.tokenizer).__name__ if self.tokenizer else None,
            "chat_template": bool(self.tokenizer and self.tokenizer.chat_template),
        }


class EmbeddingModel:
    """A sentence encoder (BERT): ``embed(texts)`` -> (N, dim) unit vectors."""

    def __init__(self, encoder: BertEncoder, directory: str) -> None:
        self.encoder = encoder
        self.directory = directory

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.embed(list(texts))

    def info(self) -> dict[str, Any]:
        return {"kind": "embedding model", "architecture": "bert", "source": self.directory}


def _backend(name: str, device: str, file_backed: bool, exact: bool) -> Backend:
    if name == "numpy":
        if device != "cpu":
            raise BackendUnavailable(f"the numpy backend runs on the CPU, not {device!r}")
        return NumpyBackend(release_file_pages=file_backed, exact=exact)
    if name == "torch":
        from edgechain.ml.torch_backend import TorchBackend

        if not exact:
            return TorchBackend(device=device)  # type: ignore[return-value]
        # exact: the numpy exact backend's bits on any device (kernel products and integer
        # batches on the CPU; the same integer sums and order in torch ops on CUDA)
        products = None if device == "cpu" else "exact"
        return TorchBackend(device=device, products=products, exact=True, integer_batches=True)  # type: ignore[return-value]
    raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _is_bert_directory(source: ModelSource) -> bool:
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source)
    config = path / "config.json" if path.is_dir() else path.parent / "config.json"
    if not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("model_type") == "bert")
    except (OSError, ValueError):
        return False


def _find_tokenizer(
    source: ModelSource, model_file: ModelFile, tokenizer: Tokenizer | str | os.PathLike[str] | None
) -> Tokenizer | None:
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    if tokenizer is not None:
        return load_tokenizer(tokenizer, int(model_file.metadata.get("llama.vocab_size", 0)) or None)
    if model_file.format == "llama2c":
        if isinstance(source, (str, os.PathLike)):
            beside = Path(source).parent / "tokenizer.bin"
            if beside.is_file():
                vocab = int(model_file.metadata.get("llama.vocab_size", 0)) or None
                return load_tokenizer(beside, vocab)
        return None
    try:
        return tokenizer_from_model_file(model_file)
    except ModelFormatError:
        return None


def load_model(
    source: ModelSource,
    backend: str = "numpy",
    device: str = "cpu",
    tokenizer: Tokenizer | str | os.PathLike[str] | None = None,
    threads: int | None = None,
    exact: bool = False,
    validate: bool = True,
) -> LanguageModel | EmbeddingModel:
    """Open a model file and build the model it holds (Llama -> `LanguageModel`, BERT ->
    `EmbeddingModel`). ``tokenizer`` overrides the file's own (a llama2.c model looks for
    ``tokenizer.bin`` beside it); ``threads`` sets numba's thread count for the numpy backend;
    ``exact`` makes the prefill bit-identical to token-by-token evaluation (slower), and
    with ``backend="torch"`` every logit that of ``backend="numpy", exact=True`` on any
    device, CUDA included, for Q4_0/Q4_1/Q8_0 models (`kernels.exact`; Q4_K/Q6_K on the CPU);
    ``validate`` checks every weight is finite first (NaN/Inf -> `ModelFormatError`)."""
    if threads is not None:
        import numba

        numba.set_num_threads(threads)
    if _is_bert_directory(source):
        assert isinstance(source, (str, os.PathLike))  # narrowed by _is_bert_directory
        directory = Path(source) if Path(source).is_dir() else Path(source).parent
        return EmbeddingModel(BertEncoder.from_directory(directory), str(directory))
    model_file = open_model_file(source)
    if validate:
        validate_tensors(model_file)  # NaN/Inf weights: a clear error now, not garbage later
    config = config_of(model_file)
    file_backed = isinstance(source, (str, os.PathLike))  # np.memmap of a path, never a buffer
    model = LlamaModel(
        config, llama_tensors(model_file, config), _backend(backend, device, file_backed, exact)
    )
    decoder = None
    if backend == "torch" and device.startswith("cuda"):
        # One-token steps are launch-bound on a GPU: replaying a recorded CUDA graph per step
        # decodes several times faster than launching each kernel (benchmarks/recorded/).
        from edgechain.ml.torch_graphs import GraphDecoder

        decoder = GraphDecoder(model)
    tokenizer_found = _find_tokenizer(source, model_file, tokenizer)
    return LanguageModel(model, tokenizer_found, model_file, decoder)
