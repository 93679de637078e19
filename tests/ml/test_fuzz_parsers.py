"""Fuzz the GGUF, safetensors and llama2.c parsers (and tokenizer.bin) with mutated valid files.

Each example takes a tiny valid file and applies a few mutations: truncation, byte
flips, 8-byte integers that lie (huge counts, lengths, offsets), insertions and
deletions, aimed mostly at the header. The parser must either succeed (and then every
tensor view must be readable) or raise `ModelFormatError`; nothing else may escape, no
single parse may allocate more than 64 MB (tracemalloc sees numpy's allocations), and
the process's RSS may not grow by 200 MB over the run. A GGUF file that parses has its
tokenizer built and run, which may also refuse with `UnsupportedModel` (an unknown
pre-tokenizer name is a well-formed file we do not support).
"""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_models import (
    make_tiny_llama,
    tiny_spm_vocab,
    write_gguf,
    write_llama2c,
    write_llama2c_tokenizer,
    write_safetensors,
)

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.formats import (
    open_model_file,
    read_gguf,
    read_llama2c,
    read_safetensors,
    validate_tensors,
)
from edgechain.ml.tokenizers import read_llama2c_tokenizer, tokenizer_from_model_file
from edgechain.ml.weights import ModelFile

PER_PARSE_ALLOCATION_LIMIT = 64 * 1024 * 1024
RSS_GROWTH_LIMIT = 200 * 1024 * 1024
LYING_INTEGERS = [
    0,
    1,
    0xFF,
    0x7FFFFFFF,
    0xFFFFFFFF,
    1 << 32,
    1 << 40,
    (1 << 62) + 3,
    (1 << 63) - 1,
    (1 << 64) - 1,
]


def build_seeds(directory: Path) -> dict[str, bytes]:
    model = make_tiny_llama(seed=0, dim=32, hidden_dim=64, n_layers=1, n_heads=2, n_kv_heads=1)
    seeds = {
        "gguf_q4_0": write_gguf(directory / "a.gguf", model, "Q4_0").read_bytes(),
        "gguf_f16_bpe": write_gguf(
            directory / "b.gguf", model, "F16", tokenizer="gpt2"
        ).read_bytes(),
        "safetensors": (
            write_safetensors(directory / "hf", model, "F16") / "model.safetensors"
        ).read_bytes(),
        "llama2c_v0": write_llama2c(directory / "c.bin", model, 0).read_bytes(),
        "llama2c_v1": write_llama2c(directory / "d.bin", model, 1).read_bytes(),
        "llama2c_v2": write_llama2c(directory / "e.bin", model, 2).read_bytes(),
        "tokenizer_bin": write_llama2c_tokenizer(
            directory / "t.bin", tiny_spm_vocab()
        ).read_bytes(),
    }
    return seeds


def parse_tokenizer_bin(blob: bytes) -> None:
    read_llama2c_tokenizer(blob)


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "gguf_q4_0": read_gguf,
    "gguf_f16_bpe": read_gguf,
    "safetensors": read_safetensors,
    "llama2c_v0": read_llama2c,
    "llama2c_v1": read_llama2c,
    "llama2c_v2": read_llama2c,
    "tokenizer_bin": parse_tokenizer_bin,
}

mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just("flip_header"), st.integers(0, 600), st.integers(0, 255)),
    st.tuples(st.just("lie64"), st.integers(0, 600), st.sampled_from(LYING_INTEGERS)),
    st.tuples(st.just("lie32"), st.integers(0, 600), st.sampled_from(LYING_INTEGERS)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
)


def mutate(seed: bytes, mutations: list[tuple[Any, ...]]) -> bytes:
    blob = bytearray(seed)
    for operation in mutations:
        kind = operation[0]
        if not blob:
            break
        if kind == "truncate":
            del blob[int(operation[1] * len(blob)) :]
        elif kind in ("flip", "flip_header"):
            blob[operation[1] % len(blob)] = operation[2]
        elif kind in ("lie64", "lie32"):
            width = 8 if kind == "lie64" else 4
            position = operation[1] % len(blob)
            value = operation[2] % (1 << (8 * width))
            blob[position : position + width] = value.to_bytes(width, "little")
        elif kind == "insert":
            position = operation[1] % (len(blob) + 1)
            blob[position:position] = operation[2]
        elif kind == "delete":
            position = operation[1] % len(blob)
            del blob[position : position + operation[2]]
    return bytes(blob)


def touch_every_tensor(parsed: ModelFile) -> None:
    """Read every view; build and run the tokenizer a GGUF file carries."""
    for record in parsed.tensors.values():
        np.asarray(record.data).reshape(-1).view(np.uint8).sum()
    with contextlib.suppress(ModelFormatError):
        validate_tensors(parsed)
    if parsed.format == "gguf" and "tokenizer.ggml.model" in parsed.metadata:
        # an unknown pre-tokenizer or tokenizer model name is UnsupportedModel
        with contextlib.suppress(ModelFormatError, UnsupportedModel):
            tokenizer = tokenizer_from_model_file(parsed)
            tokenizer.decode(tokenizer.encode("Once upon a time <|im_start|> é🙂"))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return build_seeds(tmp_path_factory.mktemp("fuzz"))


def test_seeds_parse(seeds: dict[str, bytes]) -> None:
    for name, blob in seeds.items():
        PARSERS[name](blob)
        if name != "tokenizer_bin":
            assert open_model_file(blob).tensors


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    which=st.sampled_from(list(PARSERS)),
    mutations=st.lists(mutation, min_size=1, max_size=4),
    sniff=st.booleans(),
)
def test_mutated_files_fail_only_with_model_format_error(
    seeds: dict[str, bytes], which: str, mutations: list[tuple[Any, ...]], sniff: bool
) -> None:
    blob = mutate(seeds[which], mutations)
    parser = PARSERS[which]
    if sniff and which != "tokenizer_bin":
        parser = open_model_file
    tracemalloc.start()
    try:
        parsed = parser(blob)
        if isinstance(parsed, ModelFile):
            touch_every_tensor(parsed)
    except ModelFormatError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < PER_PARSE_ALLOCATION_LIMIT, f"{which}: a parse allocated {peak} bytes"


def test_huge_declarations_stay_small_and_fast(seeds: dict[str, bytes]) -> None:
    """Hand-picked lies in each header field, measured for memory as a whole run."""
    process = psutil.Process()
    rss_before = process.memory_info().rss
    gguf = seeds["gguf_q4_0"]
    cases = []
    for offset in (8, 16):  # tensor count, kv count
        for value in LYING_INTEGERS:
            cases.append((read_gguf, gguf[:offset] + struct.pack("<Q", value) + gguf[offset + 8 :]))
    for value in LYING_INTEGERS:
        cases.append((read_safetensors, struct.pack("<Q", value) + seeds["safetensors"][8:]))
        for field in range(7):
            legacy = bytearray(seeds["llama2c_v0"])
            legacy[4 * field : 4 * field + 4] = struct.pack("<I", value & 0xFFFFFFFF)
            cases.append((read_llama2c, bytes(legacy)))
    for parser, blob in cases:
        tracemalloc.start()
        try:
            parser(blob)
        except ModelFormatError:
            pass
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < PER_PARSE_ALLOCATION_LIMIT
    assert process.memory_info().rss - rss_before < RSS_GROWTH_LIMIT
