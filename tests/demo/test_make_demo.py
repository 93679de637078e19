"""`make demo` from a clean clone of the repository, non-interactively (slow).

The clone gets its own `.venv`, made here; so that the run does not download and build
every dependency again, that venv sees this one's site-packages through a `.pth` file. The
Makefile's own install step still runs (pip installs the clone's edgechain into the clone's
venv), then the showcase: validator processes, SmolLM2 on-chain, a story and an NFT.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def demo_directory(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "demo"
    yield directory
    processes_file = directory / "network" / "processes.json"
    if processes_file.exists():  # whatever happened, stop every process the network recorded
        for pid in json.loads(processes_file.read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


def test_make_demo_from_a_clean_clone(tmp_path: Path, demo_directory: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone / ".venv").exists()
    subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True, timeout=120)
    clone_site = Path(
        subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "-c",
             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    (clone_site / "shared-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    # As a user types it: not inside another make (whose variables would reach this one).
    outer = {"VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}
    environment = {key: value for key, value in os.environ.items() if key not in outer}
    arguments = f"--non-interactive --dir {demo_directory} --port 0"
    completed = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DEMO_ARGS={arguments}"],
        cwd=clone, env=environment, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    output = completed.stdout
    assert completed.returncode == 0, completed.stderr[-4000:] + output[-4000:]
    # The clone's own edgechain ran, installed by its Makefile into its own venv.
    located = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import edgechain; print(edgechain.__file__)"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert located.startswith(str(clone)), located
    assert re.search(r"model on-chain: manifest:[0-9a-f]{64}", output), output[-4000:]
    story = output.split("story ('", 1)[1].split("\n", 1)[1].split("\n(", 1)[0]
    assert len(story.split()) >= 10, output[-4000:]
    assert re.search(r"minted NFT '[^']+' [0-9a-f]{64}", output), output[-4000:]
    content = output.split("its content (the same for everyone):\n", 1)[1].split("\n\n", 1)[0]
    assert len(content.split()) >= 3, output[-4000:]
    assert output.rstrip().endswith("network stopped"), output[-2000:]
