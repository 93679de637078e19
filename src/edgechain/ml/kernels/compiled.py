"""Compiled kernels for quantized weights: matrix-vector products and dequantization.

Why numba: a decode step reads every weight once, so its speed is the speed of the
quantized matrix-vector product. numpy alone must either keep float32 copies of the
weights (6.4x the bytes of Q4_1 per token, and 1.4 GB of RSS for SmolLM2) or
dequantize per call (a temporary per matrix per token, ~35 tok/s measured). numba
compiles the block loops to vector machine code (AVX-512 VNNI where the CPU has it)
that reads the quantized weights directly, with ``parallel=True`` over chunks of output
rows and ``cache=True`` so the JIT is paid once per machine, not per load. It installs
as wheels (llvmlite), unlike a C extension that would need a compiler on the user's side.

Layout (`packing.py` builds it at load, a re-arrangement, not a dequantization): output
rows are cut into chunks of `CHUNK` rows; per chunk, per block of 32 inputs, the quant
bytes are stored "row-minor" (``[chunk, block, byte, row]``) so that the innermost loop
runs across rows, with no reduction, and vectorizes; scales are float32 ``[chunk, block,
row]``. Each chunk is a C-contiguous sub-array, which numba's parallel loop needs in
order to keep the inner loop vectorized.

Numerics, fixed by design (DESIGN.md, "bit-exact inference"):

- Activations are quantized to 8-bit blocks of 32 as llama.cpp's x86 ``quantize_row_q8_1``
  does (scale ``f16(amax / 127)``, quants ``rint(x * 127 / amax)``), except that the block
  sum is ``float32(sum(quants)) * scale`` rather than rounded to float16, so that the
  batched (BLAS) path, which sees the dequantized activations, computes the same function
  (`reference.quantize_activations_q8` is the definition).
- Within a block, weight quants times activation quants are summed in int32: exact, so
  the compiler may vectorize that sum in any order.
- Block results are combined in float32 in one documented order: for each row,
  ``acc = 0; for b in blocks: acc = acc + (w_scale[b] * x_scale[b]) * float(isum[b])``
  ``+ w_min[b] * x_sum[b]`` (the min term only for Q4_1), evaluated left to right, no
  fused multiply-add, no reassociation (``fastmath`` is off). Threads split *rows*,
  never a row's sum, so the thread count cannot change a bit of the result.
  `reference.matvec_reference` computes the same order in numpy, and the tests compare
  the two bit for bit.
- The steps between products (RMSNorm, attention's scores, softmax and weighted values,
  SiLU) use `exact`'s exp and its fold order for every sum (``_exp_into``, ``_fold``), so that
  the torch backend, which implements the same definition (`torch_exact`), gets the same
  bits; the tests compare both with `exact`'s numpy rendering.

Threads: numba's OpenMP layer with ``OMP_WAIT_POLICY=PASSIVE`` (set below unless the
user set it), ``numba.set_num_threads`` picks how many.
"""

from __future__ import annotations

import math
import os
from typing import Any

# Threads that wait for work must sleep, not spin: on a machine shared with other
# processes (2 cores, a busy browser, a validator) a spinning OpenMP worker that lost
# its core stalls every parallel region until the scheduler returns it. Measured on
# SmolLM2 decode with 2 threads under load: 1.4 tok/s spinning, 74 tok/s passive.
# libgomp reads this when numba first loads its OpenMP layer, after this import.
if "GOMP_SPINCOUNT" not in os.environ:  # a user who tunes spinning keeps their choice
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba
import numpy as np
from numba import prange

from edgechain.ml.kernels import exact

CHUNK = 64
"""Output rows per chunk: the unit of parallel work and of the row-minor layout. 64, not
32: the single-token kernels' row loop is then four 512-bit vectors long instead of two,
which measured (SmolLM2 shapes, one thread, same bits) Q4_1 576->3072 146-196 -> 83-86 us,
1536->576 71-102 -> 44-45 us, the Q8_0 head 1.9-2.2 -> 1.6-1.7 ms. 128 gained little more
and splits a 576-row matrix into 4.5 chunks (64: 9 chunks, 5 and 4 per thread at 2)."""

