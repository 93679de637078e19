"""Parse a safetensors file (or a Hugging Face model directory) into a `ModelFile`.

The format is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the data. We validate the header ourselves (length
capped at 100 MB as the `safetensors` library caps it, every entry well typed, byte
ranges inside the data section, matching dtype x shape, tiling the section without
overlap or holes as the format requires) and hand out numpy views into the memory map:
`safetensors.safe_open(framework="numpy")` would copy every tensor, and it raises its own
error types on malformed headers. The tests cross-check against `safetensors.numpy`.

F32/F16/BF16 tensors become `TensorRecord`s under their Hugging Face names; other dtypes
(e.g. BERT's int64 ``position_ids`` buffer) are kept as plain numpy views in
``extras["other_tensors"]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats._source import ModelSource, open_source
from edgechain.ml.weights import ModelFile, TensorRecord, TensorType

MAX_HEADER_BYTES = 100_000_000
INDEX_NAME = "model.safetensors.index.json"
MAX_SHARDS = 1024
MAX_DIMS = 8

_DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

_TENSOR_TYPES = {"F32": TensorType.F32, "F16": TensorType.F16, "BF16": TensorType.BF16}


def _resolve(
    source: ModelSource, config: Mapping[str, Any] | str | os.PathLike[str] | None
) -> tuple[ModelSource, Mapping[str, Any] | None, Path | None]:
    """A directory means its model.safetensors and config.json."""
    directory: Path | None = None
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        directory = Path(source)
        source = directory / "model.safetensors"
        if not source.exists() and (directory / INDEX_NAME).exists():
            source = directory / INDEX_NAME
        elif not source.exists():
            raise ModelFormatError(
                f"safetensors: {directory} has no model.safetensors (nor {INDEX_NAME})"
            )
        if config is None and (directory / "config.json").exists():
            config = directory / "config.json"
    if isinstance(config, (str, os.PathLike)):
        try:
            loaded = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"safetensors: cannot read config {config}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ModelFormatError(f"safetensors: config {config} is not a JSON object")
        config = loaded
    return source, config, directory


def read_safetensors(
    source: ModelSource,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> ModelFile:
    """Parse a safetensors file; `source` may be a model directory (config.json read too).

    ``metadata`` is the HF config (when given or found); ``extras`` holds the file's
    ``__metadata__`` strings, non-float tensors and the directory.
    """
    source, config_map, directory = _resolve(source, config)
    if isinstance(source, Path) and source.name == INDEX_NAME:
        tensors, others, file_metadata, name = _read_shards(source)
    else:
        tensors, others, file_metadata, name = _parse_file(source)
    return ModelFile(
        format="safetensors",
        metadata=dict(config_map) if config_map is not None else {},
        tensors=tensors,
        source=name,
        extras={
            "file_metadata": file_metadata,
            "other_tensors": others,
            "directory": str(directory) if directory else None,
        },
    )


_Parsed = tuple[dict[str, TensorRecord], dict[str, np.ndarray], dict[str, str], str]


def _read_shards(index_path: Path) -> _Parsed:
    """A sharded checkpoint: the index's ``weight_map`` names each tensor's shard file."""
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"safetensors: cannot read {index_path}: {exc}") from exc
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(shard, str) for shard in weight_map.values()
    ):
        raise ModelFormatError(f"safetensors: {index_path} has no weight_map of file names")
    shards = sorted(set(weight_map.values()))
    if len(shards) > MAX_SHARDS:
        raise ModelFormatError(f"safetensors: {index_path} names {len(shards)} shards")
    tensors: dict[str, TensorRecord] = {}
    others: dict[str, np.ndarray] = {}
    file_metadata: dict[str, str] = {}
    for shard in shards:
        shard_path = index_path.parent / shard
        if shard_path.parent != index_path.parent:
            raise ModelFormatError(f"safetensors: shard {shard!r} is outside {index_path.parent}")
        shard_tensors, shard_others, shard_metadata, _ = _parse_file(shard_path)
        for tensor_name in [*shard_tensors, *shard_others]:
            if (
                weight_map.get(tensor_name) != shard
                or tensor_name in tensors
                or tensor_name in others
            ):
                raise ModelFormatError(
                    f"safetensors: tensor {tensor_name!r} in {shard} disagrees with {INDEX_NAME}"
                )
        tensors.update(shard_tensors)
        others.update(shard_others)
        file_metadata.update(shard_metadata)
    missing = [name for name in weight_map if name not in tensors and name not in others]
    if missing:
        raise ModelFormatError(
            f"safetensors: {INDEX_NAME} lists {missing[:3]} but no shard holds them"
        )
    return tensors, others, file_metadata, str(index_path.parent)


def _parse_file(source: ModelSource) -> _Parsed:
    byte_source = open_source(source, "safetensors")
    name = byte_source.name
    data = byte_source.data
    file_size = int(data.size)
    if file_size < 8:
        raise ModelFormatError(f"safetensors {name}: file too short for the header length")
    header_size = int(data[:8].view("<u8")[0])
    if header_size > MAX_HEADER_BYTES:
        raise ModelFormatError(
            f"safetensors {name}: header length {header_size} exceeds {MAX_HEADER_BYTES}"
        )
    if header_size > file_size - 8:
        raise ModelFormatError(
            f"safetensors {name}: header length {header_size} runs past the end of the file"
        )
    try:
        header = json.loads(data[8 : 8 + header_size].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFormatError(f"safetensors {name}: header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFormatError(f"safetensors {name}: header is not a JSON object")
    file_metadata = header.pop("__metadata__", {})
    if not isinstance(file_metadata, dict) or not all(
        isinstance(value, str) for value in file_metadata.values()
    ):
        raise ModelFormatError(f"safetensors {name}: __metadata__ must map strings to strings")
    data_start = 8 + header_size
    data_size = file_size - data_start

    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, TensorRecord] = {}
    others: dict[str, np.ndarray] = {}
    for tensor_name, entry in header.items():
        where = f"safetensors {name}: tensor {tensor_name!r}"
        if not isinstance(entry, dict):
            raise ModelFormatError(f"{where}: entry is not an object")
        dtype_name = entry.get("dtype")
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
            raise ModelFormatError(f"{where}: unknown dtype {dtype_name!r}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise ModelFormatError(f"{where}: bad shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ModelFormatError(f"{where}: bad data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise ModelFormatError(
                f"{where}: data_offsets {offsets} outside the data section ({data_size} bytes)"
            )
        dtype = _DTYPES[dtype_name]
        elements = 1
        for dim in shape:
            elements *= dim
        if elements * dtype.itemsize != end - begin:
            raise ModelFormatError(
                f"{where}: {dtype_name} {shape} needs {elements * dtype.itemsize} bytes, "
                f"data_offsets give {end - begin}"
            )
        spans.append((begin, end, tensor_name))
        array = data[data_start + begin : data_start + end].view(dtype).reshape(tuple(shape))
        if dtype_name in _TENSOR_TYPES:
            tensors[tensor_name] = TensorRecord(
                tensor_name, tuple(shape), _TENSOR_TYPES[dtype_name], array
            )
        else:
            others[tensor_name] = array
    spans.sort()
    position = 0
    for begin, end, tensor_name in spans:
        if begin < position:
            raise ModelFormatError(f"safetensors {name}: tensor {tensor_name!r} overlaps another")
        if begin > position:
            raise ModelFormatError(
                f"safetensors {name}: bytes {position}..{begin} of the data section belong "
                "to no tensor"
            )
        position = end
    if position != data_size:
        raise ModelFormatError(
            f"safetensors {name}: {data_size - position} trailing bytes belong to no tensor"
        )
    return tensors, others, dict(file_metadata), name
