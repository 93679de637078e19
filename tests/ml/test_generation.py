"""The generate loop: streaming, stopping, limits, and reproducibility across runs and threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import make_tiny_llama, write_gguf

from edgechain.ml.errors import GenerationError
from edgechain.ml.formats import open_model_file
from edgechain.ml.generation import generate
from edgechain.ml.llama import load_llama
from edgechain.ml.sampling import Sampler, SamplingParams
from edgechain.ml.tokenizers import tokenizer_from_model_file

SAMPLED = SamplingParams(temperature=0.8, top_p=0.9)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "tiny-q4_1.gguf"
    return write_gguf(path, make_tiny_llama(seed=11, seq_len=48), "Q4_1", tokenizer="gpt2")


def _ids(
    model_path: Path, sampling: SamplingParams | None, seed: int = 0, count: int = 20
) -> list[int]:
    model_file = open_model_file(model_path)
    model = load_llama(model_file)
    return [
        token.id
        for token in generate(
            model, [5, 6, 7], count, sampling, Sampler(seed), stop_ids=frozenset()
        )
    ]


def test_streamed_text_is_the_decoded_ids(model_path: Path) -> None:
    model_file = open_model_file(model_path)
    tokenizer = tokenizer_from_model_file(model_file)
    tokens = list(
        generate(
            load_llama(model_file),
            tokenizer.encode("Once upon"),
            16,
            SAMPLED,
            Sampler(3),
            tokenizer=tokenizer,
            stop_ids=frozenset(),
        )
    )
    assert len(tokens) == 16
    assert "".join(t.text for t in tokens) == tokenizer.decode([t.id for t in tokens])


def test_stops_before_an_end_token_and_at_max_tokens(model_path: Path) -> None:
    model = load_llama(open_model_file(model_path))
    free = [t.id for t in generate(model, [5, 6, 7], 10, stop_ids=frozenset())]
    assert len(free) == 10
    stop = free[4]
    first_stop = free.index(stop)
    stopped = [t.id for t in generate(model, [5, 6, 7], 10, stop_ids=frozenset({stop}))]
    assert stopped == free[:first_stop]
    assert list(generate(model, [5], 0)) == []


def test_context_bounds_generation(model_path: Path) -> None:
    model = load_llama(open_model_file(model_path))  # context 48
    assert len(list(generate(model, list(range(40)), 100, stop_ids=frozenset()))) == 8
    with pytest.raises(GenerationError, match="context"):
        list(generate(model, list(range(49)), 1))
    with pytest.raises(GenerationError, match="max_tokens"):
        list(generate(model, [1], -1))
    with pytest.raises(GenerationError, match="no tokens"):
        list(generate(model, [], 1))


def test_same_seed_same_ids_across_runs(model_path: Path) -> None:
    assert _ids(model_path, None) == _ids(model_path, None)
    assert _ids(model_path, SAMPLED, seed=9) == _ids(model_path, SAMPLED, seed=9)
    assert _ids(model_path, SAMPLED, seed=9) != _ids(model_path, SAMPLED, seed=10)


SCRIPT = """
import json, sys, numba
from edgechain.ml import load_model, SamplingParams
numba.set_num_threads(int(sys.argv[2]))
model = load_model(sys.argv[1])
greedy = [t.id for t in model.generate([5, 6, 7], 24)]
sampled = [t.id for t in model.generate([5, 6, 7], 24, SamplingParams(temperature=0.8, top_p=0.9), seed=4)]
print(json.dumps({"threads": numba.get_num_threads(), "greedy": greedy, "sampled": sampled}))
"""


def run_with_threads(model: str, threads: int) -> dict[str, object]:
    """Generate in a fresh process with ``threads`` numba threads; its ids as JSON."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, model, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_same_ids_with_one_and_two_threads(model_path: Path) -> None:
    one = run_with_threads(str(model_path), 1)
    two = run_with_threads(str(model_path), 2)
    assert (one["threads"], two["threads"]) == (1, 2)
    assert one["greedy"] == two["greedy"]
    assert one["sampled"] == two["sampled"]
