"""benchmarks/device_check.py runs end to end on CPU, with and without the gguf package.

The GPU machine runs this script once, with no way to fix it there: these tests run the
same steps here, small (one layer, a few tokens), and check the JSON it leaves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "device_check.py"
SMALL = ["--device", "cpu", "--fast", "--layers", "1", "--decode-tokens", "4",
         "--prompt-tokens", "16", "--parity-tokens", "4"]

pytestmark = pytest.mark.slow


def run_check(tmp_path: Path, hide_gguf: bool) -> dict[str, object]:
    out = tmp_path / "device_check.json"
    argv = [str(SCRIPT), *SMALL, "--out", str(out)]
    code = (
        "import runpy, sys\n"
        + ("sys.modules['gguf'] = None  # as on a machine without the package\n" if hide_gguf else "")
        + f"sys.argv = {argv!r}\n"
        + f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary: dict[str, object] = json.loads(out.read_text())
    last_line = result.stdout.strip().splitlines()[-1]
    assert json.loads(last_line) == summary
    return summary


@pytest.mark.parametrize("hide_gguf", [False, True], ids=["with-gguf", "without-gguf"])
def test_device_check_runs_on_cpu(tmp_path: Path, hide_gguf: bool) -> None:
    summary = run_check(tmp_path, hide_gguf)
    errors = {key: value for key, value in summary.items()
              if isinstance(value, dict) and "error" in value}
    assert errors == {}
    tiny = summary["tiny_parity"]
    assert isinstance(tiny, dict) and tiny
    if hide_gguf:
        assert all(kind.startswith("memory-") for kind in tiny)
    else:
        assert {"gguf-Q4_1", "gguf-Q8_0", "safetensors-F32", "llama2c-v2"} <= set(tiny)
    for report in tiny.values():
        assert report["greedy_tokens_agreeing"] == report["greedy_tokens"] == 4
        assert report["prompt_max_abs_diff"] <= 1e-3 * max(1.0, report["prompt_max_abs_logit"])
    build = summary["synthetic_build"]
    assert isinstance(build, dict)
    assert build["source"] == ("memory" if hide_gguf else "gguf file")
    for key in ("numpy_speed", "torch_cpu_speed", "torch_cpu_graph_decode",
                "torch_cpu_float16_graph_decode"):
        figures = summary[key]
        assert isinstance(figures, dict)
        assert figures["decode_tok_s"] > 0 and figures["prefill_tok_s"] > 0
    parity = summary["synthetic_parity"]
    assert isinstance(parity, dict)
    assert parity["greedy_tokens"] == 4
