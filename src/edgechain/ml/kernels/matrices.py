"""Weight matrices ready for the numpy backend: packed quantized or dense float32.

`prepare_matrix` turns a weight (its type, bytes and shape) into a `WeightMatrix` whose
``matmul(x)`` computes ``x @ W.T`` for activations ``x`` of shape (T, in):

- Q4_0, Q4_1, Q8_0: re-arranged once at load into the compiled kernels' row-minor
  layout (see `compiled`), still quantized. Activations are quantized to 8 bits
  (llama.cpp's rule). One token (decode) goes through the integer kernels. A batch of
  `BATCH_THRESHOLD` or more (prefill) is, by default, multiplied in float32 with BLAS:
  chunks are split over our own threads with OpenBLAS pinned to one thread per caller
  (its spinning pool collapses on a shared machine); each thread dequantizes one chunk of
  rows into its own small buffer (never the whole matrix) and multiplies the
  8-bit-rounded activations by it at once, while the chunk is still in its cache. That is the same function up to float32 rounding and about twice as fast as
  the integer kernel on a batch; but rounding differences re-quantize differently
  downstream (SmolLM2's logits move by up to ~0.7), so ``exact=True`` keeps every batch
  in the integer kernels: a prompt evaluated in one batch then gives bit for bit the
  logits of token-by-token evaluation.
- Q4_K: repacked into the Q4_1 layout (`_pack_q4_k`, the same values), then as above.
- Q6_K: int8 values with a scale per 16 (`_pack_q6_k`), its own integer kernel.
- F32, F16, BF16 and Q5_K (no compiled kernel yet): float32 in memory, BLAS.
"""

from __future__ import annotations

import ctypes
import itertools
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.kernels import compiled
from edgechain.ml.kernels.reference import (
    dequantize,
    half_floats,
    k_scales_mins,
    q4_k_quants,
    q6_k_quants,
)
from edgechain.ml.weights import BLOCK_LAYOUT, TensorType

BATCH_THRESHOLD = 4
"""From this many tokens on, a quantized matrix is dequantized into a buffer for BLAS."""
MAX_UNPACK_ELEMENTS = 8 * 1024 * 1024
"""Larger matrices (an output head) never get a float32 buffer: the integer kernel runs per token."""

SERIAL_MATVEC_ELEMENTS = 4 * 1024 * 1024
"""Smaller matrices multiply one token on the calling thread (see `compiled.matvec_q4_1_serial`)."""
COMPILED_TYPES = (TensorType.Q4_0, TensorType.Q4_1, TensorType.Q8_0, TensorType.Q4_K, TensorType.Q6_K)
"""Types that stay quantized in memory and run through compiled kernels. Q4_K is repacked
at load into the Q4_1 kernels' layout (see `_pack_q4_k`), Q6_K into int8 values with a
scale per 16 (`_pack_q6_k`): the file's values, exactly."""


class _ScratchBuffer:
    """One float32 buffer, grown on demand and reused for every unpacked weight."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, dtype=np.float32)
        self._lock = threading.Lock()

    def view(self, rows: int, cols: int) -> np.ndarray:
        if self._buffer.size < rows * cols:
            self._buffer = np.empty(rows * cols, dtype=np.float32)
        return self._buffer[: rows * cols].reshape(rows, cols)


_SCRATCH = threading.local()


def _scratch(rows: int, cols: int) -> np.ndarray:
    buffer: _ScratchBuffer | None = getattr(_SCRATCH, "buffer", None)
    if buffer is None:
        buffer = _ScratchBuffer()
        _SCRATCH.buffer = buffer
    return buffer.view(rows, cols)


def _openblas_local_threads() -> Any:
    """OpenBLAS's per-thread thread count setter (0.3.27+), or None on other BLAS builds."""
    import glob
    import os

    directory = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(directory, "*openblas*.so*")):
        try:
            return ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
    return None


_SET_LOCAL_THREADS = _openblas_local_threads()
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _single_threaded_blas() -> None:
    if _SET_LOCAL_THREADS is not None:
        _SET_LOCAL_THREADS(1)


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or workers != _POOL_SIZE:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(workers, "edgechain-blas", _single_threaded_blas)
            _POOL_SIZE = workers
        return _POOL


