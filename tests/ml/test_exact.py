"""`kernels.exact`: the exact exp and the fold order, and the compiled kernels that follow them
bit for bit (exp, SiLU, RMSNorm, attention)."""

from __future__ import annotations

import numpy as np
import pytest

from edgechain.ml.kernels import compiled, exact


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between float32 arrays of one sign."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


def exp_arguments() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.concatenate([
        np.linspace(-80, 88, 1_000_001, dtype=np.float32),
        (rng.standard_normal(200_000) * 4).astype(np.float32),
        rng.uniform(-1e-3, 1e-3, 20_000).astype(np.float32),
        np.array([0.0, -0.0, 1.0, -1.0, 0.5 * np.log(2), -0.5 * np.log(2)], dtype=np.float32),
    ])


def test_exp_is_within_one_ulp_of_the_correctly_rounded_exp() -> None:
    x = exp_arguments()
    got = exact.exp(x)
    correctly_rounded = np.exp(x.astype(np.float64)).astype(np.float32)
    assert got.dtype == np.float32
    assert int(ulps(got, correctly_rounded).max()) <= 1
    assert exact.exp(np.zeros(1, np.float32))[0] == 1.0


def test_exp_clamps_instead_of_overflowing_and_keeps_nan() -> None:
    got = exact.exp(np.array([-1e30, -np.inf, -80.0, 1e30, np.inf, 88.0, np.nan], np.float32))
    low, high = exact.exp(np.array([exact.EXP_LOW, exact.EXP_HIGH], np.float32))
    np.testing.assert_array_equal(got[:3], [low, low, low])
    np.testing.assert_array_equal(got[3:6], [high, high, high])
    assert np.isfinite(high) and high > 1e38 and 0 < low < 1e-34
    assert np.isnan(got[6])


def test_compiled_exp_is_the_definition_bit_for_bit() -> None:
    x = np.concatenate([exp_arguments(), np.array([-1e30, 1e30, np.inf, -np.inf, np.nan], np.float32)])
    out = np.empty_like(x)
    compiled._exp_into(x, out, np.empty(x.size, dtype=np.int32), x.size)
    expected = exact.exp(x)
    assert np.array_equal(out.view(np.uint32), expected.view(np.uint32))


def test_fold_sum_order_and_padding() -> None:
    # the order is visible where float32 addition is not associative
    x = np.array([1e8, 1.0, -1e8, 1.0, 3.0], dtype=np.float32)
    # P = 8: (1e8 + 3) + 0, (1 + 0) + 0, ... -> ((1e8+3) + (-1e8)) + (1 + 1)
    a = [np.float32(v) for v in (*x, 0, 0, 0)]
    first = [a[i] + a[i + 4] for i in range(4)]
    second = [first[i] + first[i + 2] for i in range(2)]
    assert exact.fold_sum(x) == second[0] + second[1] == 2.0  # in index order: 4.0
    # a longer, zero-padded row folds to the same number, and a zero sum is +0.0
    rng = np.random.default_rng(2)
    row = rng.standard_normal(37).astype(np.float32)
    longer = np.concatenate([row, np.zeros(100, np.float32)])
    assert exact.fold_sum(row) == exact.fold_sum(longer)
    zero = exact.fold_sum(np.array([-0.0, -0.0], np.float32))
    assert zero == 0 and not np.signbit(zero)
    assert exact.fold_width(0) == exact.fold_width(1) == 1 and exact.fold_width(37) == 64
    matrix = rng.standard_normal((3, 5, 7))
    assert exact.fold_sum(matrix, axis=1).shape == (3, 7)
    np.testing.assert_allclose(exact.fold_sum(matrix, axis=1), matrix.sum(axis=1), rtol=1e-12)


def test_swiglu_kernels_follow_the_definition() -> None:
    rng = np.random.default_rng(13)
    gate_up = (rng.standard_normal((5, 96)) * 6).astype(np.float32)
    gate, up = gate_up[:, :48], gate_up[:, 48:]
    expected = gate / (np.float32(1.0) + exact.exp(-gate)) * up
    for kernel in (compiled.swiglu, compiled.swiglu_rows):
        out = np.empty((5, 48), dtype=np.float32)
        kernel(gate, up, out)
        assert np.array_equal(out, expected)


def rmsnorm_definition(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    total = exact.fold_sum(x.astype(np.float64) ** 2)
    scale = (1.0 / np.sqrt(total / x.shape[1] + eps)).astype(np.float32)
    return (x * scale[:, None]) * weight


@pytest.mark.parametrize("width", [576, 64, 100])
def test_rmsnorm_kernel_follows_the_definition(width: int) -> None:
    rng = np.random.default_rng(width)
    x = (rng.standard_normal((4, width)) * rng.uniform(0.01, 100, (4, 1))).astype(np.float32)
    weight = rng.standard_normal(width).astype(np.float32)
    out = np.empty_like(x)
    compiled.rmsnorm(x, weight, 1e-5, out)
    assert np.array_equal(out, rmsnorm_definition(x, weight, 1e-5))


def attention_definition(
    q: np.ndarray, keys: np.ndarray, values: np.ndarray, start: int, scale: np.float32
) -> np.ndarray:
    """(T, heads, hd) from keys/values (kv, S, hd), written with `exact` in numpy."""
    tokens, heads, _ = q.shape
    group = heads // keys.shape[0]
    out = np.empty_like(q)
    for t in range(tokens):
        length = start + t + 1
        for h in range(heads):
            k, v = keys[h // group, :length], values[h // group, :length]
            scores = exact.fold_sum(q[t, h][None, :] * k, axis=1) * scale  # (length,)
            weights = exact.exp(scores - scores.max())
            weights = weights * (np.float32(1.0) / exact.fold_sum(weights))
            out[t, h] = exact.fold_sum(weights[:, None] * v, axis=0)
    return out


@pytest.mark.parametrize(("tokens", "start"), [(5, 3), (1, 40), (1, 0)])
def test_attention_kernels_follow_the_definition(tokens: int, start: int) -> None:
    rng = np.random.default_rng(11)
    heads, kv_heads, head_dim = 6, 2, 16
    q = (rng.standard_normal((tokens, heads, head_dim)) * 3).astype(np.float32)
    keys = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    values = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    scale = np.float32(1 / np.sqrt(head_dim))
    keys_t = np.ascontiguousarray(keys.transpose(0, 2, 1))
    expected = attention_definition(q, keys, values, start, scale)
    for kernel in (compiled.attention, compiled.attention_serial):
        out = np.empty_like(q)
        kernel(q, keys_t, values, start, scale, out)
        assert np.array_equal(out, expected)
