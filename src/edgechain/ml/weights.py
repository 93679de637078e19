"""The records every format parser produces and every architecture consumes.

A parser (GGUF, safetensors, llama2.c) turns a file into a `ModelFile`: metadata plus
`TensorRecord`s whose ``data`` are views into the memory-mapped file (never copies).
Architectures map the file's tensor names onto their own with a name table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TensorType(enum.IntEnum):
    """Element types, numbered as ggml numbers them (so GGUF type ids map directly)."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q8_0 = 8
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    BF16 = 30

    @property
    def is_quantized(self) -> bool:
        return self not in (TensorType.F32, TensorType.F16, TensorType.BF16)


# (elements per block, bytes per block) for each type.
BLOCK_LAYOUT: dict[TensorType, tuple[int, int]] = {
    TensorType.F32: (1, 4),
    TensorType.F16: (1, 2),
    TensorType.BF16: (1, 2),
    TensorType.Q8_0: (32, 34),
    TensorType.Q4_0: (32, 18),
    TensorType.Q4_1: (32, 20),
    TensorType.Q4_K: (256, 144),
    TensorType.Q5_K: (256, 176),
    TensorType.Q6_K: (256, 210),
}


def tensor_nbytes(tensor_type: TensorType, shape: tuple[int, ...]) -> int:
    """Bytes a tensor of this type and shape occupies; the last dimension must fill whole blocks."""
    block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
    count = 1
    for dim in shape:
        count *= dim
    if shape and shape[-1] % block_elements:
        raise ValueError(f"last dimension {shape[-1]} is not a multiple of {block_elements}")
    return count // block_elements * block_bytes


@dataclass(frozen=True, slots=True)
class TensorRecord:
    """One tensor of a model file, still in the file's encoding."""

    name: str
    """The name in the file (GGUF: ``blk.0.attn_q.weight``; safetensors: the HF name)."""
    shape: tuple[int, ...]
    """Row-major (numpy) shape: a weight matrix is (out_features, in_features)."""
    tensor_type: TensorType
    """Element type."""
    data: np.ndarray
    """For F32/F16: an array of that dtype and ``shape``; for BF16: uint16 of ``shape``;
    for quantized types: uint8 of shape (rows, bytes per row). A view into the mapping."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A parsed model file: what format, its metadata, its tensors by name."""

    format: str
    """``gguf``, ``safetensors`` or ``llama2c``."""
    metadata: Mapping[str, Any]
    """Key-value metadata (GGUF keys as in the file; llama2.c: its header as GGUF-style keys;
    safetensors: the HF ``config.json`` when given)."""
    tensors: Mapping[str, TensorRecord]
    """Tensors by the file's own names."""
    source: str = ""
    """Where it came from, for messages."""
    extras: Mapping[str, Any] = field(default_factory=dict)
    """Anything else the parser found (e.g. a llama2.c file's shared-classifier flag)."""
