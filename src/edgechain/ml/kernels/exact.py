"""The exact numerics every backend follows: one exp, one order for every float sum.

Why: a float32 result depends on the order of its additions and on the math library's
exp, and numpy (numba), PyTorch on a CPU and PyTorch on CUDA each pick their own. A model
whose activations are rounded to 8 bits (llama.cpp's rule for Q4_0/Q4_1/Q8_0 products)
turns such one-ulp differences into whole quantization steps, and greedy decoding then
parts at near-ties. So the steps outside the integer products are defined here once, in
terms of IEEE float operations that every backend rounds the same way (add, subtract,
multiply, divide, sqrt: correctly rounded, never fused into a multiply-add), and each
backend implements this definition rather than calling its library's routine:

- **exp** (`exp`): Cody-Waite range reduction by ln 2 and a degree-6 polynomial (Cephes'
  ``expf`` coefficients), in float32, each operation in the order written. The argument is
  first clamped to [`EXP_LOW`, `EXP_HIGH`] so that ``2**k`` stays a normal float32 (no
  subnormal results, so flush-to-zero settings cannot matter): exp(-80) = 1.8e-35 stands
  for anything smaller, which no softmax or SiLU here can tell from zero. Accuracy: within
  1 ulp of the correctly rounded exp on [-80, 88] (checked by the tests); NaN gives NaN.
- **sums** (`fold_sum`): the n terms are placed in an array of the next power of two P,
  zero-padded, and folded in halves: ``a[i] = a[i] + a[i + P/2]`` for i < P/2, then P/4, ...
  down to one. It costs log2(P) vectorized additions in a tensor library (numpy, torch)
  and a short loop in a compiled kernel, and zero padding beyond n changes no nonzero
  result, so a sum over a longer, zero-padded row (a masked row of a batch, a CUDA
  graph's whole cache) gives the same number. A sum that is exactly zero is returned as
  +0.0 (``+ 0.0`` at the end), so the sign of zero cannot differ either.

Where these are used (by `compiled` and by the torch backend): RMSNorm's mean square
(float64 squares folded, then ``sqrt`` and a division), attention (each score the fold of
the 64 float32 products over the head, the softmax's exp and denominator, each output the
fold over positions of weight times value), SiLU (``x / (1 + exp(-x))``). RoPE is two
products and a sum per element, which are exact already when no multiply-add is fused.
"""

from __future__ import annotations

import numpy as np

EXP_LOW = np.float32(-80.0)
"""Arguments below this are clamped to it (see the module docstring)."""
EXP_HIGH = np.float32(88.0)
"""Arguments above this are clamped to it (exp(88) = 1.65e38 < float32's largest)."""
LOG2E = np.float32(1.44269504088896341)
"""log2(e), rounded to float32."""
LN2_HIGH = np.float32(0.693359375)
"""The leading bits of ln 2 (355/512): k * LN2_HIGH is exact for |k| < 2^15."""
LN2_LOW = np.float32(-2.12194440e-4)
"""ln 2 - LN2_HIGH, rounded to float32."""
EXP_POLYNOMIAL = tuple(
    np.float32(c)
    for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
              1.6666665459e-1, 5.0000001201e-1)
)
"""Cephes' expf coefficients, highest power first: exp(r) ~ 1 + r + r^2 P(r) on |r| <= ln2/2."""
POW2 = np.array([2.0**k for k in range(-127, 128)], dtype=np.float32)
"""2**k for k = -127..127 at index k + 127 (exact; -127 is never used after the clamp)."""
POW2_OFFSET = 127
"""Index of 2**0 in `POW2`."""


def exp(x: np.ndarray) -> np.ndarray:
    """The exact-mode exp of float32 ``x``, elementwise, in numpy (the definition the compiled
    and torch implementations are checked against, bit for bit)."""
    x = np.clip(np.asarray(x, dtype=np.float32), EXP_LOW, EXP_HIGH)
    k = np.rint(x * LOG2E)  # float32, ties to even
    r: np.ndarray = x - k * LN2_HIGH
    r = r - k * LN2_LOW
    r2 = r * r
    p: np.ndarray = EXP_POLYNOMIAL[0] * r
    for coefficient in EXP_POLYNOMIAL[1:-1]:
        p = (p + coefficient) * r
    p = p + EXP_POLYNOMIAL[-1]
    y = p * r2
    y = y + r
    y = y + np.float32(1.0)
    index = np.where(np.isnan(k), 0, k).astype(np.int64) + POW2_OFFSET  # NaN stays NaN in y
    result: np.ndarray = (y * POW2[index]).astype(np.float32)
    return result


def fold_width(count: int) -> int:
    """P: the power of two a sum of ``count`` terms is padded to (1 for 0 or 1 term)."""
    width = 1
    while width < count:
        width *= 2
    return width


def fold_sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The sum of ``x`` along ``axis`` in the fold order (see the module docstring); the
    dtype of ``x`` is kept (float32 or float64)."""
    moved = np.moveaxis(np.asarray(x), axis, -1)
    count = moved.shape[-1]
    width = fold_width(count)
    padded = np.zeros((*moved.shape[:-1], width), dtype=moved.dtype)
    padded[..., :count] = moved
    while width > 1:
        width //= 2
        padded = padded[..., :width] + padded[..., width : 2 * width]
    total: np.ndarray = padded[..., 0] + moved.dtype.type(0.0)
    return total


__all__ = [
    "EXP_HIGH",
    "EXP_LOW",
    "EXP_POLYNOMIAL",
    "LN2_HIGH",
    "LN2_LOW",
    "LOG2E",
    "POW2",
    "POW2_OFFSET",
    "exp",
    "fold_sum",
    "fold_width",
]
