"""The public API on a GPU: `load_model(path, backend="torch", device="cuda")` and `generate`.

    python3 benchmarks/device_api_check.py [--device cuda] [--layers 30] [--tokens 128]

Builds the synthetic SmolLM2-135M-shaped GGUF of `device_check.py` (the real file cannot
travel to a lent GPU machine), then times what a user gets through the API -- load,
a 100-token prompt and ``--tokens`` greedy tokens -- on the torch backend (on CUDA through
the recorded-graph decoder `load_model` picks there) and on the numpy backend on the same
machine's CPU, and says how many greedy tokens agree. One JSON line on stdout and in
``$OUT/device_api_check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import device_check

from edgechain.ml import LanguageModel, load_model
from edgechain.ml.weights import TensorType


def timed_generation(model: LanguageModel, prompt: list[int], tokens: int) -> dict[str, Any]:
    began = time.perf_counter()
    stream = model.generate(prompt, max_tokens=tokens)
    first = next(stream)
    first_at = time.perf_counter()
    ids = [first.id] + [token.id for token in stream]
    ended = time.perf_counter()
    return {
        "ids": ids,
        "time_to_first_token_s": first_at - began,
        "decode_tok_s": (len(ids) - 1) / (ended - first_at) if len(ids) > 1 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    metadata = dict(device_check.SMOLLM2_METADATA, **{"llama.block_count": args.layers})
    memory_file = device_check.synthetic_llama(metadata, TensorType.Q4_1, TensorType.Q8_0, seed=7)
    path = Path(tempfile.mkdtemp(prefix="device_api_")) / "synthetic.gguf"
    device_check.write_and_read_gguf(memory_file, path)
    prompt = [int(t) for t in np.random.default_rng(3).integers(0, 49152, size=100)]
    report: dict[str, Any] = {"check": "device_api_check", "layers": args.layers}
    for name, backend, device in (("numpy", "numpy", "cpu"), ("torch", "torch", args.device)):
        began = time.perf_counter()
        model = load_model(path, backend=backend, device=device)
        assert isinstance(model, LanguageModel)
        load_s = time.perf_counter() - began
        timed_generation(model, prompt[:8], 4)  # warm-up: JIT caches, graph recording
        figures = timed_generation(model, prompt, args.tokens)
        figures.update(load_s=load_s, decoder=type(model.decoder).__name__)
        report[name] = figures
    numpy_ids, torch_ids = report["numpy"].pop("ids"), report["torch"].pop("ids")
    agreeing = next(
        (i for i, (a, b) in enumerate(zip(numpy_ids, torch_ids, strict=False)) if a != b), None
    )
    report["greedy_tokens_agreeing"] = len(numpy_ids) if agreeing is None else agreeing
    line = json.dumps(report, sort_keys=True)
    print(line)
    out = Path(os.environ.get("OUT") or ".") / "device_api_check.json"
    out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
