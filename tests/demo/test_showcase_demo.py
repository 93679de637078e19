"""The showcase demo, run non-interactively as a user runs it, with SmolLM2 (slow).

A first process runs ``apps/showcase_demo.py --non-interactive``: 4 validators on SQLite,
SmolLM2 published as blobs, a streamed story, a minted NFT, the page URLs. A second
process reopens the validators' storage and reads the NFT's content through its own
service and its own model load: the bytes must be identical.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

READ_AGAIN = textwrap.dedent(
    """\
    import json, sys
    from edgechain.base.identifiers import ApplicationId
    from edgechain.testing import ApplicationTester

    directory, app, token = sys.argv[1:4]
    tester = ApplicationTester.create(validators=4, users=2, directory=directory)
    try:
        query = {"query": "query($t: String!) { nft(tokenId: $t) { content } }", "variables": {"t": token}}
        answers = [tester.query(ApplicationId.from_hex(app), query, validator=v) for v in (0, 2)]
        print(json.dumps(answers))
    finally:
        tester.close()
    """
)


def test_the_demo_tells_a_story_mints_an_nft_and_prints_the_pages(tmp_path: Path) -> None:
    directory = tmp_path / "network"
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "apps" / "showcase_demo.py"),
            "--non-interactive",
            "--dir",
            str(directory),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout
    story = output.split("story ('", 1)[1].split("\n", 1)[1].split("\n\nminted NFT", 1)[0]
    assert len(story.split()) >= 10, output
    nft = re.search(r"minted NFT 'Lighthouse' ([0-9a-f]{64}) in block (\d+)", output)
    assert nft is not None, output
    content = output.split("its content (the same for everyone):\n", 1)[1].split(
        "\n\ngallery: ", 1
    )[0]
    assert content.strip()
    gen_nft = re.search(r"created gen_nft ([0-9a-f]{64})", output)
    assert gen_nft is not None
    assert re.search(
        r"gallery: http://127\.0\.0\.1:\d+/web/gallery\.html\?chain=[0-9a-f]{64}&app=", output
    )
    assert re.search(
        r"stories: http://127\.0\.0\.1:\d+/web/stories\.html\?chain=[0-9a-f]{64}&app=", output
    )
    assert elapsed < 300, f"the demo took {elapsed:.0f} s"

    script = tmp_path / "read_again.py"
    script.write_text(READ_AGAIN)
    again = subprocess.run(
        [sys.executable, str(script), str(directory), gen_nft.group(1), nft.group(1)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    answers = json.loads(again.stdout.strip().splitlines()[-1])
    assert [answer["data"]["nft"]["content"] for answer in answers] == [content, content]
