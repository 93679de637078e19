"""Check that a parsed model's float weights are finite (no NaN or Inf), naming the first bad tensor.

Parsers do not do this (llama.cpp does not either): it reads every weight, which a
quick `info` should not pay for. `load_model` calls `validate_tensors` once. For
quantized types only the float16 block scales can be non-finite, so only those are read
(2 bytes in 18 to 210), which keeps the check cheap for quantized models.
"""

from __future__ import annotations

import numpy as np

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.weights import BLOCK_LAYOUT, ModelFile, TensorRecord, TensorType

# Byte offsets of the float16 scale fields inside one block of each quantized type.
_SCALE_OFFSETS: dict[TensorType, tuple[int, ...]] = {
    TensorType.Q8_0: (0,),
    TensorType.Q4_0: (0,),
    TensorType.Q4_1: (0, 2),
    TensorType.Q4_K: (0, 2),
    TensorType.Q5_K: (0, 2),
    TensorType.Q6_K: (208,),
}

_CHUNK_ELEMENTS = 1 << 22


def tensor_is_finite(record: TensorRecord) -> bool:
    """True when every value (float types) or every block scale (quantized types) is finite."""
    data = record.data
    if record.tensor_type in (TensorType.F32, TensorType.F16):
        flat = data.reshape(-1)
        return all(
            bool(np.isfinite(flat[start : start + _CHUNK_ELEMENTS]).all())
            for start in range(0, flat.size, _CHUNK_ELEMENTS)
        )
    if record.tensor_type == TensorType.BF16:
        exponent_all_ones = (data.reshape(-1) & np.uint16(0x7F80)) == np.uint16(0x7F80)
        return not bool(exponent_all_ones.any())
    _, block_bytes = BLOCK_LAYOUT[record.tensor_type]
    blocks = data.reshape(-1, block_bytes)
    for offset in _SCALE_OFFSETS[record.tensor_type]:
        scales = np.ascontiguousarray(blocks[:, offset : offset + 2]).view("<f2")
        if not bool(np.isfinite(scales).all()):
            return False
    return True


def validate_tensors(model_file: ModelFile) -> None:
    """Raise `ModelFormatError` naming the first tensor holding NaN or Inf."""
    for name, record in model_file.tensors.items():
        if not tensor_is_finite(record):
            raise ModelFormatError(
                f"{model_file.format} {model_file.source}: tensor {name!r} "
                f"({record.tensor_type.name}) holds NaN or Inf values"
            )
