"""Sampling: the documented random stream, llama.cpp's filters, reproducibility."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgechain.ml.errors import GenerationError
from edgechain.ml.sampling import (
    DEFAULT_SEED,
    Sampler,
    SamplingParams,
    SeededStream,
    apply_repetition_penalty,
    seed_bytes,
    seed_from_timestamp,
    softmax64,
    top_k_candidates,
    top_p_cut,
)


def test_stream_is_counter_mode_sha256_as_documented() -> None:
    seed = bytes(range(32))
    stream = SeededStream(seed)
    expected = []
    for counter in range(2):
        block = hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        expected += [int.from_bytes(block[i : i + 8], "little") for i in range(0, 32, 8)]
    assert [stream.next_u64() for _ in range(8)] == expected
    first = hashlib.sha256(DEFAULT_SEED + bytes(8)).digest()
    assert SeededStream().uniform() == (int.from_bytes(first[:8], "little") >> 11) * 2.0**-53


def test_seeds() -> None:
    assert bytes(32) == DEFAULT_SEED
    assert seed_bytes(None) == DEFAULT_SEED
    assert seed_bytes(1) == b"\x01" + bytes(31)
    assert seed_bytes(b"\xff" * 32) == b"\xff" * 32
    for bad in (b"short", -1, 1 << 256, "text", True):
        with pytest.raises(GenerationError):
            seed_bytes(bad)  # type: ignore[arg-type]
    assert seed_from_timestamp(1_700_000_000_000_000) != seed_from_timestamp(1_700_000_000_000_001)
    assert len(seed_from_timestamp(0)) == 32
    with pytest.raises(GenerationError):
        seed_from_timestamp(-5)


def test_parameters_are_validated() -> None:
    for bad in (
        {"temperature": -0.1},
        {"temperature": float("nan")},
        {"top_k": -1},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"repetition_penalty": 0.0},
        {"repeat_last_n": -1},
    ):
        with pytest.raises(GenerationError):
            SamplingParams(**bad)  # type: ignore[arg-type]
    assert SamplingParams.greedy().is_greedy


def test_greedy_is_argmax_and_draws_nothing() -> None:
    logits = np.array([0.1, 3.0, 2.9, -1.0], dtype=np.float32)
    sampler = Sampler()
    assert sampler.sample(logits, SamplingParams.greedy()) == 1
    assert sampler.uniform() == Sampler().uniform()  # the stream was not advanced


def test_repetition_penalty_as_llama_cpp_defines_it() -> None:
    logits = np.array([2.0, -2.0, 1.0, 0.5], dtype=np.float32)
    out = apply_repetition_penalty(logits, [0, 1, 1, 9], 2.0)
    np.testing.assert_array_equal(out, [1.0, -4.0, 1.0, 0.5])
    chosen = Sampler().sample(logits, SamplingParams(repetition_penalty=4.0), history=[0])
    assert chosen == 2  # token 0 was penalised below token 2


def test_top_k_orders_by_logit_then_id() -> None:
    logits = np.array([1.0, 5.0, 5.0, 3.0, 5.0], dtype=np.float32)
    assert top_k_candidates(logits, 2).tolist() == [1, 2]
    assert top_k_candidates(logits, 0).tolist() == [1, 2, 4, 3, 0]


def test_top_p_keeps_the_shortest_prefix_reaching_p() -> None:
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    assert top_p_cut(probabilities, 0.5) == 1
    assert top_p_cut(probabilities, 0.79) == 2
    assert top_p_cut(probabilities, 0.81) == 3
    assert top_p_cut(probabilities, 1.0) == 4


def test_top_k_one_and_tiny_top_p_are_greedy() -> None:
    rng = np.random.default_rng(0)
    for seed in range(5):
        logits = rng.standard_normal(50).astype(np.float32)
        sampler = Sampler(seed)
        assert sampler.sample(logits, SamplingParams(temperature=1.5, top_k=1)) == int(
            np.argmax(logits)
        )
        assert sampler.sample(logits, SamplingParams(temperature=1.5, top_p=1e-6)) == int(
            np.argmax(logits)
        )


def test_same_seed_same_tokens_other_seed_other_tokens() -> None:
    logits = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    params = SamplingParams(temperature=0.8, top_k=0, top_p=0.9)

    def draws(seed: int) -> list[int]:
        sampler = Sampler(seed)
        return [sampler.sample(logits, params) for _ in range(50)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_draws_follow_the_filtered_distribution() -> None:
    logits = np.log(np.array([0.5, 0.25, 0.15, 0.1], dtype=np.float32))
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0)
    sampler = Sampler(b"\x07" * 32)
    counts = np.bincount([sampler.sample(logits, params) for _ in range(4000)], minlength=4)
    expected = 4000 * softmax64(logits)
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 16.3  # p = 0.001 for 3 degrees of freedom
    # top_p = 0.7 keeps tokens 0 and 1 only (0.5 + 0.25 reaches 0.7), renormalised
    kept = {
        Sampler(seed).sample(logits, SamplingParams(temperature=1.0, top_k=0, top_p=0.7))
        for seed in range(200)
    }
    assert kept == {0, 1}


def test_temperature_sharpens() -> None:
    logits = np.array([1.0, 0.0], dtype=np.float32)
    cold = SamplingParams(temperature=0.1, top_k=0, top_p=1.0)
    hot = SamplingParams(temperature=10.0, top_k=0, top_p=1.0)
    cold_ones = sum(Sampler(seed).sample(logits, cold) for seed in range(300))
    hot_ones = sum(Sampler(seed).sample(logits, hot) for seed in range(300))
    assert cold_ones < 5 < 100 < hot_ones
