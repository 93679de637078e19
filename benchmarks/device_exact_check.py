"""Exact mode across machines and devices: the same logits, bit for bit, on any CPU and on CUDA.

    python3 benchmarks/device_exact_check.py                # on the GPU machine
    python3 benchmarks/device_exact_check.py --device cpu   # here: this CPU's digests

The model is `device_check`'s synthetic SmolLM2-135M (its exact shape and tensor types,
Q4_1 matrices, Q8_0 tied embeddings, random weights from a fixed seed: the real file
cannot travel), so every machine builds the same bytes. For a 100-token prompt and 32
greedy tokens it records the SHA-256 of every logit (prefill's last position and each
step's), from:

- ``numpy-exact``: ``NumpyBackend(exact=True)``, the reference (`kernels.exact`);
- ``numpy``: the default numpy backend (a prompt's batch through BLAS: not exact across
  CPUs, whose BLAS kernels differ; its decode steps are);
- ``torch-cpu-exact``: ``TorchBackend("cpu", integer_batches=True)`` (kernel products);
- on CUDA, ``cuda-exact``: ``TorchBackend("cuda", products="exact")``, eager and through a
  captured CUDA graph (`GraphDecoder`), and ``cuda``: the fast default, for speed.

Comparing ``numpy-exact``'s digest printed here with the one printed on another machine
checks bit-exactness across CPUs; ``cuda-exact`` against ``numpy-exact`` on the same run
checks it across devices. Then decode speed (128 tokens) of each. One JSON line on stdout,
also written to ``$OUT/device_exact_check.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import device_check as base

from edgechain.ml.llama import NumpyBackend, load_llama
from edgechain.ml.weights import TensorType

PROMPT_TOKENS = 100
GREEDY_STEPS = 32
SEED = 7


def cpu_description() -> dict[str, Any]:
    """The CPU's model name and the vector extensions that change which code numba emits."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if line.startswith("model name") and "model" not in info:
            info["model"] = line.split(":", 1)[1].strip()
        if line.startswith("flags") and "flags" not in info:
            flags = set(line.split(":", 1)[1].split())
            info["flags"] = sorted(flags & {"avx2", "fma", "avx512f", "avx512_vnni", "avx512bw",
                                            "avx_vnni", "amx_int8"})
    return info


def greedy_digest(model: Any, prompt: list[int]) -> dict[str, Any]:
    """Prefill and 32 greedy steps: tokens, the SHA-256 of every logit, and the logits."""
    tokens, seen = base.greedy_run(model, prompt, GREEDY_STEPS)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(x, np.float32).tobytes() for x in seen))
    return {"tokens": tokens, "sha256": digest.hexdigest(), "logits": seen}


def compare(reference: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """Identical, or where the logits first differ and by how much."""
    same = reference["sha256"] == candidate["sha256"]
    result: dict[str, Any] = {"bit_identical": same, "tokens_equal": reference["tokens"] == candidate["tokens"]}
    if not same:
        for step, (a, b) in enumerate(zip(reference["logits"], candidate["logits"], strict=True)):
            if not np.array_equal(a, b):
                result["first_differing_step"] = step
                result["max_abs_diff_there"] = float(np.abs(a - b).max())
                break
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--decode", type=int, default=128, help="tokens for the speed runs")
    parser.add_argument("--out", default=None)
    arguments = parser.parse_args()

    import torch

    from edgechain.ml.torch_backend import TorchBackend
    from edgechain.ml.torch_graphs import GraphDecoder

    results: dict[str, Any] = {"check": "device_exact_check", "cpu": cpu_description(),
                               "environment": base.environment(torch, arguments.device)}
    began = time.perf_counter()
    model_file = base.synthetic_llama(base.SMOLLM2_METADATA, TensorType.Q4_1, TensorType.Q8_0, SEED)
    results["model_build_s"] = round(time.perf_counter() - began, 1)
    prompt = [int(i) for i in np.random.default_rng(1).integers(0, 49152, PROMPT_TOKENS)]

    runs: dict[str, dict[str, Any]] = {}
    models: dict[str, Any] = {}

    def record(name: str, build: Any) -> None:
        def action() -> dict[str, Any]:
            started = time.perf_counter()
            models[name] = build()
            runs[name] = greedy_digest(models[name], prompt)
            return {"sha256": runs[name]["sha256"], "tokens": runs[name]["tokens"][:8],
                    "seconds": round(time.perf_counter() - started, 1)}
        base.attempt(results, name, action)

    record("numpy-exact", lambda: load_llama(model_file, NumpyBackend(exact=True)))
    record("numpy", lambda: load_llama(model_file, NumpyBackend()))
    record("torch-cpu-exact", lambda: load_llama(model_file, TorchBackend("cpu", integer_batches=True)))
    if arguments.device.startswith("cuda"):
        record("cuda-exact", lambda: load_llama(model_file, TorchBackend(arguments.device, products="exact")))
        if "cuda-exact" in models:
            record("cuda-exact-graph", lambda: GraphDecoder(models["cuda-exact"]))
        record("cuda", lambda: GraphDecoder(load_llama(model_file, TorchBackend(arguments.device))))

    reference = runs.get("numpy-exact")
    if reference is not None:
        results["against_numpy_exact"] = {
            name: compare(reference, run) for name, run in runs.items() if name != "numpy-exact"
        }

    def synchronize() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for name, model in models.items():  # a LlamaModel or a GraphDecoder: the same interface
        base.attempt(results, f"speed {name}", lambda model=model: base.speed(
            model, prompt, arguments.decode, synchronize))

    line = json.dumps(results, sort_keys=True)
    print(line)
    out = Path(arguments.out or os.environ.get("OUT") or ".") / "device_exact_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
