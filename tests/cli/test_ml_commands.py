"""`edgechain ml info|run|embed` on a tiny model written by the test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from tiny_models import make_tiny_llama, write_gguf

from edgechain.cli.main import main
from edgechain.cli.ml_commands import resolve_model_path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cli") / "tiny.gguf"
    return str(write_gguf(path, make_tiny_llama(seed=4), "Q8_0", tokenizer="gpt2"))


def test_info(model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ml", "info", model_path]) == 0
    out = capsys.readouterr().out
    assert "architecture: llama" in out and "vocab_size: 320" in out


def test_run_streams_text_and_reports_speed(
    model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ml", "run", model_path, "--prompt", "Once upon", "--max-tokens", "5"]) == 0
    first = capsys.readouterr()
    assert ("tok/s" in first.err and "5 tokens" in first.err) or "tokens;" in first.err
    args = [
        "ml",
        "run",
        model_path,
        "--prompt",
        "Hi",
        "--chat",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
        "--seed",
        "7",
        "--max-tokens",
        "6",
    ]
    assert main(args) == 0
    sampled = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == sampled


def test_errors_are_one_line(model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ml", "run", "/no/such/model.gguf", "--prompt", "x"]) == 1
    assert "error" in capsys.readouterr().err
    assert main(["ml", "embed", model_path, "text"]) == 1
    assert "not an embedding model" in capsys.readouterr().err


def test_packaged_names_resolve_or_pass_through() -> None:
    assert resolve_model_path("/some/path.gguf") == "/some/path.gguf"
    resolved = resolve_model_path("smollm2")
    assert resolved == "smollm2" or resolved.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_exact_runs_give_one_text_on_both_backends(
    model_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    common = ["--prompt", "Once upon", "--temperature", "5", "--top-k", "0", "--top-p", "1",
              "--seed", "3", "--max-tokens", "12", "--exact"]
    assert main(["ml", "run", model_path, *common]) == 0
    by_numpy = capsys.readouterr().out
    assert main(["ml", "run", model_path, *common, "--backend", "torch"]) == 0
    assert capsys.readouterr().out == by_numpy and by_numpy.strip()
