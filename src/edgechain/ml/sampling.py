"""Choosing the next token: sampling parameters, llama.cpp's filters, and a seeded PRNG.

The random stream is a documented function of a 32-byte seed, independent of numpy's
and torch's generators and of their versions:

    block(n) = SHA-256(seed || n as 8 bytes little-endian)        n = 0, 1, 2, ...
    the stream of uint64 = the 4 little-endian uint64 of block(0), then of block(1), ...
    uniform() = (next uint64 >> 11) * 2**-53                    in [0, 1)

A `Sampler` draws exactly one uniform per sampled token and none for greedy choices
(temperature 0). The default seed is 32 zero bytes, as in the seed system;
`seed_from_timestamp` derives one from a time for applications that want variety.

The filters are llama.cpp's (``llama-sampling.cpp``), applied in its default order:
repetition penalty over the last ``repeat_last_n`` tokens (a positive logit is divided
by the penalty, a negative one multiplied), top-k, top-p (softmax of the remaining
logits, keep the shortest prefix whose probability reaches p), temperature, then a
draw from the softmax. Candidates are ordered by (logit descending, id ascending), so
ties break the same way everywhere; probabilities are computed in float64.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgechain.ml.errors import GenerationError

SEED_BYTES = 32
DEFAULT_SEED = bytes(SEED_BYTES)
"""The seed system's fixed seed: 32 zero bytes."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How the next token is chosen (llama.cpp's meanings; temperature 0 = greedy)."""

    temperature: float = 0.0
    """Divides the logits before the draw; 0 takes the argmax."""
    top_k: int = 40
    """Keep the k most likely tokens; 0 keeps all."""
    top_p: float = 0.95
    """Keep the most likely tokens whose probabilities sum to at least p; 1 keeps all."""
    repetition_penalty: float = 1.0
    """Penalty on tokens among the last ``repeat_last_n``; 1 disables it."""
    repeat_last_n: int = 64
    """How many recent tokens the penalty looks at; 0 disables it."""

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise GenerationError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise GenerationError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise GenerationError(
                f"repetition_penalty must be > 0, got {self.repetition_penalty}"
            )
        if self.repeat_last_n < 0:
            raise GenerationError(f"repeat_last_n must be >= 0, got {self.repeat_last_n}")

    @property
    def is_greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def greedy(cls) -> SamplingParams:
        """Always the most likely token."""
        return cls(temperature=0.0)


def seed_bytes(seed: bytes | int | None) -> bytes:
    """A seed as 32 bytes: bytes as they are, an int little-endian, None the default."""
    if seed is None:
        return DEFAULT_SEED
    if isinstance(seed, (bytes, bytearray)):
        if len(seed) != SEED_BYTES:
            raise GenerationError(f"a seed has {SEED_BYTES} bytes, got {len(seed)}")
        return bytes(seed)
    if isinstance(seed, int) and not isinstance(seed, bool):
        if not 0 <= seed < 1 << (8 * SEED_BYTES):
            raise GenerationError("an integer seed must be in [0, 2**256)")
        return seed.to_bytes(SEED_BYTES, "little")
    raise GenerationError(f"a seed is 32 bytes or an int, got {type(seed).__name__}")


def seed_from_timestamp(micros: int) -> bytes:
    """A seed for applications that want variety: SHA-256 of a tag and the time in µs."""
    if micros < 0:
        raise GenerationError(f"timestamp must be >= 0, got {micros}")
    return hashlib.sha256(b"edgechain.ml.seed" + micros.to_bytes(8, "little")).digest()


class SeededStream:
    """Counter-mode SHA-256 over the seed: the module docstring defines the stream."""

    def __init__(self, seed: bytes | int | None = None) -> None:
        self._seed = seed_bytes(seed)
        self._counter = 0
        self._buffer: list[int] = []

    def next_u64(self) -> int:
        if not self._buffer:
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "little")).digest()
            self._counter += 1
            self._buffer = [
                int.from_bytes(block[offset : offset + 8], "little") for offset in (24, 16, 8, 0)
            ]
        return self._buffer.pop()

    def uniform(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.next_u64() >> 11) * 2.0**-53


def apply_repetition_penalty(
    logits: np.ndarray, recent: Sequence[int], penalty: float
) -> np.ndarray:
    """llama.cpp's penalty on each distinct recent token: divide positive logits, multiply
    negative ones. Returns a new float32 array."""
    out = np.array(logits, dtype=np.float32)
    if penalty == 1.0 or not recent:
        return out
    tokens = np.unique(np.asarray(recent, dtype=np.int64))
    tokens = tokens[(tokens >= 0) & (tokens < out.size)]
    values = out[tokens]
    out[tokens] = np.where(values > 0, values / np.float32(penalty), values * np.float32(penalty))
    return out


def _ranked(logits: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` sorted by logit descending, then id ascending."""
    return candidates[np.lexsort((candidates, -logits[candidates]))]


def top_k_candidates(logits: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k best logits in (logit desc, id asc) order; k = 0 means all."""
    size = logits.size
    if k <= 0 or k >= size:
        return _ranked(logits, np.arange(size))
    threshold = np.partition(logits, size - k)[size - k]
    return _ranked(logits, np.flatnonzero(logits >= threshold))[:k]


def softmax64(values: np.ndarray) -> np.ndarray:
    """Softmax in float64."""
    shifted = np.asarray(values, dtype=np.float64) - np.max(values)
    weights = np.exp(shifted)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def top_p_cut(probabilities: np.ndarray, p: float) -> int:
    """How many of the (sorted) candidates top-p keeps: the first prefix reaching p."""
    if p >= 1.0:
        return int(probabilities.size)
    cumulative = np.cumsum(probabilities)
    reached = np.flatnonzero(cumulative >= p)
    return int(reached[0]) + 1 if reached.size else int(probabilities.size)


class Sampler:
    """Picks tokens from logits with its own seeded stream (see the module docstring)."""

    def __init__(self, seed: bytes | int | None = None) -> None:
        self.seed = seed_bytes(seed)
        self._stream = SeededStream(self.seed)

    def uniform(self) -> float:
        return self._stream.uniform()

    def sample(
        self, logits: np.ndarray, params: SamplingParams, history: Sequence[int] = ()
    ) -> int:
        """The next token id for ``logits`` (vocab,), given the ids generated so far."""
        values = np.asarray(logits, dtype=np.float32).reshape(-1)
        if params.repeat_last_n and params.repetition_penalty != 1.0:
            recent = list(history)[-params.repeat_last_n :]
            values = apply_repetition_penalty(values, recent, params.repetition_penalty)
        if params.is_greedy:
            return int(np.argmax(values))
        candidates = top_k_candidates(values, params.top_k)  # ids, best first
        kept = values[candidates]
        keep = top_p_cut(softmax64(kept), params.top_p)
        candidates, kept = candidates[:keep], kept[:keep]
        probabilities = softmax64(kept.astype(np.float64) / params.temperature)
        threshold = self.uniform()
        cumulative = np.cumsum(probabilities)
        index = int(np.searchsorted(cumulative, threshold * cumulative[-1], side="right"))
        return int(candidates[min(index, candidates.size - 1)])


__all__ = [
    "DEFAULT_SEED",
    "Sampler",
    "SamplingParams",
    "SeededStream",
    "apply_repetition_penalty",
    "seed_bytes",
    "seed_from_timestamp",
    "softmax64",
    "top_k_candidates",
    "top_p_cut",
]
