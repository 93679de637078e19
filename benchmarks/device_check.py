"""The GPU check: the torch backend on CUDA against the numpy backend, on one lent machine.

    python3 benchmarks/device_check.py                      # on the GPU machine (CUDA)
    python3 benchmarks/device_check.py --device cpu --fast  # here: the same steps, small

Self-contained: it needs numpy, numba and torch; nothing from the network, no model file.
The real SmolLM2 file (98 MB) cannot travel, so it builds a synthetic model of exactly
SmolLM2-135M-Instruct's shape and tensor types (dim 576, hidden 1536, 30 layers, 9 heads,
3 KV heads, vocab 49152, tied embeddings; token_embd Q8_0, matrices Q4_1, norms F32;
rope base 100000, eps 1e-5, as read from the real file) with random weights, quantized
here by ggml's reference rules. When the ``gguf`` package is importable the model is also
written as a GGUF file and read back through ``edgechain.ml.formats`` (the load time then
includes parsing); otherwise it is handed to the loader in memory (said in the output).

Steps (each one's failure is recorded and the others still run):
1. parity on tiny models (every GGUF type the test writers make, safetensors, llama2.c, when
   ``tests/ml/tiny_models.py`` can be imported; else tiny in-memory Q4_1/Q8_0/F32 models):
   max |logit diff| over an 8-token prompt and greedy agreement over 32 tokens;
2. the synthetic SmolLM2: the same parity (prompt of ~100 tokens, 32 greedy tokens;
   at a divergence the numpy top-1/top-2 margin there is reported; beside it, how far numpy's
   own logits move under one ulp of input noise, the yardstick for that difference), then for the numpy
   backend and the torch backend on the device (eager; and CUDA-graph decode when the
   backend offers it): load time, prefill tok/s, time to first token, decode tok/s over
   128 tokens, GPU memory, peak RSS; and the graph decode again with float16 weights
   (parity and speed: the measured case for float32 as the default);
3. one JSON summary line on stdout, also written to ``$OUT/device_check.json`` (or
   ``--out``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "ml"))


def _import_engine() -> str | None:
    """Import ``edgechain.ml``; when its package init fails (it imports the formats, which
    need ``gguf`` and PyYAML), register the package without running its init: the Llama
    model, the backends and the weights need neither. Returns the init's error, if any."""
    try:
        importlib.import_module("edgechain.ml")
    except ImportError as exc:
        for name in [name for name in sys.modules if name.startswith("edgechain.ml")]:
            del sys.modules[name]
        importlib.import_module("edgechain")
        package = types.ModuleType("edgechain.ml")
        package.__path__ = [str(ROOT / "src" / "edgechain" / "ml")]
        sys.modules["edgechain.ml"] = package
        return f"{type(exc).__name__}: {exc}"
    return None


def _fail_early(exc: BaseException) -> None:
    """An import failed before any step could run: still leave the JSON, then stop."""
    results = {"check": "device_check", "python": platform.python_version(),
               "fatal": {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=8)}}
    print(json.dumps(results, sort_keys=True))
    out_path = Path(os.environ.get("OUT") or ".") / "device_check.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    sys.exit(1)


try:
    ENGINE_INIT_ERROR = _import_engine()
    from edgechain.ml.llama import LlamaModel, NumpyBackend, load_llama
    from edgechain.ml.weights import ModelFile, TensorRecord, TensorType
except Exception as exc:  # numba, numpy or the engine itself missing
    _fail_early(exc)

SMOLLM2_METADATA: dict[str, Any] = {
    "general.architecture": "llama",
    "general.name": "synthetic SmolLM2-135M shape",
    "llama.block_count": 30,
    "llama.context_length": 8192,
    "llama.embedding_length": 576,
    "llama.feed_forward_length": 1536,
    "llama.attention.head_count": 9,
    "llama.attention.head_count_kv": 3,
    "llama.rope.freq_base": 100000.0,
    "llama.attention.layer_norm_rms_epsilon": 9.999999747378752e-06,
    "llama.vocab_size": 49152,
    "llama.rope.dimension_count": 64,
}
"""The real file's ``llama.*`` keys (read from SmolLM2-135M-Instruct.Q4_1.gguf)."""


# ---------------------------------------------------------------------------- quantizers


def _f16_bytes(values: np.ndarray) -> np.ndarray:
    """float32 (n,) to little-endian float16 bytes (n, 2)."""
    return values.astype("<f2").view(np.uint8).reshape(-1, 2)