def _split_over_threads(work: Any, chunks: int) -> None:
    """``work(lo, hi)`` over ranges of ``0..chunks`` on numba's thread count of pool workers,
    each with OpenBLAS on one thread. Every chunk is computed the same way whoever runs
    it, so the split does not change the result."""
    workers = max(1, min(int(numba.get_num_threads()), chunks))
    if workers == 1 or _SET_LOCAL_THREADS is None:
        previous = _SET_LOCAL_THREADS(1) if _SET_LOCAL_THREADS is not None else None
        try:
            work(0, chunks)
        finally:
            if previous is not None and _SET_LOCAL_THREADS is not None:
                _SET_LOCAL_THREADS(previous)
        return
    bounds = [chunks * part // workers for part in range(workers + 1)]
    futures = [_pool(workers).submit(work, lo, hi) for lo, hi in itertools.pairwise(bounds)]
    for future in futures:
        future.result()


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, n) float32 to int8 quants (T, n), scales and scaled sums (T, n/32), by the compiled rule."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    tokens, width = x.shape
    quants = np.empty((tokens, width), dtype=np.int8)
    scales = np.empty((tokens, width // 32), dtype=np.float32)
    sums = np.empty((tokens, width // 32), dtype=np.float32)
    compiled.quantize_q8(x, quants, scales, sums)
    return quants, scales, sums


def requantize_activations(x: np.ndarray) -> np.ndarray:
    """(T, n) float32 through the 8-bit rule and back: what the integer kernels see."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape, dtype=np.float32)
    compiled.requantize_q8(x, out)
    return out


class WeightMatrix:
    """A weight of shape (rows, cols) that multiplies activations: ``matmul(x) = x @ W.T``."""

    rows: int
    cols: int
    tensor_type: TensorType

    def matmul(self, x: np.ndarray) -> np.ndarray:
        """(T, cols) float32 to (T, rows) float32."""
        raise NotImplementedError

    def to_float(self) -> np.ndarray:
        """The weight as float32 (rows, cols): for tests and other backends."""
        raise NotImplementedError


@dataclass(eq=False)
class DenseMatrix(WeightMatrix):
    """A float32 weight multiplied with BLAS."""

    weight: np.ndarray
    """(rows, cols) float32, C-contiguous."""
    tensor_type: TensorType = TensorType.F32

    def __post_init__(self) -> None:
        self.rows, self.cols = self.weight.shape

    def matmul(self, x: np.ndarray) -> np.ndarray:
        product: np.ndarray = np.asarray(x, dtype=np.float32) @ self.weight.T  # (T, rows)
        return product

    def to_float(self) -> np.ndarray:
        return self.weight


@dataclass(eq=False)
class PackedMatrix(WeightMatrix):
    """A Q4_0/Q4_1/Q8_0 (or repacked Q4_K) weight in the compiled kernels' row-minor layout."""

    tensor_type: TensorType
    """Q4_0, Q4_1 or Q8_0."""
    rows: int
    """Output features (before padding to whole chunks)."""
    cols: int
    """Input features."""
    quants: np.ndarray
    """uint8 nibbles (chunks, blocks, 16, CHUNK) or int8 values (chunks, blocks, 32, CHUNK)."""
    scales: np.ndarray
    """float32 (chunks, blocks, CHUNK)."""
    mins: np.ndarray | None
    """float32 (chunks, blocks, CHUNK) for Q4_1 (and a repacked Q4_K); for a repacked Q6_K the
    scales of each block's second 16 values (``scales`` then scale the first 16); else None."""
    batch_with_blas: bool = True
    """Batches of `BATCH_THRESHOLD`+ tokens: dequantize chunks and use BLAS (False: the
    integer kernels, bit-identical to token-by-token decoding)."""

    @property
    def padded_rows(self) -> int:
        return int(self.quants.shape[0]) * compiled.CHUNK

    @property
    def kernel_type(self) -> TensorType:
        """The layout the kernels read: Q4_1's for a repacked Q4_K, else the file's type."""
        return TensorType.Q4_1 if self.tensor_type == TensorType.Q4_K else self.tensor_type

    @property
    def kind(self) -> int:
        return {TensorType.Q4_1: 1, TensorType.Q4_0: 0, TensorType.Q6_K: 6}.get(self.kernel_type, 8)

    def matmul(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        tokens = x.shape[0]
        if (
            self.batch_with_blas
            and tokens >= BATCH_THRESHOLD
            and self.padded_rows * self.cols <= MAX_UNPACK_ELEMENTS
        ):
            return self._matmul_blas(x)
        quants, scales, sums = quantize_activations(x)
        if tokens == 1:
            return self._matvec(quants[0], scales[0], sums[0])
        out = np.empty((self.quants.shape[0], tokens, compiled.CHUNK), dtype=np.float32)
        if self.kernel_type == TensorType.Q4_1:
            compiled.matmul_q4_1(self.quants, self.scales, self.mins, quants, scales, sums, out)
        elif self.kernel_type == TensorType.Q4_0:
            compiled.matmul_q4_0(self.quants, self.scales, quants, scales, out)
        elif self.kernel_type == TensorType.Q6_K:
            compiled.matmul_q6_k(self.quants, self.scales, self.mins, quants, scales, out)
        else:
            compiled.matmul_q8_0(self.quants, self.scales, quants, scales, out)
        return out.transpose(1, 0, 2).reshape(tokens, -1)[:, : self.rows]  # (T, rows)

    def _matvec(self, quants: np.ndarray, scales: np.ndarray, sums: np.ndarray) -> np.ndarray:
        """One quantized token through the single-token kernels: (1, rows)."""
        out = np.empty((self.quants.shape[0], compiled.CHUNK), dtype=np.float32)
        serial = self.padded_rows * self.cols < SERIAL_MATVEC_ELEMENTS
        if self.kernel_type == TensorType.Q4_1:
            q4_1 = compiled.matvec_q4_1_serial if serial else compiled.matvec_q4_1
            q4_1(self.quants, self.scales, self.mins, quants, scales, sums, out)
        elif self.kernel_type == TensorType.Q4_0:
            q4_0 = compiled.matvec_q4_0_serial if serial else compiled.matvec_q4_0
            q4_0(self.quants, self.scales, quants, scales, out)
        elif self.kernel_type == TensorType.Q6_K:
            q6_k = compiled.matvec_q6_k_serial if serial else compiled.matvec_q6_k
            q6_k(self.quants, self.scales, self.mins, quants, scales, out)
        else:
            q8_0 = compiled.matvec_q8_0_serial if serial else compiled.matvec_q8_0
            q8_0(self.quants, self.scales, quants, scales, out)
        return out.reshape(1, -1)[:, : self.rows]

    def _matmul_blas(self, x: np.ndarray) -> np.ndarray:
        chunks = self.quants.shape[0]
        activations = requantize_activations(x)  # (T, cols)
        out = np.empty((chunks, x.shape[0], compiled.CHUNK), dtype=np.float32)
        mins = self.mins if self.mins is not None else self.scales
        kind = self.kind

        def multiply(lo: int, hi: int) -> None:
            weight = _scratch(self.cols, compiled.CHUNK)  # this thread's buffer
            for chunk in range(lo, hi):  # unpacked, then multiplied while in cache
                compiled.unpack_chunk(self.quants, self.scales, mins, kind, chunk, weight)
                np.matmul(activations, weight, out=out[chunk])

        _split_over_threads(multiply, chunks)  # (chunks, T, CHUNK)
        product: np.ndarray = out.transpose(1, 0, 2).reshape(x.shape[0], -1)[:, : self.rows]
        return product  # (T, rows)

    def _unpack(self, weight: np.ndarray) -> None:
        mins = self.mins if self.mins is not None else self.scales
        compiled.unpack(self.quants, self.scales, mins, self.kind, weight)

    def to_float(self) -> np.ndarray:
        chunks = self.quants.shape[0]
        weight = np.empty((chunks, self.cols, compiled.CHUNK), dtype=np.float32)
        self._unpack(weight)
        return np.ascontiguousarray(weight.transpose(0, 2, 1).reshape(-1, self.cols)[: self.rows])


_PACKING = {
    # type: (offset of the quants in a block, their bytes, scale offset, min offset or -1)
    TensorType.Q4_1: (4, 16, 0, 2),
    TensorType.Q4_0: (2, 16, 0, -1),
    TensorType.Q8_0: (2, 32, 0, -1),
}


def _pack(tensor_type: TensorType, data: np.ndarray, rows: int, cols: int) -> PackedMatrix:
    quant_offset, quant_bytes, scale_offset, min_offset = _PACKING[tensor_type]
    blocks = cols // 32
    chunk = compiled.CHUNK
    chunks = -(-rows // chunk)
    raw = np.asarray(data, dtype=np.uint8).reshape(rows, -1)
    quants = np.empty((chunks, blocks, quant_bytes, chunk), dtype=np.uint8)
    scales = np.empty((chunks, blocks, chunk), dtype=np.float32)
    mins = np.empty((chunks, blocks, chunk) if min_offset >= 0 else (0, 0, 0), dtype=np.float32)
    compiled.pack_rows(raw, quant_offset, scale_offset, min_offset, quants, scales, mins)
    if tensor_type == TensorType.Q8_0:
        return PackedMatrix(tensor_type, rows, cols, quants.view(np.int8), scales, None)
    return PackedMatrix(tensor_type, rows, cols, quants, scales, mins if min_offset >= 0 else None)


def _pack_q4_k(data: np.ndarray, rows: int, cols: int) -> PackedMatrix:
    """Q4_K rows in the Q4_1 kernels' layout. A Q4_K sub-block of 32 values is ``(d * sc) * q
    - dmin * mn`` with 4-bit q, which is Q4_1's ``q * scale + min`` with ``scale = d * sc``
    and ``min = -(dmin * mn)``: both products are exact in float32 (11-bit by 6-bit), so the
    values, and every product the kernels form, are those of the file. Only the nibble
    order changes: Q4_K keeps a sub-block's 32 quants in the low (or high) nibbles of 32
    bytes, Q4_1 element j and j + 16 in one byte."""
    blocks = cols // 256
    raw = np.asarray(data, dtype=np.uint8).reshape(rows, blocks, 144)
    d = half_floats(raw[:, :, 0:2]).reshape(-1, 1)  # (rows * blocks, 1)
    dmin = half_floats(raw[:, :, 2:4]).reshape(-1, 1)
    sc, mn = k_scales_mins(raw[:, :, 4:16].reshape(-1, 12))  # (rows * blocks, 8)
    scales = d * sc  # (rows * blocks, 8) float32
    mins = -(dmin * mn)
    quants = q4_k_quants(raw.reshape(-1, 144)).reshape(rows, blocks * 8, 32)
    nibbles = quants[:, :, :16] | (quants[:, :, 16:] << 4)  # (rows, blocks * 8, 16)
    return PackedMatrix(
        TensorType.Q4_K, rows, cols, _row_minor(nibbles),
        _row_minor(scales.reshape(rows, blocks * 8)), _row_minor(mins.reshape(rows, blocks * 8)),
    )


def _pack_q6_k(data: np.ndarray, rows: int, cols: int) -> PackedMatrix:
    """Q6_K rows as int8 values with a float32 scale per 16 (two per block of 32, ``scales``
    and ``mins``). A Q6_K value is ``(q * sc) * d`` with q in -32..31 and an int8 sub-scale
    sc per 16 values; the kernels form ``q * (d * sc)``: ``d * sc`` is exact in float32
    (11 by 8 bits), so both are the one rounding of the exact product, the same bits."""
    blocks = cols // 256
    raw = np.asarray(data, dtype=np.uint8).reshape(rows, blocks, 210)
    quants = q6_k_quants(raw.reshape(-1, 210))  # (rows * blocks, half, part, 32)
    values = (quants.astype(np.int16) - 32).astype(np.int8).reshape(rows, blocks * 8, 32)
    d = half_floats(raw[:, :, 208:210])  # (rows, blocks)
    sub_scales = raw[:, :, 192:208].view(np.int8).astype(np.float32)  # (rows, blocks, 16)
    scales = (d[:, :, None] * sub_scales).reshape(rows, blocks * 8, 2)  # per 16 values
    return PackedMatrix(
        TensorType.Q6_K, rows, cols, _row_minor(values.view(np.uint8)).view(np.int8),
        _row_minor(np.ascontiguousarray(scales[:, :, 0])), _row_minor(np.ascontiguousarray(scales[:, :, 1])),
    )


def _row_minor(values: np.ndarray) -> np.ndarray:
    """(rows, ...) into the kernels' (chunks, ..., CHUNK), rows past the end zero."""
    chunk = compiled.CHUNK
    chunks = -(-values.shape[0] // chunk)
    padded = np.zeros((chunks * chunk, *values.shape[1:]), dtype=values.dtype)
    padded[: values.shape[0]] = values
    return np.ascontiguousarray(np.moveaxis(padded.reshape(chunks, chunk, *values.shape[1:]), 1, -1))


_PAGE = 4096
_MADV_DONTNEED = 4


def release_file_pages(array: np.ndarray) -> bool:
    """Drop the resident pages of a *file-backed, read-only* mapping under ``array`` (Linux).

    After packing, the file's bytes are no longer read, yet their pages would stay in the
    process's RSS; ``madvise(MADV_DONTNEED)`` unmaps them (the kernel re-reads them from the
    page cache if they are touched again). Never call it on anonymous memory (bytes,
    bytearray): there it would zero the data. Returns whether anything was released.
    """
    if not sys.platform.startswith("linux") or array.size == 0:
        return False
    start = array.ctypes.data
    end = start + array.nbytes
    first = -(-start // _PAGE) * _PAGE
    last = end // _PAGE * _PAGE
    if last <= first:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)) == 0


def prepare_matrix(
    tensor_type: TensorType, data: np.ndarray, shape: tuple[int, ...], name: str = ""
) -> WeightMatrix:
    """The weight ``data`` (a record's array) of ``tensor_type`` and ``shape`` as a `WeightMatrix`."""
    if len(shape) != 2:
        raise ModelFormatError(f"weight {name!r} has shape {shape}, expected (rows, cols)")
    rows, cols = shape
    if tensor_type in COMPILED_TYPES:
        block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
        if cols % block_elements or np.asarray(data).size != rows * (cols // block_elements) * block_bytes:
            raise ModelFormatError(
                f"weight {name!r}: {tensor_type.name} data of {np.asarray(data).size} bytes "
                f"does not hold {rows}x{cols}"
            )
        if tensor_type == TensorType.Q4_K:
            return _pack_q4_k(data, rows, cols)
        if tensor_type == TensorType.Q6_K:
            return _pack_q6_k(data, rows, cols)
        return _pack(tensor_type, data, rows, cols)
    try:
        weight = dequantize(tensor_type, data, shape)
    except ModelFormatError as exc:
        raise ModelFormatError(f"weight {name!r}: {exc}") from exc
    return DenseMatrix(np.ascontiguousarray(weight, dtype=np.float32), tensor_type)


def matvec_reference(matrix: PackedMatrix, x: np.ndarray) -> np.ndarray:
    """The integer kernels' result computed in numpy, in the documented order (for tests)."""
    quants, scales, sums = quantize_activations(np.asarray(x, dtype=np.float32).reshape(1, -1))
    weight = matrix.to_float()  # exact: scale * quant (+ min) per element, as the kernels read it
    chunk = compiled.CHUNK
    blocks = matrix.cols // 32
    weight_quants = np.empty((matrix.rows, matrix.cols), dtype=np.int64)
    weight_scales = matrix.scales.transpose(0, 2, 1).reshape(-1, blocks)[: matrix.rows]
    weight_mins = (
        matrix.mins.transpose(0, 2, 1).reshape(-1, blocks)[: matrix.rows]
        if matrix.mins is not None
        else None
    )
    packed = matrix.quants.transpose(0, 3, 1, 2).reshape(-1, blocks, matrix.quants.shape[2])
    packed = packed[: matrix.rows].astype(np.int64)
    if matrix.kernel_type in (TensorType.Q8_0, TensorType.Q6_K):
        weight_quants = packed.reshape(matrix.rows, matrix.cols)
    else:
        offset = 8 if matrix.kernel_type == TensorType.Q4_0 else 0
        weight_quants = (
            np.concatenate([packed & 15, packed >> 4], axis=2).reshape(matrix.rows, matrix.cols)
            - offset
        )
    del weight, chunk
    products = weight_quants.reshape(matrix.rows, blocks, 32) * quants.reshape(blocks, 32)
    acc = np.zeros(matrix.rows, dtype=np.float32)
    if matrix.kernel_type == TensorType.Q6_K:
        assert weight_mins is not None  # the second halves' scales
        low, high = products[:, :, :16].sum(axis=2), products[:, :, 16:].sum(axis=2)
        for b in range(blocks):
            acc = acc + (weight_scales[:, b] * scales[0, b]) * low[:, b].astype(np.float32)
            acc = acc + (weight_mins[:, b] * scales[0, b]) * high[:, b].astype(np.float32)
        return acc
    isums = products.sum(axis=2)
    for b in range(blocks):
        acc = acc + (weight_scales[:, b] * scales[0, b]) * isums[:, b].astype(np.float32)
        if weight_mins is not None:
            acc = acc + weight_mins[:, b] * sums[0, b]
    return acc
