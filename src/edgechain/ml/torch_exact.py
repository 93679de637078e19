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
        # The first level without padding: terms h.. add to terms 0.. (a + 0.0 changes no
        # nonzero sum, and the final + 0.0 settles the sign of a zero one).
        width //= 2
        first = x.narrow(dim, 0, width).clone()
        first.narrow(dim, 0, count - width).add_(x.narrow(dim, width, count - width))
        x = first
    while width > 1:
        width //= 2
        x = x.narrow(dim, 0, width) + x.narrow(dim, width, width)
    return x.squeeze(dim) + 0.0


def _constant(value: float, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a 0-dim tensor on ``like``'s device and dtype: a divisor. (CUDA divides
    by a Python number as a multiplication by its reciprocal: two roundings, not one.)"""
    return torch.full((), value, dtype=like.dtype, device=like.device)


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """(T, dim) float32: the mean square of float64 squares folded, as `compiled.rmsnorm`."""
    squares = x.to(torch.float64).square()  # exact: a float32 square fits in float64
    total = fold_sum(squares, dim=-1)[:, None]  # (T, 1)
    mean = total / _constant(float(x.shape[-1]), total)
    scale = (1.0 / torch.sqrt(mean + eps)).to(torch.float32)
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


# ---------------------------------------------------------------------------- products

PRODUCT_CHUNK_ELEMENTS = 1 << 24
"""Exact products hold (blocks, tokens, rows) float32 terms; rows are taken in chunks so
that one chunk's terms stay below this many elements (64 MB)."""


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`compiled.quantize_q8` in torch: (T, n) float32 -> quants (T, n/32, 32) as float32
    integers, scales (T, n/32) (float16 values) and sums (T, n/32) = float32(sum of quants) *
    scale. A block whose largest magnitude is 0 gets inverse 0 (quants 0), as in the kernel."""
    tokens, width = x.shape
    blocks = x.reshape(tokens, width // 32, 32)
    amax = blocks.abs().amax(dim=-1)  # (T, B)
    divisor = _constant(127.0, amax)
    inverse = torch.where(amax > 0, divisor / amax, torch.zeros_like(amax))
    quants = torch.round(blocks * inverse[:, :, None])  # ties to even, as np.rint
    scales = (amax / divisor).to(torch.float16).to(torch.float32)  # ties to even, as _round_f16
    sums = quants.sum(dim=-1) * scales  # an integer sum below 2^24: exact in any order
    return quants, scales, sums


def weight_quants(tensor_type: str, parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """The integer weights of a Q4_0/Q4_1/Q8_0 row range as float32 (rows, B, 32): nibbles
    (Q4_1), nibbles - 8 (Q4_0), or the int8 quants (Q8_0)."""
    if tensor_type == "Q8_0":
        return parts["quants"].to(torch.float32)
    nibbles = parts["nibbles"]
    quants = torch.cat([nibbles & 0x0F, nibbles >> 4], dim=-1).to(torch.float32)
    return quants - 8.0 if tensor_type == "Q4_0" else quants


BLOCK_SUMS = {"cpu": "loop", "cuda": "scan"}
"""How `sum_in_order` adds block terms on each device type: "loop" (one addition kernel
per term) or "scan" (``torch.cumsum`` along the outer dimension, one kernel: on CUDA
PyTorch runs that scan one thread per column, adding in order in the tensor's dtype,
which the GPU tests check bit for bit against the kernels; on a CPU torch's cumsum adds
in float64, a different result, so the CPU loops)."""


def sum_in_order(terms: torch.Tensor, min_terms: torch.Tensor | None) -> torch.Tensor:
    """``acc = 0; for b: acc = acc + terms[b] (+ min_terms[b])``, left to right, in float32:
    the compiled kernels' order over blocks. ``terms`` (B, T, rows) -> (T, rows)."""
    if min_terms is not None:  # interleave: terms[0], min_terms[0], terms[1], ...
        terms = torch.stack([terms, min_terms], dim=1).reshape(-1, *terms.shape[1:])
    if BLOCK_SUMS.get(terms.device.type, "loop") == "scan":
        return torch.cumsum(terms, dim=0)[-1]
    acc = torch.zeros(terms.shape[1:], dtype=terms.dtype, device=terms.device)
    for term in terms:
        acc = acc + term
    return acc


def legacy_product(tensor_type: str, parts: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(T, cols) float32 times a Q4_0/Q4_1/Q8_0 weight (its `TorchMatrix` parts), bit for bit
    the compiled kernels' result: the 8-bit activations times the weight quants summed per
    block (a float32 batched product of integers whose sums stay below 2^24: exact in any
    order, TF32 off), then, for each row, ``acc = acc + (w_scale * x_scale) * isum`` ``+
    w_min * x_sum`` block after block, in block order. (T, rows) float32."""
    quants, x_scales, x_sums = quantize_activations(x)
    tokens, blocks, _ = quants.shape
    rows = next(iter(parts.values())).shape[0]
    by_block = quants.transpose(0, 1)  # (B, T, 32)
    step = max(1, PRODUCT_CHUNK_ELEMENTS // (blocks * tokens))
    pieces = []
    for first in range(0, rows, step):
        chunk = {key: value[first : first + step] for key, value in parts.items()}
        weights = weight_quants(tensor_type, chunk).permute(1, 2, 0)  # (B, 32, rows_c)
        sums = torch.bmm(by_block, weights)  # (B, T, rows_c) integer-valued
        w_scales = chunk["scales"][..., 0].to(torch.float32).T  # (B, rows_c)
        terms = (w_scales[:, None, :] * x_scales.T[:, :, None]) * sums
        min_terms = None
        if "mins" in chunk:
            min_terms = chunk["mins"][..., 0].to(torch.float32).T[:, None, :] * x_sums.T[:, :, None]
        pieces.append(sum_in_order(terms, min_terms))
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


__all__ = [
    "BLOCK_SUMS",
    "PRODUCT_CHUNK_ELEMENTS",
    "QUERY_CHUNK_ELEMENTS",
    "attend",
    "causal_attention",
    "exp",
    "fold_sum",
    "legacy_product",
    "quantize_activations",
    "rmsnorm",
    "rope",
    "sum_in_order",
    "swiglu",
    "weight_quants",
]