_EXP_LOW = exact.EXP_LOW
_EXP_HIGH = exact.EXP_HIGH
_LOG2E = exact.LOG2E
_LN2_HIGH = exact.LN2_HIGH
_LN2_LOW = exact.LN2_LOW
_C0, _C1, _C2, _C3, _C4, _C5 = exact.EXP_POLYNOMIAL
_POW2_OFFSET = exact.POW2_OFFSET
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)

_POW2_HALF = np.array(
    [2.0**-24] + [2.0 ** (exponent - 25) for exponent in range(1, 31)] + [0.0],
    dtype=np.float32,
)
"""Value of one mantissa unit of a float16 of biased exponent e (e = 0: subnormal)."""


@numba.njit(cache=True, inline="always")
def _half(low: Any, high: Any) -> Any:
    """A little-endian float16 given as two bytes, as float32 (exact)."""
    bits = np.int32(low) | (np.int32(high) << 8)
    exponent = (bits >> 10) & 31
    mantissa = bits & 1023
    if exponent == 0:
        value = np.float32(mantissa) * _POW2_HALF[0]
    elif exponent == 31:
        value = np.float32(np.inf) if mantissa == 0 else np.float32(np.nan)
    else:
        value = np.float32(mantissa | 1024) * _POW2_HALF[exponent]
    if bits & 0x8000:
        value = -value
    return value


@numba.njit(cache=True, inline="always")
def _round_f16(value: Any) -> Any:
    """``value`` rounded to the nearest float16 (ties to even), returned as float32."""
    magnitude = abs(value)
    if magnitude == 0.0 or magnitude != magnitude:
        return np.float32(value)
    _, exponent = math.frexp(magnitude)  # magnitude = m * 2**exponent, 0.5 <= m < 1
    quantum = 2.0 ** (exponent - 11) if exponent - 1 >= -14 else 2.0**-24
    rounded = np.rint(magnitude / quantum) * quantum
    if rounded > 65504.0:
        rounded = np.inf
    return np.float32(rounded if value > 0 else -rounded)


@numba.njit(cache=True)
def quantize_q8(x: np.ndarray, quants: np.ndarray, scales: np.ndarray, sums: np.ndarray) -> None:
    """Quantize float32 rows ``x`` (T, n) into int8 ``quants`` (T, n), ``scales``, ``sums`` (T, n/32)."""
    tokens, width = x.shape
    blocks = width // 32
    for t in range(tokens):
        for b in range(blocks):
            amax = np.float32(0.0)
            for j in range(32):
                magnitude = abs(x[t, b * 32 + j])
                amax = magnitude if magnitude > amax else amax
            scale = amax / np.float32(127.0)
            inverse = np.float32(127.0) / amax if amax > 0 else np.float32(0.0)
            total = np.int64(0)
            for j in range(32):
                quant = np.int32(np.rint(x[t, b * 32 + j] * inverse))
                quants[t, b * 32 + j] = quant
                total += quant
            rounded_scale = _round_f16(scale)
            scales[t, b] = rounded_scale
            sums[t, b] = np.float32(total) * rounded_scale


@numba.njit(parallel=True, cache=True)
def requantize_q8(x: np.ndarray, out: np.ndarray) -> None:
    """``out[t] = float32(quant) * scale`` of `quantize_q8`'s blocks of ``x[t]`` (T, n): the
    activations a batch's BLAS product sees. Rows in parallel (each row alone, so the
    thread count changes no bit); one pass instead of quantize, widen and multiply."""
    tokens, width = x.shape
    blocks = width // 32
    for t in prange(tokens):
        for b in range(blocks):
            amax = np.float32(0.0)
            for j in range(32):
                magnitude = abs(x[t, b * 32 + j])
                amax = magnitude if magnitude > amax else amax
            inverse = np.float32(127.0) / amax if amax > 0 else np.float32(0.0)
            rounded_scale = _round_f16(amax / np.float32(127.0))
            for j in range(32):
                quant = np.int8(np.int32(np.rint(x[t, b * 32 + j] * inverse)))
                out[t, b * 32 + j] = np.float32(quant) * rounded_scale


