"""Reference dequantization in plain numpy: every `TensorType` to float32, block by block.

These functions are the readable definition of each ggml block layout (they follow
ggml's ``dequantize_row_*``); the compiled kernels are tested against them, and
backends without a compiled kernel for a type fall back to them.
"""

from __future__ import annotations

import numpy as np

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.weights import BLOCK_LAYOUT, TensorRecord, TensorType

QK = 32
"""Elements per block of the legacy quantizations (Q4_0, Q4_1, Q8_0)."""
QK_K = 256
"""Elements per super-block of the K-quantizations (Q4_K, Q5_K, Q6_K)."""


def half_floats(raw: np.ndarray) -> np.ndarray:
    """Little-endian float16 stored in a (..., 2) uint8 array, as float32 of shape (...)."""
    return np.ascontiguousarray(raw).view("<f2")[..., 0].astype(np.float32)


def _blocks(data: np.ndarray, tensor_type: TensorType, rows: int, cols: int) -> np.ndarray:
    """The quantized bytes as (rows * blocks per row, bytes per block), after a size check."""
    block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
    if cols % block_elements:
        raise ModelFormatError(
            f"{tensor_type.name} row length {cols} is not a multiple of {block_elements}"
        )
    expected = rows * (cols // block_elements) * block_bytes
    raw = np.asarray(data, dtype=np.uint8).reshape(-1)
    if raw.size != expected:
        raise ModelFormatError(
            f"{tensor_type.name} tensor of {rows}x{cols} needs {expected} bytes, has {raw.size}"
        )
    return raw.reshape(-1, block_bytes)


def _dequantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    scale = half_floats(blocks[:, 0:2].reshape(-1, 1, 2))  # (n, 1)
    quants = blocks[:, 2:34].view(np.int8).astype(np.float32)  # (n, 32)
    return np.asarray(quants * scale, dtype=np.float32)


def _dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    scale = half_floats(blocks[:, 0:2].reshape(-1, 1, 2))
    packed = blocks[:, 2:18]  # (n, 16): element j in the low nibble, j + 16 in the high one
    quants = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32) - 8.0
    return np.asarray(quants * scale, dtype=np.float32)


def _dequantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    scale = half_floats(blocks[:, 0:2].reshape(-1, 1, 2))
    minimum = half_floats(blocks[:, 2:4].reshape(-1, 1, 2))
    packed = blocks[:, 4:20]
    quants = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32)
    return np.asarray(quants * scale + minimum, dtype=np.float32)


