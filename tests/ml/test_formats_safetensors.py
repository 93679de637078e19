"""safetensors parser: HF directories read back exactly; lying headers fail cleanly."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file
from tiny_models import hf_weights, make_tiny_llama, write_safetensors

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats import read_safetensors, validate_tensors
from edgechain.ml.weights import TensorType


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_directory_reads_back_with_config(tmp_path: Path, dtype: str) -> None:
    model = make_tiny_llama(seed=1, tied=True)
    directory = write_safetensors(tmp_path / "hf", model, dtype)
    parsed = read_safetensors(directory)
    if dtype == "BF16":  # safetensors.numpy cannot load bfloat16: compare rounded values
        bf16 = gguf.GGMLQuantizationType.BF16
        for name, weight in hf_weights(model).items():
            record = parsed.tensors[name]
            assert record.tensor_type == TensorType.BF16
            assert record.shape == weight.shape
            values = (np.asarray(record.data).astype(np.uint32) << 16).view(np.float32)
            expected = gguf.quants.dequantize(gguf.quants.quantize(weight, bf16), bf16)
            np.testing.assert_array_equal(values, expected, err_msg=name)
        return
    reference = load_file(str(directory / "model.safetensors"))
    assert parsed.format == "safetensors"
    assert set(parsed.tensors) == set(hf_weights(model)) == set(reference)
    for name, array in reference.items():
        record = parsed.tensors[name]
        assert record.tensor_type == TensorType[dtype]
        assert record.shape == array.shape
        np.testing.assert_array_equal(record.data, array)
        assert not record.data.flags.writeable
    assert parsed.metadata["hidden_size"] == model.config.dim
    assert parsed.metadata["tie_word_embeddings"] is True
    assert parsed.extras["file_metadata"] == {"format": "pt"}


def test_file_with_explicit_config_and_other_dtypes(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "x.safetensors"
    save_file({"ids": np.arange(5, dtype=np.int64), "w": np.ones((2, 3), np.float32)}, str(path))
    parsed = read_safetensors(path, config={"model_type": "bert"})
    assert parsed.metadata == {"model_type": "bert"}
    assert list(parsed.tensors) == ["w"]
    np.testing.assert_array_equal(parsed.extras["other_tensors"]["ids"], np.arange(5))
    assert read_safetensors(path.read_bytes()).tensors["w"].shape == (2, 3)


def safetensors_bytes(header: object, data: bytes = b"", header_size: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    size = len(raw) if header_size is None else header_size
    return struct.pack("<Q", size) + raw + data


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 1 << 40) + b"{}", "exceeds"),
        (safetensors_bytes({}, header_size=50), "past the end"),
        (struct.pack("<Q", 3) + b"{x}", "not valid JSON"),
        (safetensors_bytes([1, 2]), "not a JSON object"),
        (safetensors_bytes({"__metadata__": {"a": 1}}), "__metadata__"),
        (safetensors_bytes({"t": 5}), "not an object"),
        (safetensors_bytes({"t": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}), "dtype"),
        (
            safetensors_bytes({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}),
            "shape",
        ),
        (
            safetensors_bytes({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}),
            "data_offsets",
        ),
        (
            safetensors_bytes(
                {"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1 << 40]}}, bytes(4)
            ),
            "outside the data section",
        ),
        (
            safetensors_bytes(
                {"t": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4]}}, bytes(4)
            ),
            "needs",
        ),
        (
            safetensors_bytes(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                },
                bytes(8),
            ),
            "overlaps",
        ),
        (
            safetensors_bytes(
                {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)
            ),
            "belong to no tensor",
        ),
        (
            safetensors_bytes(
                {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8)
            ),
            "trailing bytes",
        ),
    ],
)
def test_malformed_headers_raise_model_format_error(blob: bytes, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_safetensors(blob)


def test_directory_without_weights_and_bad_config(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"no model\.safetensors"):
        read_safetensors(tmp_path)
    write_safetensors(tmp_path / "hf", make_tiny_llama(seed=2))
    (tmp_path / "hf" / "config.json").write_text("[1")
    with pytest.raises(ModelFormatError, match="cannot read config"):
        read_safetensors(tmp_path / "hf")


def test_nan_weight_is_named(tmp_path: Path) -> None:
    model = make_tiny_llama(seed=3)
    model.weights["blk.0.attn_v.weight"][0, 0] = np.inf
    parsed = read_safetensors(write_safetensors(tmp_path / "hf", model))
    with pytest.raises(ModelFormatError, match=r"model\.layers\.0\.self_attn\.v_proj\.weight"):
        validate_tensors(parsed)


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute (HF rotate-half rows -> GGUF pairs)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def test_hf_names_and_layout_convert_to_the_gguf_file_as_llama_cpp_does(tmp_path: Path) -> None:
    from tiny_models import write_gguf

    from edgechain.ml.formats import read_gguf

    model = make_tiny_llama(seed=9)
    hf = read_safetensors(write_safetensors(tmp_path / "hf", model))
    gguf_file = read_gguf(write_gguf(tmp_path / "m.gguf", model, "F32", tokenizer=None))
    c = model.config
    table = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    for i in range(c.n_layers):
        for hf_suffix, gguf_suffix in {
            "input_layernorm": "attn_norm",
            "self_attn.q_proj": "attn_q",
            "self_attn.k_proj": "attn_k",
            "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output",
            "post_attention_layernorm": "ffn_norm",
            "mlp.gate_proj": "ffn_gate",
            "mlp.up_proj": "ffn_up",
            "mlp.down_proj": "ffn_down",
        }.items():
            table[f"model.layers.{i}.{hf_suffix}.weight"] = f"blk.{i}.{gguf_suffix}.weight"
    assert set(table) == set(hf.tensors)
    for hf_name, gguf_name in table.items():
        converted = np.asarray(hf.tensors[hf_name].data)
        if ".q_proj." in hf_name:
            converted = llama_cpp_permute(converted, c.n_heads)
        elif ".k_proj." in hf_name:
            converted = llama_cpp_permute(converted, c.n_kv_heads)
        np.testing.assert_array_equal(converted, gguf_file.tensors[gguf_name].data, err_msg=hf_name)


def write_shards(directory: Path, tensors: dict[str, np.ndarray]) -> dict[str, str]:
    from safetensors.numpy import save_file

    names = sorted(tensors)
    halves = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    weight_map: dict[str, str] = {}
    for shard, shard_names in halves.items():
        save_file({name: tensors[name] for name in shard_names}, str(directory / shard))
        weight_map.update(dict.fromkeys(shard_names, shard))
    return weight_map


def test_sharded_checkpoint_reads_like_one_file(tmp_path: Path) -> None:
    from edgechain.ml.formats import open_model_file

    model = make_tiny_llama(seed=10)
    single = read_safetensors(write_safetensors(tmp_path / "single", model))
    sharded_dir = tmp_path / "sharded"
    sharded_dir.mkdir()
    weight_map = write_shards(sharded_dir, hf_weights(model))
    (sharded_dir / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": weight_map})
    )
    (sharded_dir / "config.json").write_text((tmp_path / "single" / "config.json").read_text())
    sharded = open_model_file(sharded_dir)
    assert sharded.metadata == single.metadata
    assert set(sharded.tensors) == set(single.tensors)
    for name, record in single.tensors.items():
        np.testing.assert_array_equal(sharded.tensors[name].data, record.data)
    # an index that names the wrong shard for one tensor
    moved = dict(weight_map)
    first = sorted(moved)[0]
    moved[first] = "model-00002-of-00002.safetensors"
    (sharded_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": moved}))
    with pytest.raises(ModelFormatError, match="disagrees"):
        read_safetensors(sharded_dir)
    (sharded_dir / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"x": "../evil"}})
    )
    with pytest.raises(ModelFormatError, match="outside"):
        read_safetensors(sharded_dir)