@numba.njit(cache=True)
def _chunk_q4_1(nibbles, scales, mins, quants, x_scales, x_sums, out):  # type: ignore[no-untyped-def]
    blocks = nibbles.shape[0]
    rows = nibbles.shape[2]
    tokens = quants.shape[0]
    out[:, :] = np.float32(0.0)
    for b in range(blocks):
        for t in range(tokens):
            x_scale = x_scales[t, b]
            x_sum = x_sums[t, b]
            for r in range(rows):
                isum = np.int32(0)
                for j in range(16):
                    byte = np.int32(nibbles[b, j, r])
                    isum = np.int32(
                        isum
                        + np.int32(np.int32(byte & 15) * np.int32(quants[t, b * 32 + j]))
                        + np.int32(np.int32(byte >> 4) * np.int32(quants[t, b * 32 + 16 + j]))
                    )
                out[t, r] = (
                    out[t, r] + (scales[b, r] * x_scale) * np.float32(isum) + mins[b, r] * x_sum
                )


@numba.njit(cache=True)
def _chunk_q4_0(nibbles, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    blocks = nibbles.shape[0]
    rows = nibbles.shape[2]
    tokens = quants.shape[0]
    out[:, :] = np.float32(0.0)
    for b in range(blocks):
        for t in range(tokens):
            x_scale = x_scales[t, b]
            for r in range(rows):
                isum = np.int32(0)
                for j in range(16):
                    byte = np.int32(nibbles[b, j, r])
                    isum = np.int32(
                        isum
                        + np.int32(np.int32((byte & 15) - 8) * np.int32(quants[t, b * 32 + j]))
                        + np.int32(
                            np.int32((byte >> 4) - 8) * np.int32(quants[t, b * 32 + 16 + j])
                        )
                    )
                out[t, r] = out[t, r] + (scales[b, r] * x_scale) * np.float32(isum)


@numba.njit(cache=True)
def _chunk_q8_0(values, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    blocks = values.shape[0]
    rows = values.shape[2]
    tokens = quants.shape[0]
    out[:, :] = np.float32(0.0)
    for b in range(blocks):
        for t in range(tokens):
            x_scale = x_scales[t, b]
            for r in range(rows):
                isum = np.int32(0)
                for j in range(32):
                    isum = np.int32(
                        isum
                        + np.int32(np.int32(values[b, j, r]) * np.int32(quants[t, b * 32 + j]))
                    )
                out[t, r] = out[t, r] + (scales[b, r] * x_scale) * np.float32(isum)


@numba.njit(parallel=True, cache=True)
def matmul_q4_1(nibbles, scales, mins, quants, x_scales, x_sums, out):  # type: ignore[no-untyped-def]
    """Q4_1 weights times quantized activations (T, in): ``out`` (chunks, T, CHUNK)."""
    for c in prange(nibbles.shape[0]):
        _chunk_q4_1(nibbles[c], scales[c], mins[c], quants, x_scales, x_sums, out[c])


@numba.njit(parallel=True, cache=True)
def matmul_q4_0(nibbles, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """Q4_0 weights times quantized activations (T, in): ``out`` (chunks, T, CHUNK)."""
    for c in prange(nibbles.shape[0]):
        _chunk_q4_0(nibbles[c], scales[c], quants, x_scales, out[c])


@numba.njit(parallel=True, cache=True)
def matmul_q8_0(values, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """Q8_0 weights times quantized activations (T, in): ``out`` (chunks, T, CHUNK)."""
    for c in prange(values.shape[0]):
        _chunk_q8_0(values[c], scales[c], quants, x_scales, out[c])


# One token (decode): the same integers and the same float32 order as `matmul_*`, with
# the loops turned around so the innermost one runs across the chunk's rows for every
# input (j outer, rows inner, one int32 accumulator per row): a plain vector loop over
# contiguous bytes, which the compiler keeps in 512-bit registers. Measured on the
# SmolLM2 shapes, one thread: Q4_1 576->3072 ~190 -> ~150 us, 1536->576 ~100 -> ~75 us.
# Q8_0 sums two products in int16 before widening (|w * q| <= 128 * 127, two of them
# <= 32512 < 2**15: exact), twice the lanes per instruction: the 49152-row output head
# ~2.9 -> ~2.2 ms. Integer sums are exact whatever their grouping, so the results are
# bit for bit those of `matmul_*` (tests compare them, extremes included).


@numba.njit(cache=True)
def _row_q4_1(nibbles, scales, mins, quants, x_scales, x_sums, isum, out):  # type: ignore[no-untyped-def]
    blocks = nibbles.shape[0]
    rows = nibbles.shape[2]
    for r in range(rows):
        out[r] = np.float32(0.0)
    for b in range(blocks):
        x_scale = x_scales[b]
        x_sum = x_sums[b]
        for r in range(rows):
            isum[r] = 0
        for j in range(16):
            low = np.int32(quants[b * 32 + j])
            high = np.int32(quants[b * 32 + 16 + j])
            for r in range(rows):
                byte = np.int32(nibbles[b, j, r])
                isum[r] += np.int32(byte & 15) * low + np.int32(byte >> 4) * high
        for r in range(rows):
            out[r] = out[r] + (scales[b, r] * x_scale) * np.float32(isum[r]) + mins[b, r] * x_sum


@numba.njit(cache=True)
def _row_q4_0(nibbles, scales, quants, x_scales, isum, out):  # type: ignore[no-untyped-def]
    blocks = nibbles.shape[0]
    rows = nibbles.shape[2]
    for r in range(rows):
        out[r] = np.float32(0.0)
    for b in range(blocks):
        x_scale = x_scales[b]
        for r in range(rows):
            isum[r] = 0
        for j in range(16):
            low = np.int32(quants[b * 32 + j])
            high = np.int32(quants[b * 32 + 16 + j])
            for r in range(rows):
                byte = np.int32(nibbles[b, j, r])
                isum[r] += np.int32((byte & 15) - 8) * low + np.int32((byte >> 4) - 8) * high
        for r in range(rows):
            out[r] = out[r] + (scales[b, r] * x_scale) * np.float32(isum[r])


@numba.njit(cache=True)
def _row_q8_0(values, scales, quants, x_scales, isum, out):  # type: ignore[no-untyped-def]
    blocks = values.shape[0]
    rows = values.shape[2]
    for r in range(rows):
        out[r] = np.float32(0.0)
    for b in range(blocks):
        x_scale = x_scales[b]
        for r in range(rows):
            isum[r] = 0
        for j in range(0, 32, 2):
            first = np.int16(quants[b * 32 + j])
            second = np.int16(quants[b * 32 + j + 1])
            for r in range(rows):
                pair = np.int16(
                    np.int16(np.int16(values[b, j, r]) * first)
                    + np.int16(np.int16(values[b, j + 1, r]) * second)
                )
                isum[r] += np.int32(pair)
        for r in range(rows):
            out[r] = out[r] + (scales[b, r] * x_scale) * np.float32(isum[r])


@numba.njit(parallel=True, cache=True)
def matvec_q4_1(nibbles, scales, mins, quants, x_scales, x_sums, out):  # type: ignore[no-untyped-def]
    """`matmul_q4_1` for one token: ``quants`` (in,), ``x_*`` (in/32,), ``out`` (chunks, CHUNK)."""
    for c in prange(nibbles.shape[0]):
        isum = np.empty(nibbles.shape[3], dtype=np.int32)
        _row_q4_1(nibbles[c], scales[c], mins[c], quants, x_scales, x_sums, isum, out[c])


@numba.njit(parallel=True, cache=True)
def matvec_q4_0(nibbles, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matmul_q4_0` for one token: ``quants`` (in,), ``x_scales`` (in/32,), ``out`` (chunks, CHUNK)."""
    for c in prange(nibbles.shape[0]):
        isum = np.empty(nibbles.shape[3], dtype=np.int32)
        _row_q4_0(nibbles[c], scales[c], quants, x_scales, isum, out[c])


@numba.njit(parallel=True, cache=True)
def matvec_q8_0(values, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matmul_q8_0` for one token: ``quants`` (in,), ``x_scales`` (in/32,), ``out`` (chunks, CHUNK)."""
    for c in prange(values.shape[0]):
        isum = np.empty(values.shape[3], dtype=np.int32)
        _row_q8_0(values[c], scales[c], quants, x_scales, isum, out[c])


# The same per-chunk work on the calling thread only: for a layer's matrices in decode,
# where waking the other threads for 15-90 us of work costs more than it saves (sleeping
# OpenMP workers, see the top of this module). Separate functions, not ``njit`` of the
# same one twice: numba's on-disk cache keys on the Python function, so the two would
# share one cached (parallel or serial) compilation.


@numba.njit(cache=True)
def matvec_q4_1_serial(nibbles, scales, mins, quants, x_scales, x_sums, out):  # type: ignore[no-untyped-def]
    """`matvec_q4_1` on the calling thread."""
    isum = np.empty(nibbles.shape[3], dtype=np.int32)
    for c in range(nibbles.shape[0]):
        _row_q4_1(nibbles[c], scales[c], mins[c], quants, x_scales, x_sums, isum, out[c])


@numba.njit(cache=True)
def matvec_q4_0_serial(nibbles, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matvec_q4_0` on the calling thread."""
    isum = np.empty(nibbles.shape[3], dtype=np.int32)
    for c in range(nibbles.shape[0]):
        _row_q4_0(nibbles[c], scales[c], quants, x_scales, isum, out[c])


@numba.njit(cache=True)
def matvec_q8_0_serial(values, scales, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matvec_q8_0` on the calling thread."""
    isum = np.empty(values.shape[3], dtype=np.int32)
    for c in range(values.shape[0]):
        _row_q8_0(values[c], scales[c], quants, x_scales, isum, out[c])


# Q6_K, repacked at load (`matrices._pack_q6_k`): int8 values -32..31 like Q8_0's, with two
# float32 scales per block of 32 (one per 16 values, ``scales`` and ``scales_high``). Each
# half's integer sum is exact; the block's term is added half by half:
# ``acc = acc + (scale * x_scale) * float(isum_low) + (scale_high * x_scale) * float(isum_high)``.


@numba.njit(cache=True)
def _row_q6_k(values, scales, scales_high, quants, x_scales, isum, out):  # type: ignore[no-untyped-def]
    blocks = values.shape[0]
    rows = values.shape[2]
    for r in range(rows):
        out[r] = np.float32(0.0)
    for b in range(blocks):
        x_scale = x_scales[b]
        for r in range(rows):
            isum[0, r] = 0
            isum[1, r] = 0
        for half in range(2):
            for j in range(half * 16, half * 16 + 16, 2):
                first = np.int16(quants[b * 32 + j])
                second = np.int16(quants[b * 32 + j + 1])
                for r in range(rows):
                    pair = np.int16(  # |q| <= 32, |x| <= 127: a pair stays below 2**13
                        np.int16(np.int16(values[b, j, r]) * first)
                        + np.int16(np.int16(values[b, j + 1, r]) * second)
                    )
                    isum[half, r] += np.int32(pair)
        for r in range(rows):
            out[r] = (
                out[r]
                + (scales[b, r] * x_scale) * np.float32(isum[0, r])
                + (scales_high[b, r] * x_scale) * np.float32(isum[1, r])
            )


@numba.njit(parallel=True, cache=True)
def matvec_q6_k(values, scales, scales_high, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """A repacked Q6_K weight times one token: ``quants`` (in,), ``x_scales`` (in/32,),
    ``out`` (chunks, CHUNK)."""
    for c in prange(values.shape[0]):
        isum = np.empty((2, values.shape[3]), dtype=np.int32)
        _row_q6_k(values[c], scales[c], scales_high[c], quants, x_scales, isum, out[c])


@numba.njit(cache=True)
def matvec_q6_k_serial(values, scales, scales_high, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matvec_q6_k` on the calling thread."""
    isum = np.empty((2, values.shape[3]), dtype=np.int32)
    for c in range(values.shape[0]):
        _row_q6_k(values[c], scales[c], scales_high[c], quants, x_scales, isum, out[c])


@numba.njit(parallel=True, cache=True)
def matmul_q6_k(values, scales, scales_high, quants, x_scales, out):  # type: ignore[no-untyped-def]
    """`matvec_q6_k` for each token of ``quants`` (T, in): ``out`` (chunks, T, CHUNK), chunks in
    parallel, each token as `matvec_q6_k` computes it."""
    for c in prange(values.shape[0]):
        isum = np.empty((2, values.shape[3]), dtype=np.int32)
        for t in range(quants.shape[0]):
            _row_q6_k(values[c], scales[c], scales_high[c], quants[t], x_scales[t], isum, out[c, t])


@numba.njit(cache=True)
def _unpack_chunk(quants, scales, mins, kind, out):  # type: ignore[no-untyped-def]
    blocks = quants.shape[0]
    rows = quants.shape[2]
    for b in range(blocks):
        if kind == 8:
            for j in range(32):
                for r in range(rows):
                    out[b * 32 + j, r] = np.float32(np.int8(quants[b, j, r])) * scales[b, r]
            continue
        if kind == 6:  # a repacked Q6_K: ``mins`` holds the second 16 values' scales
            for j in range(32):
                for r in range(rows):
                    scale = scales[b, r] if j < 16 else mins[b, r]
                    out[b * 32 + j, r] = np.float32(np.int8(quants[b, j, r])) * scale
            continue
        for j in range(16):
            for r in range(rows):
                byte = np.int32(quants[b, j, r])
                if kind == 1:
                    out[b * 32 + j, r] = np.float32(byte & 15) * scales[b, r] + mins[b, r]
                    out[b * 32 + 16 + j, r] = np.float32(byte >> 4) * scales[b, r] + mins[b, r]
                else:
                    out[b * 32 + j, r] = np.float32((byte & 15) - 8) * scales[b, r]
                    out[b * 32 + 16 + j, r] = np.float32((byte >> 4) - 8) * scales[b, r]


@numba.njit(cache=True, nogil=True)
def unpack_chunk(quants, scales, mins, kind, chunk, out):  # type: ignore[no-untyped-def]
    """`unpack` of one chunk into ``out`` (inputs, CHUNK), without the GIL: a BLAS worker
    unpacks the chunk it multiplies next, while it is still in its cache."""
    _unpack_chunk(quants[chunk], scales[chunk], mins[chunk], kind, out)


@numba.njit(parallel=True, cache=True)
def unpack(quants, scales, mins, kind, out):  # type: ignore[no-untyped-def]
    """Packed weights into float32 ``out`` (chunks, inputs, CHUNK): each chunk's slice of the
    weight, transposed. ``kind``: 1 = Q4_1 (``mins`` used), 0 = Q4_0, 8 = Q8_0, 6 = a repacked
    Q6_K (``mins``: the scales of each block's second 16 values)."""
    for c in prange(quants.shape[0]):
        _unpack_chunk(quants[c], scales[c], mins[c], kind, out[c])


@numba.njit(cache=True, inline="always")
def _exp_parts(x):  # type: ignore[no-untyped-def]
    """`exact.exp` of one float32 as (y, bits of 2**k as int32): their product is the exp.
    Branch-free (selects only), so that loops over it vectorize; a NaN stays NaN in y."""
    x = _EXP_LOW if x < _EXP_LOW else x
    x = _EXP_HIGH if x > _EXP_HIGH else x
    k = np.rint(x * _LOG2E)
    r = x - k * _LN2_HIGH
    r = r - k * _LN2_LOW
    r2 = r * r
    p = _C0 * r
    p = (p + _C1) * r
    p = (p + _C2) * r
    p = (p + _C3) * r
    p = (p + _C4) * r
    p = p + _C5
    y = p * r2
    y = y + r
    y = y + _ONE
    return y, (np.int32(k) + np.int32(_POW2_OFFSET)) << np.int32(23)


@numba.njit(cache=True, inline="always")
def _exp_into(x, out, bits, count):  # type: ignore[no-untyped-def]
    """``out[:count] = exact.exp(x[:count])`` (``out`` may be ``x``), with ``bits`` (int32, at
    least ``count``) as scratch: two passes that each vectorize."""
    for i in range(count):
        out[i], bits[i] = _exp_parts(x[i])
    powers = bits[:count].view(np.float32)
    for i in range(count):
        out[i] = out[i] * powers[i]


@numba.njit(cache=True, inline="always")
def _fold_width(count):  # type: ignore[no-untyped-def]
    """`exact.fold_width`."""
    width = 1
    while width < count:
        width *= 2
    return width


@numba.njit(cache=True, inline="always")
def _fold_rows(buffer, width):  # type: ignore[no-untyped-def]
    """Fold ``buffer`` (width, n), zero beyond the terms, over its rows: row 0 then holds each
    column's sum in `exact.fold_sum`'s order (before its final ``+ 0.0``)."""
    while width > 1:
        width //= 2
        for i in range(width):
            for j in range(buffer.shape[1]):
                buffer[i, j] = buffer[i, j] + buffer[i + width, j]


@numba.njit(cache=True, inline="always")
def _fold(buffer, width):  # type: ignore[no-untyped-def]
    """`exact.fold_sum` of a 1-D ``buffer`` of ``width`` (a power of two), zero beyond the
    terms; ``buffer`` is overwritten."""
    while width > 1:
        width //= 2
        for i in range(width):
            buffer[i] = buffer[i] + buffer[i + width]
    return buffer[0] + buffer.dtype.type(0.0)


@numba.njit(cache=True, inline="always")
def _weighted_rows(coefficients, matrix, count, half, columns, out):  # type: ignore[no-untyped-def]
    """The first fold level of ``coefficients[i] * matrix[i, :columns]`` over i < ``count``:
    ``out[i] = c[i] * m[i] + c[i + half] * m[i + half]`` where i + half < count, else
    ``c[i] * m[i] + 0.0`` (``half`` 0: the one row, plus 0.0)."""
    for i in range(max(half, 1)):
        c = coefficients[i]
        if half > 0 and i + half < count:
            c2 = coefficients[i + half]
            for j in range(columns):
                out[i, j] = c * matrix[i, j] + c2 * matrix[i + half, j]
        else:
            for j in range(columns):
                out[i, j] = c * matrix[i, j] + _ZERO


@numba.njit(cache=True)
def _attention_task(queries, keys_t, values, start, scale, out, task):  # type: ignore[no-untyped-def]
    """One (head, query) of `attention`, in `exact`'s order: each score the fold over the
    head of q * k, the softmax by `exact`'s exp with its denominator folded over positions,
    each output the fold over positions of weight * value. Every caller gets the same bits.

    The first level of each fold is taken while the products are formed (a + b, or a + 0.0
    where b is padding: the same additions as folding the zero-padded array), so the
    buffers are half the padded size and need no zeroing."""
    tokens, heads, head_dim = queries.shape
    group = heads // keys_t.shape[0]
    h = task // tokens
    t = task % tokens
    kv = h // group
    length = start + t + 1
    # scores: fold over the head dimension, vectorized across positions
    half_d = _fold_width(head_dim) // 2
    products = np.empty((max(half_d, 1), length), dtype=np.float32)
    _weighted_rows(queries[t, h], keys_t[kv], head_dim, half_d, length, products)
    _fold_rows(products, half_d)
    width = _fold_width(length)
    weights = np.empty(width, dtype=np.float32)
    top = np.float32(-np.inf)
    for s in range(length):
        score = (products[0, s] + _ZERO) * scale
        weights[s] = score
        top = score if score > top else top
    for s in range(length):
        weights[s] = weights[s] - top
    _exp_into(weights, weights, np.empty(length, dtype=np.int32), length)
    for s in range(length, width):
        weights[s] = _ZERO
    terms = weights.copy()
    inverse = _ONE / _fold(terms, width)
    for s in range(length):
        weights[s] = weights[s] * inverse
    # outputs: fold over positions, vectorized across the head dimension
    half_s = width // 2
    weighted = np.empty((max(half_s, 1), head_dim), dtype=np.float32)
    _weighted_rows(weights, values[kv], length, half_s, head_dim, weighted)
    _fold_rows(weighted, half_s)
    for d in range(head_dim):
        out[t, h, d] = weighted[0, d] + _ZERO


@numba.njit(parallel=True, cache=True)
def attention(queries, keys_t, values, start, scale, out):  # type: ignore[no-untyped-def]
    """Causal grouped-query attention of ``queries`` (T, heads, hd) at positions start.. over
    ``keys_t`` (kv heads, hd, S) and ``values`` (kv heads, S, hd) into ``out`` (T, heads, hd).

    One task per (head, query) (`_attention_task`); every sum runs in a fixed order, so the
    result does not depend on the thread count.
    """
    tokens, heads, _ = queries.shape
    for task in prange(heads * tokens):
        _attention_task(queries, keys_t, values, start, scale, out, task)


@numba.njit(cache=True)
def attention_serial(queries, keys_t, values, start, scale, out):  # type: ignore[no-untyped-def]
    """`attention` on one thread (the same tasks, so the same bits): for a single decoded
    token, where waking a second thread costs more than it saves."""
    tokens, heads, _ = queries.shape
    for task in range(heads * tokens):
        _attention_task(queries, keys_t, values, start, scale, out, task)


@numba.njit(cache=True)
def rmsnorm(x, weight, eps, out):  # type: ignore[no-untyped-def]
    """``out[t] = (x[t] * float32(1 / sqrt(mean(x[t]^2) + eps))) * weight``; the squares in
    float64, summed in `exact.fold_sum`'s order."""
    tokens, width = x.shape
    padded = _fold_width(width)
    squares = np.zeros(padded, dtype=np.float64)
    for t in range(tokens):
        for i in range(width):
            value = np.float64(x[t, i])
            squares[i] = value * value
        for i in range(width, padded):
            squares[i] = 0.0
        total = _fold(squares, padded)
        scale = np.float32(1.0 / math.sqrt(total / width + eps))
        for i in range(width):
            out[t, i] = (x[t, i] * scale) * weight[i]


@numba.njit(cache=True)
def rope(x, cos, sin):  # type: ignore[no-untyped-def]
    """Rotate pairs (x[2i], x[2i+1]) of ``x`` (T, heads, head_dim) in place by cos/sin (T, half)."""
    tokens, heads, _ = x.shape
    half = cos.shape[1]
    for t in range(tokens):
        for h in range(heads):
            for i in range(half):
                even = x[t, h, 2 * i]
                odd = x[t, h, 2 * i + 1]
                x[t, h, 2 * i] = even * cos[t, i] - odd * sin[t, i]
                x[t, h, 2 * i + 1] = even * sin[t, i] + odd * cos[t, i]


@numba.njit(cache=True)
def _swiglu_row(gate, up, out, scratch, bits):  # type: ignore[no-untyped-def]
    hidden = gate.shape[0]
    for i in range(hidden):
        scratch[i] = -gate[i]
    _exp_into(scratch, scratch, bits, hidden)
    for i in range(hidden):
        out[i] = gate[i] / (_ONE + scratch[i]) * up[i]


@numba.njit(cache=True)
def swiglu(gate, up, out):  # type: ignore[no-untyped-def]
    """``out = silu(gate) * up`` elementwise over (T, hidden) arrays (views allowed), SiLU as
    ``g / (1 + exp(-g))`` with `exact`'s exp."""
    tokens, hidden = gate.shape
    scratch = np.empty(hidden, dtype=np.float32)
    bits = np.empty(hidden, dtype=np.int32)
    for t in range(tokens):
        _swiglu_row(gate[t], up[t], out[t], scratch, bits)


@numba.njit(parallel=True, cache=True)
def swiglu_rows(gate, up, out):  # type: ignore[no-untyped-def]
    """`swiglu` with tokens in parallel (the same expression per element, so the same bits)."""
    tokens, hidden = gate.shape
    for t in prange(tokens):
        _swiglu_row(gate[t], up[t], out[t], np.empty(hidden, np.float32), np.empty(hidden, np.int32))


@numba.njit(cache=True)
def store_kv(k, v, keys_t, values, start):  # type: ignore[no-untyped-def]
    """Write k, v (T, kv heads, hd) at positions start.. of keys_t (kv, hd, S) and values (kv, S, hd)."""
    tokens, heads, head_dim = k.shape
    for t in range(tokens):
        for h in range(heads):
            for d in range(head_dim):
                keys_t[h, d, start + t] = k[t, h, d]
                values[h, start + t, d] = v[t, h, d]


@numba.njit(parallel=True, cache=True)
def pack_rows(raw, quant_offset, scale_offset, min_offset, quants, scales, mins):  # type: ignore[no-untyped-def]
    """File rows (rows, blocks * block_bytes) into the row-minor layout: ``quants`` (chunks,
    blocks, quant bytes, CHUNK) from byte ``quant_offset`` of each block, float16 scales
    (and mins when ``min_offset >= 0``) into float32 (chunks, blocks, CHUNK). Rows past
    the end stay zero."""
    rows = raw.shape[0]
    chunks, blocks, quant_bytes, chunk = quants.shape
    block_bytes = raw.shape[1] // blocks
    for c in prange(chunks):
        for r in range(chunk):
            row = c * chunk + r
            if row >= rows:
                for b in range(blocks):
                    scales[c, b, r] = np.float32(0.0)
                    if min_offset >= 0:
                        mins[c, b, r] = np.float32(0.0)
                    for j in range(quant_bytes):
                        quants[c, b, j, r] = 0
                continue
            for b in range(blocks):
                o = b * block_bytes
                scales[c, b, r] = _half(raw[row, o + scale_offset], raw[row, o + scale_offset + 1])
                if min_offset >= 0:
                    mins[c, b, r] = _half(raw[row, o + min_offset], raw[row, o + min_offset + 1])
                for j in range(quant_bytes):
                    quants[c, b, j, r] = raw[row, o + quant_offset + j]
