"""The Llama architecture: config, tensor name tables, and the forward pass with a KV cache.

Grouped-query attention, RoPE as GGUF stores it (interleaved pairs, ``llama.rope.freq_base``,
``rope.dimension_count``), SwiGLU, RMSNorm with the file's epsilon, tied or separate
output head, batched prefill then one token at a time.

The backend seam. `LlamaModel` owns the *structure* (which weight feeds which step, the
shapes, the KV cache positions); every number is computed by a `Backend`:

    backend.matrix(records)            -> a weight handle (rows of several records fused:
                                          q|k|v and gate|up share one product)
    backend.vector(record)             -> a norm weight handle
    backend.embedding(record)          -> a token table handle
    backend.embed(table, ids)          -> (T, dim) activations
    backend.matmul(weight, x)          -> x @ W.T, (T, rows)
    backend.rmsnorm(x, weight, eps)    -> (T, dim)
    backend.rope(x, cos, sin)          -> x (T, heads, head_dim) with pairs rotated
    backend.attention(q, k, v, cache, layer, start) -> (T, heads * head_dim), k/v stored
    backend.swiglu(gate, up)           -> silu(gate) * up
    backend.new_cache(config, capacity) -> a cache with a ``capacity`` (positions)
    backend.to_numpy(x)                -> float32 numpy (logits leave the backend so)

Activations are the backend's own arrays; the model only slices and reshapes them, which
numpy and torch spell the same way. `NumpyBackend` (here) is the reference;
``edgechain.ml.torch_backend`` implements the same protocol. RoPE angles are computed
once in float64 by `rope_tables` and handed to every backend, so sin/cos agree.

Weight layout: GGUF names and GGUF's q/k row order are canonical. Hugging Face q/k rows
(rotate-half order) are permuted at load into GGUF's order with `hf_to_gguf_rope_rows`
(llama.cpp's convert permutation), so a single RoPE implementation serves every format;
llama2.c files already use GGUF's order.

Numerics of `NumpyBackend`: quantized products of one token in the compiled integer
kernels (`kernels.compiled`); a prompt's batch through BLAS on dequantized chunks, or
with ``exact=True`` through the same integer kernels, so that a prompt evaluated in one
batch gives bit for bit the logits of token-by-token evaluation; RMSNorm's mean square
in float64; attention scores, softmax and weighted values in float32; every sum, the exp
of softmax and SiLU by `kernels.exact`'s definition, which the torch backend on the CPU
follows too (bit-identical logits). Nothing depends on the thread count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.kernels import (
    COMPILED_TYPES,
    DenseMatrix,
    PackedMatrix,
    WeightMatrix,
    compiled,
    prepare_matrix,
    release_file_pages,
)
from edgechain.ml.kernels.reference import dequantize
from edgechain.ml.weights import BLOCK_LAYOUT, ModelFile, TensorRecord


@dataclass(frozen=True, slots=True)
class LlamaConfig:
    """Hyper-parameters of a Llama-family decoder."""

    dim: int
    """Embedding width."""
    hidden_dim: int
    """Feed-forward width."""
    n_layers: int
    """Transformer blocks."""
    n_heads: int
    """Query heads."""
    n_kv_heads: int
    """Key/value heads (grouped-query attention when fewer than query heads)."""
    vocab_size: int
    """Tokens in the vocabulary (rows of the embedding)."""
    context_length: int
    """Longest sequence the model was trained for (the KV cache's capacity)."""
    rope_theta: float = 10000.0
    """RoPE frequency base."""
    rope_dim: int = 0
    """Dimensions of each head that RoPE rotates (0: the whole head)."""
    norm_eps: float = 1e-5
    """RMSNorm epsilon."""

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.head_dim * self.n_kv_heads

    @property
    def rotary_dim(self) -> int:
        return self.rope_dim or self.head_dim

    def validate(self) -> None:
        """Raise `ModelFormatError` when the numbers cannot describe a Llama."""
        positive = {
            "dim": self.dim,
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "vocab_size": self.vocab_size,
            "context_length": self.context_length,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ModelFormatError(f"Llama config: {name} = {value} must be positive")
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ModelFormatError(
                f"Llama config: dim {self.dim}, heads {self.n_heads}, kv heads "
                f"{self.n_kv_heads} do not divide evenly"
            )
        if self.rotary_dim % 2 or self.rotary_dim > self.head_dim:
            raise ModelFormatError(
                f"Llama config: rope dimension {self.rotary_dim} is odd or exceeds "
                f"head size {self.head_dim}"
            )
        if not (self.rope_theta > 0 and self.norm_eps > 0):
            raise ModelFormatError("Llama config: rope_theta and norm_eps must be positive")

    @classmethod
    def from_gguf_metadata(
        cls, metadata: Mapping[str, Any], tensors: Mapping[str, TensorRecord] | None = None
    ) -> LlamaConfig:
        """From GGUF ``llama.*`` keys (llama2.c files carry the same keys)."""
        architecture = str(metadata.get("general.architecture", "llama"))
        if architecture != "llama":
            raise UnsupportedModel(f"architecture {architecture!r} is not Llama")

        def required(key: str) -> Any:
            if f"llama.{key}" not in metadata:
                raise ModelFormatError(f"GGUF metadata lacks llama.{key}")
            return metadata[f"llama.{key}"]

        n_heads = int(required("attention.head_count"))
        vocab = metadata.get("llama.vocab_size")
        if vocab is None and "tokenizer.ggml.tokens" in metadata:
            vocab = len(metadata["tokenizer.ggml.tokens"])
        if vocab is None and tensors is not None and "token_embd.weight" in tensors:
            vocab = tensors["token_embd.weight"].shape[0]
        if vocab is None:
            raise ModelFormatError("GGUF metadata gives no vocabulary size")
        config = cls(
            dim=int(required("embedding_length")),
            hidden_dim=int(required("feed_forward_length")),
            n_layers=int(required("block_count")),
            n_heads=n_heads,
            n_kv_heads=int(metadata.get("llama.attention.head_count_kv", n_heads)),
            vocab_size=int(vocab),
            context_length=int(metadata.get("llama.context_length", 2048)),
            rope_theta=float(metadata.get("llama.rope.freq_base", 10000.0)),
            rope_dim=int(metadata.get("llama.rope.dimension_count", 0)),
            norm_eps=float(metadata.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        )
        config.validate()
        return config

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> LlamaConfig:
        """From a Hugging Face ``config.json`` of a ``LlamaForCausalLM``."""
        model_type = str(config.get("model_type", "llama"))
        if model_type != "llama":
            raise UnsupportedModel(f"model_type {model_type!r} is not Llama")
        try:
            n_heads = int(config["num_attention_heads"])
            result = cls(
                dim=int(config["hidden_size"]),
                hidden_dim=int(config["intermediate_size"]),
                n_layers=int(config["num_hidden_layers"]),
                n_heads=n_heads,
                n_kv_heads=int(config.get("num_key_value_heads") or n_heads),
                vocab_size=int(config["vocab_size"]),
                context_length=int(config.get("max_position_embeddings", 2048)),
                rope_theta=float(config.get("rope_theta", 10000.0)),
                norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            )
        except KeyError as exc:
            raise ModelFormatError(f"Hugging Face config lacks {exc.args[0]!r}") from exc
        if config.get("rope_scaling"):
            raise UnsupportedModel("rope_scaling is not supported")
        result.validate()
        return result

    @classmethod
    def tiny(cls) -> LlamaConfig:
        """A tiny model for tests: 2 layers, 64 wide, 4 query and 2 key/value heads."""
        return cls(dim=64, hidden_dim=128, n_layers=2, n_heads=4, n_kv_heads=2,
                   vocab_size=320, context_length=64)

    @classmethod
    def smollm2_135m(cls) -> LlamaConfig:
        """SmolLM2-135M's shape."""
        return cls(dim=576, hidden_dim=1536, n_layers=30, n_heads=9, n_kv_heads=3,
                   vocab_size=49152, context_length=8192, rope_theta=100000.0, rope_dim=64)


# ------------------------------------------------------------------------- name tables

LAYER_TENSORS = (
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
    "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
)
"""Per-layer tensors, by their GGUF names ``blk.{i}.{name}.weight``."""

HF_TO_GGUF = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Hugging Face Llama names to GGUF names (per layer: ``model.layers.{i}.<x>.weight``)."""

_HF_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)\.weight")


def gguf_name(hf_name: str) -> str | None:
    """The GGUF name of a Hugging Face tensor name, or None when it is not a Llama weight."""
    if hf_name in HF_TO_GGUF:
        return HF_TO_GGUF[hf_name]
    match = _HF_LAYER.fullmatch(hf_name)
    if match and match.group(2) in HF_TO_GGUF:
        return f"blk.{match.group(1)}.{HF_TO_GGUF[match.group(2)]}.weight"
    return None


def hf_to_gguf_rope_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's convert permutation: HF rotate-half q/k rows into interleaved pairs."""
    count = rows.shape[0]
    rest = rows.shape[1:]
    return rows.reshape(heads, 2, count // heads // 2, *rest).swapaxes(1, 2).reshape(rows.shape)


def _permuted(record: TensorRecord, heads: int) -> TensorRecord:
    data = np.ascontiguousarray(hf_to_gguf_rope_rows(np.asarray(record.data), heads))
    return replace(record, data=data)


def llama_tensors(model_file: ModelFile, config: LlamaConfig) -> dict[str, TensorRecord]:
    """The file's tensors under GGUF names in GGUF layout (HF names mapped, q/k permuted)."""
    if model_file.format != "safetensors":
        return dict(model_file.tensors)
    tensors: dict[str, TensorRecord] = {}
    for name, record in model_file.tensors.items():
        target = gguf_name(name)
        if target is None:
            continue
        if target.endswith("attn_q.weight"):
            record = _permuted(record, config.n_heads)
        elif target.endswith("attn_k.weight"):
            record = _permuted(record, config.n_kv_heads)
        tensors[target] = replace(record, name=target)
    return tensors


def config_of(model_file: ModelFile) -> LlamaConfig:
    """The Llama config a parsed file describes."""
    if model_file.format == "safetensors":
        return LlamaConfig.from_hf_config(model_file.metadata)
    return LlamaConfig.from_gguf_metadata(model_file.metadata, model_file.tensors)


# ---------------------------------------------------------------------------- RoPE


def rope_tables(config: LlamaConfig, positions: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin (positions, rotary_dim / 2) float32: angle = pos * theta^(-2i/rotary_dim).

    Computed in float64 and rounded once, so every backend rotates by the same numbers.
    """
    half = config.rotary_dim // 2
    inverse = config.rope_theta ** (-np.arange(half, dtype=np.float64) * 2.0 / config.rotary_dim)
    angles = np.arange(positions, dtype=np.float64)[:, None] * inverse[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


# ---------------------------------------------------------------------------- backends


class Backend(Protocol):
    """The numerical operations a Llama forward pass needs (see the module docstring)."""

    name: str

    def matrix(self, records: Sequence[TensorRecord]) -> Any: ...
    def vector(self, record: TensorRecord) -> Any: ...
    def embedding(self, record: TensorRecord) -> Any: ...
    def embed(self, table: Any, ids: Sequence[int]) -> Any: ...
    def matmul(self, weight: Any, x: Any) -> Any: ...
    def rmsnorm(self, x: Any, weight: Any, eps: float) -> Any: ...
    def rope(self, x: Any, cos: np.ndarray, sin: np.ndarray) -> Any: ...
    def attention(self, q: Any, k: Any, v: Any, cache: Any, layer: int, start: int) -> Any: ...
    def swiglu(self, gate: Any, up: Any) -> Any: ...
    def new_cache(self, config: LlamaConfig, capacity: int) -> Any: ...
    def to_numpy(self, x: Any) -> np.ndarray: ...


@dataclass(eq=False)
class NumpyKVCache:
    """Keys and values of every layer, float32; keys transposed so scores vectorize."""

    keys: np.ndarray
    """(layers, kv heads, head_dim, capacity)."""
    values: np.ndarray
    """(layers, kv heads, capacity, head_dim)."""

    @property
    def capacity(self) -> int:
        return int(self.values.shape[2])


@dataclass(eq=False)
class _Table:
    """A token embedding table kept in the file's encoding; rows decoded on lookup."""

    record: TensorRecord


class NumpyBackend:
    """The reference backend: numpy, with compiled kernels for Q4_0/Q4_1/Q8_0 products."""

    name = "numpy"

    def __init__(self, release_file_pages: bool = False, exact: bool = False) -> None:
        self.release_file_pages = release_file_pages
        """Weights come from a file mapping: drop its pages once packed (see
        `kernels.release_file_pages`); never for in-memory buffers."""
        self.exact = exact
        """Prefill through the integer kernels too (bit-identical to token-by-token
        evaluation) instead of BLAS on dequantized chunks (faster; see `kernels.matrices`)."""

    def matrix(self, records: Sequence[TensorRecord]) -> WeightMatrix:
        cols = {record.shape[-1] for record in records}
        if len(cols) != 1 or any(len(record.shape) != 2 for record in records):
            names = [record.name for record in records]
            raise ModelFormatError(f"weights {names} are not matrices of one input width")
        rows = sum(record.shape[0] for record in records)
        shape = (rows, cols.pop())
        types = {record.tensor_type for record in records}
        name = "+".join(record.name for record in records)
        if len(types) == 1 and next(iter(types)) in COMPILED_TYPES:
            parts = [np.asarray(record.data).reshape(record.shape[0], -1) for record in records]
            data = parts[0] if len(parts) == 1 else np.concatenate(parts)
            matrix = prepare_matrix(next(iter(types)), data, shape, name)
            if isinstance(matrix, PackedMatrix):
                matrix.batch_with_blas = not self.exact
            if self.release_file_pages:
                for part in parts:
                    release_file_pages(part)
            return matrix
        parts = [dequantize(record.tensor_type, record.data, record.shape) for record in records]
        return DenseMatrix(np.ascontiguousarray(np.concatenate(parts), dtype=np.float32))

    def vector(self, record: TensorRecord) -> np.ndarray:
        return dequantize(record.tensor_type, record.data, record.shape).astype(np.float32)

    def embedding(self, record: TensorRecord) -> _Table:
        if len(record.shape) != 2:
            raise ModelFormatError(f"embedding {record.name!r} has shape {record.shape}")
        return _Table(record)

    def embed(self, table: _Table, ids: Sequence[int]) -> np.ndarray:
        record = table.record
        index = np.asarray(ids, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= record.shape[0]):
            raise ModelFormatError(f"token id outside 0..{record.shape[0] - 1}")
        rows = np.asarray(record.data)[index]
        return dequantize(record.tensor_type, rows, (len(index), record.shape[1]))  # (T, dim)

    def matmul(self, weight: WeightMatrix, x: np.ndarray) -> np.ndarray:
        return weight.matmul(x)

    def rmsnorm(self, x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
        out = np.empty(x.shape, dtype=np.float32)  # (T, dim)
        compiled.rmsnorm(np.ascontiguousarray(x), weight, eps, out)
        return out

    def rope(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=np.float32, order="C")  # (T, heads, head_dim)
        compiled.rope(out, cos, sin)
        return out

    def attention(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, cache: NumpyKVCache, layer: int,
        start: int,
    ) -> np.ndarray:
        tokens, heads, head_dim = q.shape
        keys, values = cache.keys[layer], cache.values[layer]  # (kv, hd, S), (kv, S, hd)
        compiled.store_kv(k, np.ascontiguousarray(v), keys, values, start)
        out = np.empty((tokens, heads, head_dim), dtype=np.float32)
        scale = np.float32(1.0 / np.sqrt(head_dim))
        kernel = compiled.attention_serial if tokens == 1 else compiled.attention
        kernel(q, keys, values, start, scale, out)
        return out.reshape(tokens, heads * head_dim)  # (T, dim)

    def swiglu(self, gate: np.ndarray, up: np.ndarray) -> np.ndarray:
        hidden = gate.shape[1]
        out = np.empty((gate.shape[0], hidden), dtype=np.float32)  # (T, hidden)
        kernel = compiled.swiglu if gate.shape[0] == 1 else compiled.swiglu_rows
        kernel(gate, up, out)
        return out

    def new_cache(self, config: LlamaConfig, capacity: int) -> NumpyKVCache:
        # np.zeros of a large size maps pages lazily: only positions written count in RSS.
        layers, heads, head_dim = config.n_layers, config.n_kv_heads, config.head_dim
        return NumpyKVCache(
            np.zeros((layers, heads, head_dim, capacity), np.float32),
            np.zeros((layers, heads, capacity, head_dim), np.float32),
        )

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------------- the model


@dataclass(eq=False)
class _Layer:
    attn_norm: Any
    qkv: Any
    attn_output: Any
    ffn_norm: Any
    gate_up: Any
    ffn_down: Any


@dataclass(eq=False)
class LlamaState:
    """A sequence being decoded: its KV cache and how many positions it holds."""

    cache: Any
    position: int = 0


class LlamaModel:
    """A Llama decoder over one backend; ``forward(ids, state)`` returns logits."""

    def __init__(
        self, config: LlamaConfig, tensors: Mapping[str, TensorRecord], backend: Backend
    ) -> None:
        config.validate()
        self.config = config
        self.backend = backend

        def record(name: str, shape: tuple[int, ...]) -> TensorRecord:
            found = tensors.get(name)
            if found is None:
                raise ModelFormatError(f"Llama weights lack {name!r}")
            if tuple(found.shape) != shape:
                raise ModelFormatError(
                    f"Llama weight {name!r} has shape {tuple(found.shape)}, expected {shape}"
                )
            if found.tensor_type not in BLOCK_LAYOUT:
                raise UnsupportedModel(f"tensor type of {name!r} is not supported")
            return found

        c = config
        self.token_embd = backend.embedding(record("token_embd.weight", (c.vocab_size, c.dim)))
        self.layers: list[_Layer] = []
        for i in range(c.n_layers):
            def layer(part: str, shape: tuple[int, ...], i: int = i) -> TensorRecord:
                return record(f"blk.{i}.{part}.weight", shape)

            q = layer("attn_q", (c.dim, c.dim))
            k = layer("attn_k", (c.kv_dim, c.dim))
            v = layer("attn_v", (c.kv_dim, c.dim))
            gate = layer("ffn_gate", (c.hidden_dim, c.dim))
            up = layer("ffn_up", (c.hidden_dim, c.dim))
            self.layers.append(
                _Layer(
                    attn_norm=backend.vector(layer("attn_norm", (c.dim,))),
                    qkv=self._fused(backend, [q, k, v]),
                    attn_output=backend.matrix([layer("attn_output", (c.dim, c.dim))]),
                    ffn_norm=backend.vector(layer("ffn_norm", (c.dim,))),
                    gate_up=self._fused(backend, [gate, up]),
                    ffn_down=backend.matrix([layer("ffn_down", (c.dim, c.hidden_dim))]),
                )
            )
        self.output_norm = backend.vector(record("output_norm.weight", (c.dim,)))
        self.tied_output = "output.weight" not in tensors
        head_name = "token_embd.weight" if self.tied_output else "output.weight"
        self.output = backend.matrix([record(head_name, (c.vocab_size, c.dim))])
        self._cos, self._sin = rope_tables(c, c.context_length)

    @staticmethod
    def _fused(backend: Backend, records: list[TensorRecord]) -> list[Any]:
        """One handle for records of one type (one product), else one handle each."""
        if len({record.tensor_type for record in records}) == 1:
            return [backend.matrix(records)]
        return [backend.matrix([record]) for record in records]

    def _project(self, handles: list[Any], x: Any) -> Any:
        if len(handles) == 1:
            return self.backend.matmul(handles[0], x)
        # Only files mixing types inside q/k/v or gate/up get here (K-quant mixes): the
        # parts are joined in numpy, whatever the backend.
        parts = [self.backend.to_numpy(self.backend.matmul(handle, x)) for handle in handles]
        return np.concatenate(parts, axis=-1)

    def new_state(self, capacity: int | None = None) -> LlamaState:
        """A fresh sequence whose cache holds ``capacity`` positions (default: the context)."""
        size = self.config.context_length if capacity is None else capacity
        return LlamaState(self.backend.new_cache(self.config, min(size, self.config.context_length)))

    def forward(self, ids: Sequence[int], state: LlamaState, all_logits: bool = False) -> np.ndarray:
        """Run ``ids`` after what ``state`` holds; logits of the last position (vocab,) or of
        every position (T, vocab) as float32 numpy."""
        c = self.config
        backend = self.backend
        tokens = len(ids)
        start = state.position
        if tokens == 0:
            raise ValueError("forward needs at least one token")
        if start + tokens > state.cache.capacity:
            raise ValueError(
                f"sequence of {start + tokens} positions exceeds the cache's {state.cache.capacity}"
            )
        cos = self._cos[start : start + tokens]  # (T, rotary/2)
        sin = self._sin[start : start + tokens]
        x = backend.embed(self.token_embd, ids)  # (T, dim)
        for index, layer in enumerate(self.layers):
            h = backend.rmsnorm(x, layer.attn_norm, c.norm_eps)  # (T, dim)
            qkv = self._project(layer.qkv, h)  # (T, dim + 2 kv_dim)
            q = qkv[:, : c.dim].reshape(tokens, c.n_heads, c.head_dim)
            k = qkv[:, c.dim : c.dim + c.kv_dim].reshape(tokens, c.n_kv_heads, c.head_dim)
            v = qkv[:, c.dim + c.kv_dim :].reshape(tokens, c.n_kv_heads, c.head_dim)
            q = backend.rope(q, cos, sin)
            k = backend.rope(k, cos, sin)
            attended = backend.attention(q, k, v, state.cache, index, start)  # (T, dim)
            x = x + backend.matmul(layer.attn_output, attended)
            h = backend.rmsnorm(x, layer.ffn_norm, c.norm_eps)
            gate_up = self._project(layer.gate_up, h)  # (T, 2 hidden)
            hidden = backend.swiglu(gate_up[:, : c.hidden_dim], gate_up[:, c.hidden_dim :])
            x = x + backend.matmul(layer.ffn_down, hidden)  # (T, dim)
        state.position = start + tokens
        if not all_logits:
            x = x[tokens - 1 :]
        x = backend.rmsnorm(x, self.output_norm, c.norm_eps)
        logits = backend.to_numpy(backend.matmul(self.output, x))  # (T or 1, vocab)
        return logits if all_logits else logits[0]


def load_llama(model_file: ModelFile, backend: Backend | None = None) -> LlamaModel:
    """Build a `LlamaModel` from a parsed file (GGUF, safetensors or llama2.c)."""
    config = config_of(model_file)
    return LlamaModel(config, llama_tensors(model_file, config), backend or NumpyBackend())


__all__ = [
    "HF_TO_GGUF",
    "LAYER_TENSORS",
    "Backend",
    "LlamaConfig",
    "LlamaModel",
    "LlamaState",
    "NumpyBackend",
    "NumpyKVCache",
    "config_of",
    "gguf_name",
    "hf_to_gguf_rope_rows",
    "llama_tensors",
    "load_llama",
    "rope_tables",
]