def quantize_q8_0(weight: np.ndarray) -> np.ndarray:
    """ggml's ``quantize_row_q8_0_ref``: per block of 32, d = amax / 127, q = round(x / d)."""
    rows = weight.shape[0]
    blocks = weight.reshape(-1, 32).astype(np.float32)
    d = np.abs(blocks).max(axis=1) / np.float32(127.0)
    inverse = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    scaled = blocks * inverse[:, None]
    quants = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int8)  # roundf
    out = np.concatenate([_f16_bytes(d), quants.view(np.uint8)], axis=1)  # (n, 34)
    return out.reshape(rows, -1)


def quantize_q4_1(weight: np.ndarray) -> np.ndarray:
    """ggml's ``quantize_row_q4_1_ref``: d = (max - min) / 15, q = trunc((x - min) / d + 0.5)."""
    rows = weight.shape[0]
    blocks = weight.reshape(-1, 32).astype(np.float32)
    low = blocks.min(axis=1)
    high = blocks.max(axis=1)
    d = (high - low) / np.float32(15.0)
    inverse = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    quants = np.minimum(15, ((blocks - low[:, None]) * inverse[:, None] + 0.5).astype(np.int8))
    quants = quants.astype(np.uint8)
    packed = quants[:, :16] | (quants[:, 16:] << 4)
    out = np.concatenate([_f16_bytes(d), _f16_bytes(low), packed], axis=1)  # (n, 20)
    return out.reshape(rows, -1)


# ---------------------------------------------------------------------------- models


