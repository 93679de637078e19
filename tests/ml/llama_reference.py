"""A straightforward float64 Llama in numpy, written for the tests from the definitions.

It shares nothing with `edgechain.ml.llama` but the GGUF tensor names: loops over heads,
RoPE rotating interleaved pairs (x[2i], x[2i+1]) by pos * theta^(-2i/head_dim), causal
softmax attention with grouped key/value heads, SwiGLU, RMSNorm. With
``requantize=True`` every product's input first goes through llama.cpp's 8-bit
activation rule (blocks of 32: scale = f16(amax / 127), q = rint(x * 127 / amax)), which
is what quantized weights see in llama.cpp and in our kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def requantize_8bit(x: np.ndarray) -> np.ndarray:
    """x (T, n) through the 8-bit block rule, back to float64."""
    blocks = np.asarray(x, dtype=np.float32).reshape(x.shape[0], -1, 32)
    amax = np.abs(blocks).max(axis=2, keepdims=True)
    scale = (amax / np.float32(127)).astype(np.float16).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    quants = np.rint(blocks * inverse)
    return (quants * scale).reshape(x.shape)


def reference_logits(
    weights: dict[str, np.ndarray],
    n_heads: int,
    n_kv_heads: int,
    ids: Sequence[int],
    rope_theta: float = 10000.0,
    norm_eps: float = 1e-5,
    requantize: bool = False,
) -> np.ndarray:
    """Logits (T, vocab) in float64 of every position of ``ids``."""
    w = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    embedding = w["token_embd.weight"]
    dim = embedding.shape[1]
    head_dim = dim // n_heads
    group = n_heads // n_kv_heads
    n_layers = len([name for name in w if name.endswith("attn_q.weight")])
    tokens = len(ids)

    def product(x: np.ndarray, name: str) -> np.ndarray:
        return (requantize_8bit(x) if requantize else x) @ w[name].T

    def rmsnorm(x: np.ndarray, name: str) -> np.ndarray:
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + norm_eps) * w[name]

    def rope(x: np.ndarray) -> np.ndarray:  # (T, heads, head_dim)
        out = x.copy()
        for position in range(tokens):
            for pair in range(head_dim // 2):
                angle = position * rope_theta ** (-2.0 * pair / head_dim)
                a = x[position, :, 2 * pair]
                b = x[position, :, 2 * pair + 1]
                out[position, :, 2 * pair] = a * np.cos(angle) - b * np.sin(angle)
                out[position, :, 2 * pair + 1] = a * np.sin(angle) + b * np.cos(angle)
        return out

    x = embedding[list(ids)]
    for layer in range(n_layers):
        prefix = f"blk.{layer}."
        h = rmsnorm(x, prefix + "attn_norm.weight")
        q = rope(product(h, prefix + "attn_q.weight").reshape(tokens, n_heads, head_dim))
        k = rope(product(h, prefix + "attn_k.weight").reshape(tokens, n_kv_heads, head_dim))
        v = product(h, prefix + "attn_v.weight").reshape(tokens, n_kv_heads, head_dim)
        attended = np.zeros((tokens, n_heads, head_dim))
        for head in range(n_heads):
            kv = head // group
            for t in range(tokens):
                scores = k[: t + 1, kv] @ q[t, head] / np.sqrt(head_dim)
                probabilities = np.exp(scores - scores.max())
                probabilities /= probabilities.sum()
                attended[t, head] = probabilities @ v[: t + 1, kv]
        x = x + product(attended.reshape(tokens, dim), prefix + "attn_output.weight")
        h = rmsnorm(x, prefix + "ffn_norm.weight")
        gate = product(h, prefix + "ffn_gate.weight")
        up = product(h, prefix + "ffn_up.weight")
        x = x + product(gate / (1 + np.exp(-gate)) * up, prefix + "ffn_down.weight")
    x = rmsnorm(x, "output_norm.weight")
    head = "output.weight" if "output.weight" in w else "token_embd.weight"
    return product(x, head)


def reference_greedy(
    weights: dict[str, np.ndarray],
    n_heads: int,
    n_kv_heads: int,
    prompt: Sequence[int],
    count: int,
    requantize: bool = False,
) -> tuple[list[int], list[float]]:
    """Greedy continuation of ``prompt`` and the top-1/top-2 logit margin at each step."""
    ids = list(prompt)
    margins: list[float] = []
    for _ in range(count):
        logits = reference_logits(weights, n_heads, n_kv_heads, ids, requantize=requantize)[-1]
        top = np.sort(logits)[-2:]
        margins.append(float(top[1] - top[0]))
        ids.append(int(np.argmax(logits)))
    return ids[len(prompt) :], margins
