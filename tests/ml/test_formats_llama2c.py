"""llama2.c parser: legacy and versioned checkpoints map onto GGUF names exactly."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from tiny_models import (
    llama2c_expected_weights,
    make_tiny_llama,
    write_gguf,
    write_llama2c,
    write_safetensors,
)

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats import open_model_file, read_gguf, read_llama2c, sniff_format


@pytest.mark.parametrize("version", [0, 1, 2])
@pytest.mark.parametrize("tied", [False, True])
def test_checkpoint_reads_back_under_gguf_names(tmp_path: Path, version: int, tied: bool) -> None:
    model = make_tiny_llama(seed=1, tied=tied)
    parsed = read_llama2c(write_llama2c(tmp_path / "m.bin", model, version))
    expected = llama2c_expected_weights(model, version)
    assert set(parsed.tensors) == set(expected)
    assert ("output.weight" in parsed.tensors) is not tied
    for name, weight in expected.items():
        np.testing.assert_array_equal(parsed.tensors[name].data, weight, err_msg=name)
        assert parsed.tensors[name].shape == weight.shape
    c = model.config
    assert parsed.metadata["llama.embedding_length"] == c.dim
    assert parsed.metadata["llama.feed_forward_length"] == c.hidden_dim
    assert parsed.metadata["llama.attention.head_count_kv"] == c.n_kv_heads
    assert parsed.metadata["llama.vocab_size"] == c.vocab_size
    assert parsed.metadata["llama.rope.freq_base"] == 10000.0
    assert parsed.extras["version"] == version
    assert parsed.extras["shared_classifier"] is tied


def test_float_weights_are_views_not_copies(tmp_path: Path) -> None:
    parsed = read_llama2c(write_llama2c(tmp_path / "m.bin", make_tiny_llama(seed=2), 1))
    record = parsed.tensors["blk.1.ffn_down.weight"]
    assert not record.data.flags.owndata
    assert not record.data.flags.writeable


def test_same_tensors_as_the_gguf_file(tmp_path: Path) -> None:
    model = make_tiny_llama(seed=3)
    from_llama2c = read_llama2c(write_llama2c(tmp_path / "m.bin", model, 0))
    from_gguf = read_gguf(write_gguf(tmp_path / "m.gguf", model, "F32", tokenizer=None))
    assert set(from_llama2c.tensors) == set(from_gguf.tensors)
    for name, record in from_gguf.tensors.items():
        np.testing.assert_array_equal(from_llama2c.tensors[name].data, record.data)
    for key in (k for k in from_llama2c.metadata if k.startswith("llama.")):
        assert from_llama2c.metadata[key] == pytest.approx(from_gguf.metadata[key]), key


def test_open_model_file_detects_every_format(tmp_path: Path) -> None:
    model = make_tiny_llama(seed=4)
    paths = {
        "gguf": write_gguf(tmp_path / "m.gguf", model, "Q8_0"),
        "safetensors": write_safetensors(tmp_path / "hf", model),
        "llama2c": write_llama2c(tmp_path / "m.bin", model, 0),
    }
    write_llama2c(tmp_path / "v2.bin", model, 2)
    for expected_format, path in paths.items():
        assert sniff_format(path) == expected_format
        assert open_model_file(path).format == expected_format
    assert open_model_file(tmp_path / "hf" / "model.safetensors").format == "safetensors"
    assert open_model_file(tmp_path / "v2.bin").extras["version"] == 2
    with pytest.raises(ModelFormatError, match="too short"):
        open_model_file(b"GG")


def legacy_header(*fields: int) -> bytes:
    return struct.pack("<7i", *fields)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x01" * 10, "too short"),
        (legacy_header(0, 8, 1, 1, 1, 4, 4), "dim = 0"),
        (legacy_header(8, 8, 1 << 30, 1, 1, 4, 4), "n_layers"),
        (legacy_header(8, 8, 1, 3, 1, 4, 4), "head size"),
        (legacy_header(8, 8, 1, 2, 3, 4, 4), "n_kv_heads"),
        (legacy_header(8, 8, 1, 2, 2, -(1 << 30), 4), "vocab_size"),
        (legacy_header(8, 8, 1, 2, 2, 4, 4) + bytes(12), "truncated"),
        (struct.pack("<Ii", 0x616B3432, 7) + bytes(300), "unsupported version 7"),
        (struct.pack("<Ii", 0x616B3432, 1) + bytes(20), "truncated 256-byte header"),
        (
            struct.pack("<Ii", 0x616B3432, 1)
            + legacy_header(8, 8, 1, 2, 2, 4, 4)
            + b"\x05"
            + bytes(219),
            "shared-classifier flag",
        ),
        (
            struct.pack("<Ii", 0x616B3432, 2)
            + legacy_header(8, 8, 1, 2, 2, 4, 4)
            + b"\x01"
            + struct.pack("<i", 0)
            + bytes(215),
            "group size",
        ),
    ],
)
def test_malformed_checkpoints_raise_model_format_error(blob: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_llama2c(blob)


def test_trailing_bytes_are_refused(tmp_path: Path) -> None:
    path = write_llama2c(tmp_path / "m.bin", make_tiny_llama(seed=5), 1)
    with pytest.raises(ModelFormatError, match="trailing bytes"):
        read_llama2c(path.read_bytes() + b"\0\0\0\0")


@pytest.mark.parametrize("version", [0, 1, 2])
def test_nan_weight_is_named_by_validate_tensors(tmp_path: Path, version: int) -> None:
    from edgechain.ml.formats import validate_tensors

    model = make_tiny_llama(seed=6)
    validate_tensors(read_llama2c(write_llama2c(tmp_path / "ok.bin", model, version)))
    model.weights["blk.1.attn_k.weight"][2, 3] = np.nan
    with np.errstate(invalid="ignore"):
        bad = write_llama2c(tmp_path / "bad.bin", model, version)
    with pytest.raises(ModelFormatError, match=r"blk\.1\.attn_k\.weight"):
        validate_tensors(read_llama2c(bad))


def test_llama2c_with_123_layers_is_not_taken_for_safetensors() -> None:
    header = legacy_header(64, 128, 123, 4, 2, 320, 64)
    assert header[8:9] == b"{"
    assert sniff_format(header + bytes(64)) == "llama2c"
