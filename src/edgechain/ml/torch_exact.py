"""`kernels.exact`'s numerics in PyTorch: the torch backend's steps in exact mode.

Each function computes, with elementwise torch operations only (add, subtract, multiply,
divide, sqrt, each correctly rounded and each its own kernel, so nothing is fused into a
multiply-add), the same bits as the numpy definition in `edgechain.ml.kernels.exact` and
the compiled kernels that follow it. Sums are folds in halves over zero-padded rows
(`fold_sum`); exp is `exact.exp`'s polynomial (`exp`), never ``torch.exp``.

Import this module only after `torch_backend.import_torch` succeeded: it imports torch.
"""

from __future__ import annotations

import torch

from edgechain.ml.kernels import exact

_LOW = float(exact.EXP_LOW)
_HIGH = float(exact.EXP_HIGH)
_LOG2E = float(exact.LOG2E)
_LN2_HIGH = float(exact.LN2_HIGH)
_LN2_LOW = float(exact.LN2_LOW)
_POLYNOMIAL = [float(c) for c in exact.EXP_POLYNOMIAL]
# Python floats holding float32 values exactly: torch applies them to a float32 tensor
# in float32 (its opmath type), so each product or sum below is one float32 rounding.

QUERY_CHUNK_ELEMENTS = 1 << 23
"""Prefill attention materialises query x position x head products; queries are taken in
chunks so that one chunk's products stay below this many elements (32 MB of float32)."""


def exp(x: torch.Tensor) -> torch.Tensor:
    """`exact.exp` of a float32 tensor, elementwise."""
    x = x.clamp(_LOW, _HIGH)  # NaN stays NaN
    k = torch.round(x * _LOG2E)  # ties to even, as np.rint
    r = x - k * _LN2_HIGH
    r = r - k * _LN2_LOW
    r2 = r * r
    p = r * _POLYNOMIAL[0]
    for coefficient in _POLYNOMIAL[1:-1]:
        p = (p + coefficient) * r
    p = p + _POLYNOMIAL[-1]
    y = p * r2
    y = y + r
    y = y + 1.0
    # 2**k built from its bits: exact for k in -126..127, which the clamp guarantees
    # (a NaN k gives some finite power, and y is NaN already).
    powers = ((k.nan_to_num(0.0).to(torch.int32) + 127) << 23).view(torch.float32)
    return y * powers


def fold_sum(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """`exact.fold_sum` along ``dim`` (which is removed), in ``x``'s dtype."""
    dim = dim % x.dim()
    count = x.shape[dim]
    width = exact.fold_width(count)
    if width != count:
        pad_shape = list(x.shape)
        pad_shape[dim] = width - count
        x = torch.cat([x, x.new_zeros(pad_shape)], dim=dim)
    while width > 1:
        width //= 2
        x = x.narrow(dim, 0, width) + x.narrow(dim, width, width)
    return x.squeeze(dim) + 0.0


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """(T, dim) float32: the mean square of float64 squares folded, as `compiled.rmsnorm`."""
    squares = x.to(torch.float64).square()  # exact: a float32 square fits in float64
    total = fold_sum(squares, dim=-1)[:, None]  # (T, 1)
    scale = (1.0 / torch.sqrt(total / x.shape[-1] + eps)).to(torch.float32)
    return (x * scale) * weight


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``gate / (1 + exp(-gate)) * up`` with the exact exp, as `compiled.swiglu`."""
    return gate / (exp(-gate) + 1.0) * up


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Pairs (x[2i], x[2i+1]) of (T, heads, head_dim) rotated by cos/sin (T, half), each
    output two products and one sum (torch's complex product may fuse a multiply-add)."""
    tokens, heads, head_dim = x.shape
    half = cos.shape[1]
    c = cos[:, None, :]  # (T, 1, half)
    s = sin[:, None, :]
    even = x[:, :, 0 : 2 * half : 2]  # (T, heads, half)
    odd = x[:, :, 1 : 2 * half : 2]
    rotated = torch.stack([even * c - odd * s, even * s + odd * c], dim=-1)
    rotated = rotated.reshape(tokens, heads, 2 * half)
    if 2 * half == head_dim:
        return rotated
    return torch.cat([rotated, x[:, :, 2 * half :]], dim=-1)


def attend(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, future: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    """Softmax attention of ``queries`` (kv, n, hd) over ``keys``/``values`` (kv, S, hd) in
    `exact`'s order, positions where ``future`` (n, S) is True left out; (kv, n, hd).

    A left-out position weighs exactly 0, and a fold over S positions equals the compiled
    kernel's fold over the query's own, shorter row (zero padding changes nothing)."""
    products = queries[:, :, None, :] * keys[:, None, :, :]  # (kv, n, S, hd)
    scores = fold_sum(products, dim=-1) * scale  # (kv, n, S)
    if future is not None:
        scores = scores.masked_fill(future, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True)
    weights = exp(scores - top)
    if future is not None:
        weights = weights.masked_fill(future, 0.0)
    inverse = 1.0 / fold_sum(weights, dim=-1)  # (kv, n)
    weights = weights * inverse[:, :, None]
    return fold_sum(weights[:, :, :, None] * values[:, None, :, :], dim=2)  # (kv, n, hd)


def causal_attention(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, start: int, tokens: int,
    scale: float,
) -> torch.Tensor:
    """Queries (kv, group * tokens, hd), ordered (group, token), at positions start..; keys
    and values (kv, start + tokens, hd). Taken in chunks of whole query rows (see
    `QUERY_CHUNK_ELEMENTS`); (kv, group * tokens, hd)."""
    kv_heads, rows, head_dim = queries.shape
    length = keys.shape[1]
    positions = torch.arange(length, device=queries.device)
    query_positions = torch.arange(start, start + tokens, device=queries.device).repeat(rows // tokens)
    per_row = kv_heads * length * head_dim
    step = max(1, QUERY_CHUNK_ELEMENTS // per_row)
    pieces = []
    for first in range(0, rows, step):
        last = min(rows, first + step)
        future = query_positions[first:last, None] < positions[None, :]  # (n, S)
        pieces.append(attend(queries[:, first:last], keys, values, future, scale))
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


__all__ = [
    "QUERY_CHUNK_ELEMENTS",
    "attend",
    "causal_attention",
    "exp",
    "fold_sum",
    "rmsnorm",
    "rope",
    "swiglu",
]