def k_scales_mins(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ggml's ``get_scale_min_k4`` for the 8 sub-blocks: 6-bit scales and mins from 12 bytes
    (..., 12) -> float32 (..., 8) each."""
    s = scales.astype(np.uint8)
    shape = (*s.shape[:-1], 8)
    sc = np.empty(shape, dtype=np.uint8)
    mn = np.empty(shape, dtype=np.uint8)
    sc[..., 0:4] = s[..., 0:4] & 63
    mn[..., 0:4] = s[..., 4:8] & 63
    sc[..., 4:8] = (s[..., 8:12] & 0x0F) | ((s[..., 0:4] >> 6) << 4)
    mn[..., 4:8] = (s[..., 8:12] >> 4) | ((s[..., 4:8] >> 6) << 4)
    return sc.astype(np.float32), mn.astype(np.float32)


def q4_k_quants(blocks: np.ndarray) -> np.ndarray:
    """The 4-bit quants of Q4_K blocks (n, 144) as uint8 (n, 8, 32), by sub-block: group g's
    32 bytes hold sub-block 2g in their low nibbles and 2g + 1 in their high ones."""
    packed = blocks[:, 16:144].reshape(-1, 4, 1, 32)
    return np.concatenate([packed & 0x0F, packed >> 4], axis=2).reshape(-1, 8, 32)


def q6_k_quants(blocks: np.ndarray) -> np.ndarray:
    """The 6-bit quants of Q6_K blocks (n, 210) as uint8 0..63 (n, 2, 4, 32): two halves of
    128 values, each four parts of 32 (low nibbles of l0, l1, then their high nibbles, each
    with two more bits from the half's 32 high bytes)."""
    low = blocks[:, 0:128].reshape(-1, 2, 2, 32)  # (half, l0 | l1, 32)
    high = blocks[:, 128:192].reshape(-1, 2, 1, 32)
    nibbles = np.stack([low & 0x0F, low >> 4], axis=2).reshape(-1, 2, 4, 32)
    parts = np.arange(4, dtype=np.uint8).reshape(1, 1, 4, 1)
    quants: np.ndarray = nibbles | (((high >> (2 * parts)) & 3) << 4)
    return quants


def _dequantize_q4_k(blocks: np.ndarray) -> np.ndarray:
    scale = half_floats(blocks[:, 0:2].reshape(-1, 1, 2))  # (n, 1)
    scale_min = half_floats(blocks[:, 2:4].reshape(-1, 1, 2))
    sc, mn = k_scales_mins(blocks[:, 4:16])  # (n, 8)
    quants = q4_k_quants(blocks)  # (n, 8, 32)
    values = (scale * sc)[:, :, None] * quants - (scale_min * mn)[:, :, None]
    return np.asarray(values.reshape(-1, QK_K), dtype=np.float32)


def _dequantize_q5_k(blocks: np.ndarray) -> np.ndarray:
    scale = half_floats(blocks[:, 0:2].reshape(-1, 1, 2))
    scale_min = half_floats(blocks[:, 2:4].reshape(-1, 1, 2))
    sc, mn = k_scales_mins(blocks[:, 4:16])
    high = blocks[:, 16:48]  # (n, 32): bit 2g / 2g+1 is the fifth bit of sub-block 2g / 2g+1
    packed = blocks[:, 48:176].reshape(-1, 4, 32)
    low = np.stack([packed & 0x0F, packed >> 4], axis=2).reshape(-1, 8, 32).astype(np.int32)
    bits = np.stack([(high >> sub) & 1 for sub in range(8)], axis=1).astype(np.int32)
    quants = low + 16 * bits  # (n, 8, 32)
    values = (scale * sc)[:, :, None] * quants - (scale_min * mn)[:, :, None]
    return np.asarray(values.reshape(-1, QK_K), dtype=np.float32)


def _dequantize_q6_k(blocks: np.ndarray) -> np.ndarray:
    scales = blocks[:, 192:208].view(np.int8).astype(np.float32).reshape(-1, 2, 8)
    scale = half_floats(blocks[:, 208:210].reshape(-1, 1, 2))[:, :, None]  # (n, 1, 1)
    quants = q6_k_quants(blocks).astype(np.float32) - 32.0  # (n, 2, 4, 32)
    # each 32-value part has two scales of 16 values: scale index = 2 * part + (l >= 16)
    quants = quants.reshape(-1, 2, 8, 16)
    values = quants * scales[:, :, :, None] * scale[:, :, :, None]
    return np.asarray(values.reshape(-1, QK_K), dtype=np.float32)


_DEQUANTIZERS = {
    TensorType.Q8_0: _dequantize_q8_0,
    TensorType.Q4_0: _dequantize_q4_0,
    TensorType.Q4_1: _dequantize_q4_1,
    TensorType.Q4_K: _dequantize_q4_k,
    TensorType.Q5_K: _dequantize_q5_k,
    TensorType.Q6_K: _dequantize_q6_k,
}


def dequantize(tensor_type: TensorType, data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Decode ``data`` (the record's array) of ``tensor_type`` into float32 of ``shape``."""
    if tensor_type == TensorType.F32:
        return np.asarray(data, dtype=np.float32).reshape(shape)
    if tensor_type == TensorType.F16:
        return np.asarray(data).view(np.float16).reshape(shape).astype(np.float32)
    if tensor_type == TensorType.BF16:
        bits = np.asarray(data).view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    dequantizer = _DEQUANTIZERS.get(tensor_type)
    if dequantizer is None:
        raise UnsupportedModel(f"no dequantizer for tensor type {tensor_type!r}")
    cols = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return dequantizer(_blocks(data, tensor_type, rows, cols)).reshape(shape)


def dequantize_record(record: TensorRecord) -> np.ndarray:
    """A record's values as float32 of its shape."""
    try:
        return dequantize(record.tensor_type, record.data, record.shape)
    except ModelFormatError as exc:
        raise ModelFormatError(f"tensor {record.name!r}: {exc}") from exc


def round_half_to_f16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest float16 (ties to even), back as float32."""
    return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


def quantize_activations_q8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize a float32 vector to 8-bit blocks of 32 as llama.cpp's x86 ``quantize_row_q8_1``.

    Returns ``(quants int8 (n,), scales float32 (n/32,), scaled sums float32 (n/32,))`` where
    ``scale = f16(amax / 127)``, ``quant = rint(x * 127 / amax)`` (ties to even) and
    ``scaled sum = sum(quants) * scale`` in float32. The compiled kernels use the same rule.
    """
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.max(np.abs(blocks), axis=1)
    scale = amax / np.float32(127.0)
    with np.errstate(divide="ignore"):
        inverse = np.where(amax > 0, np.float32(127.0) / np.where(amax > 0, amax, 1), 0)
    quants = np.rint(blocks * inverse.astype(np.float32)[:, None]).astype(np.int8)
    rounded_scale = round_half_to_f16(scale)
    sums = quants.astype(np.int32).sum(axis=1).astype(np.float32) * rounded_scale
    return quants.reshape(-1), rounded_scale, sums
