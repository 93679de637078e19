"""The showcase demo, run non-interactively as ``make demo`` would run it, with SmolLM2 (slow).

``apps/showcase_demo.py --non-interactive`` starts 4 validator processes (``edgechain net
up``, SQLite), publishes SmolLM2 as blobs, creates ``llm`` and ``gen_nft`` through the CLI,
streams a story, mints an NFT, prints the page URLs, serves them, and stops the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "demo"
    yield directory
    # Whatever happened, stop every process the network recorded.
    processes_file = directory / "network" / "processes.json"
    if processes_file.exists():
        for pid in json.loads(processes_file.read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


def test_the_demo_tells_a_story_mints_an_nft_and_prints_the_pages(directory: Path) -> None:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, str(ROOT / "apps" / "showcase_demo.py"), "--non-interactive",
         "--dir", str(directory), "--port", "0"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-3000:] + completed.stdout[-3000:]
    output = completed.stdout
    assert "edgechain net up: 4 validator processes on SQLite" in output
    assert re.search(r"model on-chain: manifest:[0-9a-f]{64}", output), output
    assert re.search(r"created llm [0-9a-f]{64}", output) and re.search(
        r"created gen_nft [0-9a-f]{64}", output
    )
    story = output.split("story ('", 1)[1].split("\n", 1)[1].split("\n(", 1)[0]
    assert re.search(r"pieces in [0-9.]+ s; first words \d+ s after the start", output), output
    assert len(story.split()) >= 10, output
    assert re.search(r"minted NFT 'Lighthouse' [0-9a-f]{64} \(block [0-9a-f]{16}…\)", output), (
        output
    )
    content = output.split("its content (the same for everyone):\n", 1)[1].split(
        "\n\ngallery: ", 1
    )[0]
    assert len(content.split()) >= 3, output
    assert re.search(
        r"gallery: http://127\.0\.0\.1:\d+/web/gallery\.html\?chain=[0-9a-f]{64}&app=[0-9a-f]{64}",
        output,
    )
    assert re.search(
        r"stories: http://127\.0\.0\.1:\d+/web/stories\.html\?chain=[0-9a-f]{64}&app=[0-9a-f]{64}",
        output,
    )
    assert output.rstrip().endswith("network stopped")
    assert not (directory / "network" / "processes.json").exists(), "net down stopped every process"
    assert elapsed < 300, f"the demo took {elapsed:.0f} s"