def synthetic_llama(
    metadata: dict[str, Any], matrix_type: TensorType, embedding_type: TensorType, seed: int
) -> ModelFile:
    """A random Llama of ``metadata``'s shape, tied embeddings, quantized as asked, in memory."""
    rng = np.random.default_rng(seed)
    dim = int(metadata["llama.embedding_length"])
    hidden = int(metadata["llama.feed_forward_length"])
    layers = int(metadata["llama.block_count"])
    heads = int(metadata["llama.attention.head_count"])
    kv_dim = dim // heads * int(metadata["llama.attention.head_count_kv"])
    vocab = int(metadata["llama.vocab_size"])
    quantizers = {TensorType.Q4_1: quantize_q4_1, TensorType.Q8_0: quantize_q8_0}
    tensors: dict[str, TensorRecord] = {}

    def add_matrix(name: str, rows: int, cols: int, tensor_type: TensorType, std: float) -> None:
        weight = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(std)
        data = weight if tensor_type == TensorType.F32 else quantizers[tensor_type](weight)
        tensors[name] = TensorRecord(name, (rows, cols), tensor_type, data)

    def add_norm(name: str) -> None:
        values = (1.0 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        tensors[name] = TensorRecord(name, (dim,), TensorType.F32, values)

    add_matrix("token_embd.weight", vocab, dim, embedding_type, 0.1)  # logits of O(10)
    for i in range(layers):
        add_norm(f"blk.{i}.attn_norm.weight")
        add_matrix(f"blk.{i}.attn_q.weight", dim, dim, matrix_type, dim**-0.5)
        add_matrix(f"blk.{i}.attn_k.weight", kv_dim, dim, matrix_type, dim**-0.5)
        add_matrix(f"blk.{i}.attn_v.weight", kv_dim, dim, matrix_type, dim**-0.5)
        add_matrix(f"blk.{i}.attn_output.weight", dim, dim, matrix_type, dim**-0.5)
        add_norm(f"blk.{i}.ffn_norm.weight")
        add_matrix(f"blk.{i}.ffn_gate.weight", hidden, dim, matrix_type, dim**-0.5)
        add_matrix(f"blk.{i}.ffn_up.weight", hidden, dim, matrix_type, dim**-0.5)
        add_matrix(f"blk.{i}.ffn_down.weight", dim, hidden, matrix_type, hidden**-0.5)
    add_norm("output_norm.weight")
    return ModelFile("gguf", dict(metadata), tensors, "synthetic")


def write_and_read_gguf(model_file: ModelFile, path: Path) -> ModelFile:
    """Write ``model_file`` with gguf.GGUFWriter and parse it back with edgechain's reader."""
    gguf = importlib.import_module("gguf")
    from edgechain.ml.formats import read_gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    for key, value in model_file.metadata.items():
        if key == "general.architecture":
            continue
        if isinstance(value, float):
            writer.add_float32(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        else:
            writer.add_string(key, str(value))
    for name, record in model_file.tensors.items():
        if record.tensor_type == TensorType.F32:
            writer.add_tensor(name, np.asarray(record.data, dtype=np.float32))
        else:
            qtype = gguf.GGMLQuantizationType[record.tensor_type.name]
            writer.add_tensor(name, np.asarray(record.data), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return read_gguf(path)


def tiny_model_files(directory: Path) -> dict[str, ModelFile]:
    """Tiny models in every format the test writers make, or in-memory ones without gguf."""
    try:
        tiny = importlib.import_module("tiny_models")
        from edgechain.ml.formats import open_model_file
    except ImportError as exc:
        print(f"tiny_models unavailable ({exc}); using in-memory tiny models", file=sys.stderr)
        metadata = dict(SMOLLM2_METADATA, **{
            "llama.block_count": 2, "llama.embedding_length": 64,
            "llama.feed_forward_length": 128, "llama.attention.head_count": 4,
            "llama.attention.head_count_kv": 2, "llama.vocab_size": 320,
            "llama.context_length": 128, "llama.rope.dimension_count": 16,
        })
        return {
            f"memory-{matrix.name}": synthetic_llama(metadata, matrix, embedding, seed=7)
            for matrix, embedding in [(TensorType.F32, TensorType.F32),
                                      (TensorType.Q8_0, TensorType.Q8_0),
                                      (TensorType.Q4_1, TensorType.Q8_0)]
        }
    files: dict[str, ModelFile] = {}
    for kind in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"]:
        model = tiny.make_tiny_llama(seed=3, tied=kind in ("Q4_1", "Q8_0"))
        path = tiny.write_gguf(directory / f"tiny-{kind}.gguf", model, kind)
        files[f"gguf-{kind}"] = open_model_file(path)
    model = tiny.make_tiny_llama(seed=3)
    files["safetensors-F32"] = open_model_file(tiny.write_safetensors(directory / "hf", model))
    for version in (0, 2):
        path = tiny.write_llama2c(directory / f"tiny-v{version}.bin", model, version=version)
        files[f"llama2c-v{version}"] = open_model_file(path)
    return files


# ---------------------------------------------------------------------------- measuring


def greedy_run(model: LlamaModel, prompt: list[int], steps: int) -> tuple[list[int], list[np.ndarray]]:
    state = model.new_state(len(prompt) + steps + 1)
    logits = model.forward(prompt, state)
    seen = [logits]
    tokens: list[int] = []
    for _ in range(steps):
        tokens.append(int(np.argmax(logits)))
        logits = model.forward([tokens[-1]], state)
        seen.append(logits)
    return tokens, seen


def parity(reference: LlamaModel, candidate: LlamaModel, prompt: list[int], steps: int) -> dict[str, Any]:
    """Prompt logits diff (all positions), greedy agreement, and the margin where they part."""
    expected = reference.forward(prompt, reference.new_state(len(prompt)), all_logits=True)
    got = candidate.forward(prompt, candidate.new_state(len(prompt)), all_logits=True)
    tokens_ref, logits_ref = greedy_run(reference, prompt, steps)
    tokens_cand, logits_cand = greedy_run(candidate, prompt, steps)
    agree = next((i for i, (a, b) in enumerate(zip(tokens_ref, tokens_cand, strict=True))
                  if a != b), steps)
    step_diffs = [float(np.abs(a - b).max()) for a, b in zip(logits_ref, logits_cand, strict=True)]
    result: dict[str, Any] = {
        "prompt_max_abs_diff": float(np.abs(expected - got).max()),
        "prompt_median_abs_diff": float(np.median(np.abs(expected - got))),
        "prompt_max_abs_logit": float(np.abs(expected).max()),
        "prompt_argmax_equal": bool(np.array_equal(expected.argmax(-1), got.argmax(-1))),
        "greedy_tokens_agreeing": agree,
        "greedy_tokens": steps,
        "step_max_abs_diff": max(step_diffs[: agree + 1]),
    }
    if agree < steps:
        top = np.sort(logits_ref[agree])[-2:]
        result["divergence_margin_numpy_top1_top2"] = float(top[1] - top[0])
    return result


class _UlpNoiseBackend(NumpyBackend):
    """The numpy backend with one ulp of noise on half the embedding values: how far the
    model's own logits move under a rounding-sized change (the 8-bit activation rule
    amplifies such changes), the yardstick for a cross-backend difference."""

    def embed(self, table: Any, ids: Any) -> np.ndarray:
        values = super().embed(table, ids)
        chosen = np.random.default_rng(9).integers(0, 2, size=values.shape).astype(bool)
        return np.where(chosen, np.nextafter(values, np.float32(np.inf)), values).astype(np.float32)


def rounding_sensitivity(model_file: ModelFile, reference: LlamaModel, prompt: list[int]) -> dict[str, float]:
    """numpy vs numpy with one-ulp noise on its inputs, over the prompt's logits."""
    noisy = load_llama(model_file, _UlpNoiseBackend())
    expected = reference.forward(prompt, reference.new_state(len(prompt)), all_logits=True)
    got = noisy.forward(prompt, noisy.new_state(len(prompt)), all_logits=True)
    return {"max_abs_diff": float(np.abs(expected - got).max()),
            "median_abs_diff": float(np.median(np.abs(expected - got)))}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def speed(model: LlamaModel, prompt: list[int], decode_tokens: int, sync: Callable[[], None],
          step: Callable[[list[int], Any], np.ndarray] | None = None) -> dict[str, float]:
    """Prefill tok/s, time to first token, decode tok/s (warm: one warm-up run first)."""
    forward = step or (lambda ids, state: model.forward(ids, state))
    capacity = len(prompt) + decode_tokens + 1
    warm = model.new_state(capacity)
    token = int(np.argmax(forward(prompt, warm)))
    for _ in range(4):
        token = int(np.argmax(forward([token], warm)))
    sync()
    state = model.new_state(capacity)
    began = time.perf_counter()
    logits = forward(prompt, state)
    token = int(np.argmax(logits))
    first = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(decode_tokens):
        token = int(np.argmax(forward([token], state)))
    sync()
    decode = time.perf_counter() - began
    return {
        "prefill_tokens": len(prompt),
        "prefill_tok_s": len(prompt) / first,
        "time_to_first_token_s": first,
        "decode_tokens": decode_tokens,
        "decode_tok_s": decode_tokens / decode,
    }


def attempt(results: dict[str, Any], key: str, action: Callable[[], Any]) -> Any:
    """Run one step; on failure record the error under ``key`` and go on."""
    began = time.perf_counter()
    try:
        value = action()
    except Exception as exc:  # the check reports every failure and goes on
        results[key] = {"error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=6)}
        print(f"[{key}] FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if value is not None:
        results[key] = value
    print(f"[{key}] {time.perf_counter() - began:.1f}s {json.dumps(value)[:400]}", file=sys.stderr)
    return value


# ---------------------------------------------------------------------------- main


def environment(torch: Any, device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    try:
        info["numba"] = importlib.import_module("numba").__version__
    except ImportError:
        info["numba"] = None
    try:
        importlib.import_module("gguf")
        info["gguf"] = True
    except ImportError:
        info["gguf"] = False
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--fast", action="store_true", help="4 layers, 32 decode tokens")
    parser.add_argument("--layers", type=int, default=None, help="synthetic model layers")
    parser.add_argument("--decode-tokens", type=int, default=None)
    parser.add_argument("--prompt-tokens", type=int, default=100)
    parser.add_argument("--parity-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default $OUT/...)")
    args = parser.parse_args()
    layers = args.layers or (4 if args.fast else 30)
    decode_tokens = args.decode_tokens or (32 if args.fast else 128)
    out_dir = Path(os.environ.get("OUT") or ".")
    out_path = args.out or out_dir / "device_check.json"
    started = time.perf_counter()

    import torch

    from edgechain.ml.torch_backend import TorchBackend

    results: dict[str, Any] = {"check": "device_check", "device": args.device,
                               "environment": environment(torch, args.device),
                               "synthetic_layers": layers}
    if ENGINE_INIT_ERROR is not None:
        results["environment"]["edgechain_ml_init_skipped"] = ENGINE_INIT_ERROR
    is_cuda = args.device.startswith("cuda")

    def sync() -> None:
        if is_cuda:
            torch.cuda.synchronize()

    def steps() -> None:
        scratch = Path(tempfile.mkdtemp(prefix="device_check_"))

        # 1. tiny models
        def tiny_parity() -> dict[str, Any]:
            report: dict[str, Any] = {}
            for kind, model_file in tiny_model_files(scratch).items():
                reference = load_llama(model_file, NumpyBackend())
                candidate = load_llama(model_file, TorchBackend(args.device))
                report[kind] = parity(reference, candidate, [1, 5, 9, 33, 200, 7, 64, 12],
                                      args.parity_tokens)
            return report

        attempt(results, "tiny_parity", tiny_parity)

        # 2. the synthetic SmolLM2
        metadata = dict(SMOLLM2_METADATA, **{"llama.block_count": layers})
        began = time.perf_counter()
        memory_file = synthetic_llama(metadata, TensorType.Q4_1, TensorType.Q8_0, seed=2024)
        results["synthetic_build"] = {"seconds": time.perf_counter() - began, "layers": layers,
                                      "source": "memory"}
        model_file = memory_file
        try:
            began = time.perf_counter()
            model_file = write_and_read_gguf(memory_file, scratch / "synthetic.gguf")
            results["synthetic_build"].update(
                source="gguf file", gguf_bytes=(scratch / "synthetic.gguf").stat().st_size,
                gguf_write_read_s=time.perf_counter() - began)
        except Exception as exc:  # without gguf the in-memory model serves
            results["synthetic_build"]["gguf_error"] = f"{type(exc).__name__}: {exc}"
        rng = np.random.default_rng(1)
        prompt = [int(token) for token in rng.integers(0, 49152, size=args.prompt_tokens)]

        def load(make_backend: Callable[[], Any]) -> tuple[LlamaModel, float]:
            began = time.perf_counter()
            model = load_llama(model_file, make_backend())
            sync()
            return model, time.perf_counter() - began

        numpy_model, numpy_load = load(NumpyBackend)
        if is_cuda:
            torch.cuda.reset_peak_memory_stats()
        torch_model, torch_load = load(lambda: TorchBackend(args.device))
        weights_memory = torch.cuda.memory_allocated() if is_cuda else None

        attempt(results, "synthetic_parity",
                lambda: parity(numpy_model, torch_model, prompt, args.parity_tokens))
        attempt(results, "synthetic_numpy_ulp_sensitivity",
                lambda: rounding_sensitivity(model_file, numpy_model, prompt))

        def numpy_speed() -> dict[str, Any]:
            figures: dict[str, Any] = speed(numpy_model, prompt, decode_tokens, lambda: None)
            figures["load_s"] = numpy_load
            figures["process_peak_rss_mb"] = peak_rss_mb()  # includes building the synthetic model
            return figures

        attempt(results, "numpy_speed", numpy_speed)

        def torch_speed() -> dict[str, Any]:
            figures: dict[str, Any] = speed(torch_model, prompt, decode_tokens, sync)
            figures["load_s"] = torch_load
            if is_cuda:
                figures["gpu_weights_mb"] = (weights_memory or 0) / 2**20
                figures["gpu_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
                figures["gpu_peak_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
            figures["process_peak_rss_mb"] = peak_rss_mb()
            return figures

        attempt(results, f"torch_{args.device}_speed", torch_speed)

        graphs = importlib.util.find_spec("edgechain.ml.torch_graphs")
        if graphs is not None:
            def graph_check() -> dict[str, Any]:
                module = importlib.import_module("edgechain.ml.torch_graphs")
                decoder = module.GraphDecoder(torch_model, capture=is_cuda)
                figures: dict[str, Any] = {"captured": decoder.capture}
                figures["parity"] = parity(numpy_model, decoder, prompt, args.parity_tokens)
                figures.update(speed(decoder, prompt, decode_tokens, sync, step=decoder.forward))
                if is_cuda:
                    figures["gpu_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
                return figures

            attempt(results, f"torch_{args.device}_graph_decode", graph_check)

            def half_precision_check() -> dict[str, Any]:
                """The same with weights dequantized into float16 (the alternative to float32)."""
                module = importlib.import_module("edgechain.ml.torch_graphs")
                if is_cuda:
                    torch.cuda.reset_peak_memory_stats()
                half_model, half_load = load(lambda: TorchBackend(args.device, dtype=torch.float16))
                decoder = module.GraphDecoder(half_model, capture=is_cuda)
                figures: dict[str, Any] = {"captured": decoder.capture, "load_s": half_load}
                figures["parity"] = parity(numpy_model, decoder, prompt, args.parity_tokens)
                figures.update(speed(decoder, prompt, decode_tokens, sync, step=decoder.forward))
                if is_cuda:
                    figures["gpu_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
                return figures

            attempt(results, f"torch_{args.device}_float16_graph_decode", half_precision_check)


    try:
        steps()
    except Exception as exc:  # a step outside `attempt` failed: record it, keep the JSON
        results["fatal"] = {"error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc(limit=8)}
        print(f"[fatal] {type(exc).__name__}: {exc}", file=sys.stderr)
    results["total_s"] = time.perf_counter() - started
    line = json.dumps(results, sort_keys=True)
    print(line)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out_path}", file=sys.stderr)
    failed = [key for key, value in results.items() if isinstance(value, dict) and "error" in value]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
