"""Kernels: reference dequantization against gguf's, compiled products against numpy, bit for bit."""

from __future__ import annotations

import gguf
import numba
import numpy as np
import pytest
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.kernels import (
    DenseMatrix,
    PackedMatrix,
    compiled,
    dequantize,
    matvec_reference,
    prepare_matrix,
    quantize_activations,
    quantize_activations_q8,
    requantize_activations,
)
from edgechain.ml.weights import BLOCK_LAYOUT, TensorType

LEGACY = ["Q8_0", "Q4_0", "Q4_1"]


def _quantized(
    tensor_type: str, rows: int, cols: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    weight = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    return weight, gguf_quantize(weight, gguf.GGMLQuantizationType[tensor_type])


@pytest.mark.parametrize("tensor_type", LEGACY)
def test_reference_dequantization_matches_gguf_for_legacy_types(tensor_type: str) -> None:
    _, data = _quantized(tensor_type, 8, 256)
    ours = dequantize(TensorType[tensor_type], data, (8, 256))
    np.testing.assert_array_equal(
        ours, gguf_dequantize(data, gguf.GGMLQuantizationType[tensor_type])
    )


@pytest.mark.parametrize("tensor_type", ["Q4_K", "Q5_K", "Q6_K"])
def test_reference_dequantization_matches_gguf_for_k_quants(tensor_type: str) -> None:
    block_bytes = BLOCK_LAYOUT[TensorType[tensor_type]][1]
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (6, block_bytes), dtype=np.uint8)
    scale_offset = 208 if tensor_type == "Q6_K" else 0
    raw[:, scale_offset : scale_offset + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
    if tensor_type != "Q6_K":
        raw[:, 2:4] = np.frombuffer(np.float16(0.02).tobytes(), np.uint8)
    data = raw.reshape(3, 2 * block_bytes)  # 3 rows of 512 values
    ours = dequantize(TensorType[tensor_type], data, (3, 512))
    theirs = gguf_dequantize(data, gguf.GGMLQuantizationType[tensor_type])
    np.testing.assert_array_equal(ours, theirs)


def test_float_types_dequantize() -> None:
    values = np.linspace(-2, 2, 64, dtype=np.float32).reshape(2, 32)
    np.testing.assert_array_equal(dequantize(TensorType.F32, values, (2, 32)), values)
    half = values.astype(np.float16)
    np.testing.assert_array_equal(
        dequantize(TensorType.F16, half, (2, 32)), half.astype(np.float32)
    )
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    expected = (bf16.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(dequantize(TensorType.BF16, bf16, (2, 32)), expected)


def test_wrong_sizes_are_format_errors() -> None:
    with pytest.raises(ModelFormatError, match="needs"):
        dequantize(TensorType.Q8_0, np.zeros(33, np.uint8), (1, 32))
    with pytest.raises(ModelFormatError, match="multiple"):
        dequantize(TensorType.Q4_0, np.zeros(18, np.uint8), (1, 30))
    with pytest.raises(ModelFormatError, match="does not hold"):
        prepare_matrix(TensorType.Q4_1, np.zeros(19, np.uint8), (1, 32))


def test_activation_quantization_follows_the_documented_rule() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 128)).astype(np.float32) * 5
    x[1, 32:64] = 0.0  # an all-zero block: scale 0, quants 0
    quants, scales, sums = quantize_activations(x)
    for row in range(3):
        ref_quants, ref_scales, ref_sums = quantize_activations_q8(x[row])
        np.testing.assert_array_equal(quants[row], ref_quants)
        np.testing.assert_array_equal(scales[row], ref_scales)
        np.testing.assert_array_equal(sums[row], ref_sums)
    assert np.all(quants[1, 32:64] == 0) and scales[1, 1] == 0
    assert np.abs(quants).max() == 127
    np.testing.assert_allclose(requantize_activations(x), x, atol=np.abs(x).max() / 127)


def test_float16_rounding_helper_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            rng.standard_normal(2000) * 10.0 ** rng.integers(-9, 6, 2000),
            [0.0, -0.0, 65504.0, 65520.0, 1e6, 2.0**-24, 2.0**-25, 3 * 2.0**-26, 6.1e-5],
        ]
    ).astype(np.float32)
    ours = np.array([compiled._round_f16(float(v)) for v in values], dtype=np.float32)
    with np.errstate(over="ignore"):  # values past 65504 round to inf, as intended
        expected = values.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("tensor_type", LEGACY)
@pytest.mark.parametrize(("rows", "cols"), [(96, 64), (45, 128)])
def test_packed_matrix_unpacks_to_the_reference(tensor_type: str, rows: int, cols: int) -> None:
    _, data = _quantized(tensor_type, rows, cols)
    matrix = prepare_matrix(TensorType[tensor_type], data, (rows, cols))
    assert isinstance(matrix, PackedMatrix)
    np.testing.assert_array_equal(
        matrix.to_float(), dequantize(TensorType[tensor_type], data, (rows, cols))
    )


@pytest.mark.parametrize("tensor_type", LEGACY)
def test_compiled_product_equals_numpy_in_documented_order_bit_for_bit(tensor_type: str) -> None:
    weight, data = _quantized(tensor_type, 200, 192, seed=4)
    matrix = prepare_matrix(TensorType[tensor_type], data, (200, 192))
    x = np.random.default_rng(5).standard_normal((1, 192)).astype(np.float32)
    np.testing.assert_array_equal(matrix.matmul(x)[0], matvec_reference(matrix, x[0]))  # type: ignore[arg-type]
    # and it is the product it claims to be
    expected = requantize_activations(x) @ dequantize(TensorType[tensor_type], data, (200, 192)).T
    np.testing.assert_allclose(matrix.matmul(x), expected, atol=1e-4)
    assert np.abs(matrix.matmul(x) - x @ weight.T).max() < 0.1 * np.abs(x @ weight.T).max()


@pytest.mark.parametrize("tensor_type", LEGACY)
def test_batches_and_thread_counts_do_not_change_a_bit(tensor_type: str) -> None:
    _, data = _quantized(tensor_type, 256, 256, seed=6)
    matrix = prepare_matrix(TensorType[tensor_type], data, (256, 256))
    assert isinstance(matrix, PackedMatrix)
    x = np.random.default_rng(7).standard_normal((9, 256)).astype(np.float32)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = matrix.matmul(x)
        single_blas = matrix.matmul(x)
        matrix.batch_with_blas = False
        single_exact = matrix.matmul(x)
        numba.set_num_threads(max(2, threads))
        multi_exact = matrix.matmul(x)
        matrix.batch_with_blas = True
        multi_blas = matrix.matmul(x)
    finally:
        numba.set_num_threads(threads)
    stepwise = np.concatenate([matrix.matmul(x[t : t + 1]) for t in range(9)])
    np.testing.assert_array_equal(single, single_blas)
    np.testing.assert_array_equal(single_blas, multi_blas)
    np.testing.assert_array_equal(single_exact, multi_exact)
    np.testing.assert_array_equal(single_exact, stepwise)


@pytest.mark.parametrize("tensor_type", LEGACY)
def test_blas_batch_path_computes_the_same_function(tensor_type: str) -> None:
    _, data = _quantized(tensor_type, 64, 128, seed=8)
    matrix = prepare_matrix(TensorType[tensor_type], data, (64, 128))
    assert isinstance(matrix, PackedMatrix) and matrix.batch_with_blas
    x = np.random.default_rng(9).standard_normal((8, 128)).astype(np.float32)
    blas = matrix.matmul(x)
    matrix.batch_with_blas = False
    np.testing.assert_allclose(blas, matrix.matmul(x), atol=1e-4)


def random_k_blocks(tensor_type: TensorType, rows: int, cols: int, seed: int) -> np.ndarray:
    """Random Q4_K or Q6_K bytes whose float16 super-block scales are small positive values."""
    rng = np.random.default_rng(seed)
    block_bytes = BLOCK_LAYOUT[tensor_type][1]
    raw = rng.integers(0, 256, (rows, cols // 256, block_bytes), dtype=np.uint8)
    fields = ((0, 0.002), (2, 0.004)) if tensor_type == TensorType.Q4_K else ((208, 0.001),)
    for offset, top in fields:
        halves = rng.uniform(0, top, (rows, cols // 256)).astype("<f2")
        raw[:, :, offset : offset + 2] = halves.view(np.uint8).reshape(rows, cols // 256, 2)
    return raw.reshape(rows, -1)


def assert_the_kernels_use_the_files_values(tensor_type: TensorType, raw: np.ndarray, rows: int, cols: int) -> PackedMatrix:
    """The packed matrix decodes to the reference decoder's values bit for bit, one token's
    product equals `matvec_reference`, and the batch kernels equal the single-token ones."""
    matrix = prepare_matrix(tensor_type, raw, (rows, cols))
    assert isinstance(matrix, PackedMatrix)
    expected = dequantize(tensor_type, raw, (rows, cols))
    assert np.array_equal(matrix.to_float().view(np.uint32), expected.view(np.uint32))
    x = np.random.default_rng(rows).standard_normal((5, cols)).astype(np.float32)
    single = np.stack([matrix.matmul(x[t : t + 1])[0] for t in range(5)])
    for t in range(5):
        assert np.array_equal(single[t], matvec_reference(matrix, x[t]))
    matrix.batch_with_blas = False
    assert np.array_equal(matrix.matmul(x), single)  # the integer batch kernels: same bits
    activations = requantize_activations(x)  # what the kernels multiply
    np.testing.assert_allclose(single, activations @ expected.T, rtol=1e-4, atol=1e-4)
    return matrix


@pytest.mark.parametrize("rows", [70, 256])
def test_q4_k_is_repacked_for_the_q4_1_kernels_with_the_files_values(rows: int) -> None:
    cols = 512
    raw = random_k_blocks(TensorType.Q4_K, rows, cols, seed=rows)
    matrix = assert_the_kernels_use_the_files_values(TensorType.Q4_K, raw, rows, cols)
    assert matrix.kernel_type == TensorType.Q4_1
    assert matrix.quants.nbytes == -(-rows // compiled.CHUNK) * compiled.CHUNK * cols // 2


@pytest.mark.parametrize("rows", [70, 256])
def test_q6_k_runs_through_its_integer_kernel_with_the_files_values(rows: int) -> None:
    cols = 512
    raw = random_k_blocks(TensorType.Q6_K, rows, cols, seed=rows)
    matrix = assert_the_kernels_use_the_files_values(TensorType.Q6_K, raw, rows, cols)
    assert matrix.quants.dtype == np.int8
    # the largest products the format allows stay exact in the int16 pairs
    extreme = raw.reshape(rows, cols // 256, 210).copy()
    extreme[:, :, 0:192] = 0  # every quant -32
    matrix = prepare_matrix(TensorType.Q6_K, extreme.reshape(rows, -1), (rows, cols))
    x = np.full((1, cols), 3.0, dtype=np.float32)  # every activation quant 127
    assert np.array_equal(matrix.matmul(x)[0], matvec_reference(matrix, x[0]))


def test_q5_k_and_floats_become_dense_matrices() -> None:
    rng = np.random.default_rng(10)
    raw = rng.integers(0, 256, (2, 176), dtype=np.uint8)
    raw[:, 0:4] = np.frombuffer(np.float16([0.01, 0.02]).tobytes(), np.uint8)
    matrix = prepare_matrix(TensorType.Q5_K, raw, (2, 256))
    assert isinstance(matrix, DenseMatrix)
    x = rng.standard_normal((1, 256)).astype(np.float32)
    np.testing.assert_allclose(
        matrix.matmul(x), x @ dequantize(TensorType.Q5_K, raw, (2, 256)).T, rtol=1e-6
    )


def test_attention_kernel_matches_a_plain_softmax() -> None:
    rng = np.random.default_rng(11)
    tokens, heads, kv_heads, head_dim, start = 5, 6, 2, 16, 3
    q = rng.standard_normal((tokens, heads, head_dim)).astype(np.float32)
    keys = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    values = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    out = np.empty_like(q)
    scale = np.float32(1 / np.sqrt(head_dim))
    keys_t = np.ascontiguousarray(keys.transpose(0, 2, 1))
    compiled.attention(q, keys_t, values, start, scale, out)
    serial = np.empty_like(q)
    compiled.attention_serial(q, keys_t, values, start, scale, serial)
    np.testing.assert_array_equal(serial, out)
    for h in range(heads):
        for t in range(tokens):
            length = start + t + 1
            scores = keys[h // 3, :length].astype(np.float64) @ q[t, h] * scale
            weights = np.exp(scores - scores.max())
            expected = (weights / weights.sum()) @ values[h // 3, :length]
            np.testing.assert_allclose(out[t, h], expected, atol=1e-5)


@pytest.mark.parametrize("tensor_type", LEGACY)
@pytest.mark.parametrize("extreme", ["largest", "smallest", "mixed"])
def test_single_token_kernels_equal_the_batch_kernels_at_integer_extremes(
    tensor_type: str, extreme: str
) -> None:
    # The single-token kernels group integer sums differently (Q8_0 pairs in int16):
    # exact only while nothing overflows, so feed the largest products the formats allow.
    rows, cols = 70, 256
    _, block_bytes = BLOCK_LAYOUT[TensorType[tensor_type]]
    rng = np.random.default_rng(11)
    raw = rng.integers(0, 256, size=(rows, cols // 32, block_bytes), dtype=np.uint8)
    header = {"Q4_1": 4, "Q4_0": 2, "Q8_0": 2}[tensor_type]
    halves = np.float16([0.5, -0.25]) if tensor_type == "Q4_1" else np.float16([0.5])
    raw[:, :, :header] = np.frombuffer(halves.tobytes(), dtype=np.uint8)
    fill = {"largest": (0xFF if tensor_type == "Q4_1" else 0x7F), "smallest": 0x00}
    if tensor_type == "Q8_0":
        fill = {"largest": 0x7F, "smallest": 0x80}  # int8 127 and -128
    if extreme in fill:
        raw[:, :, header:] = fill[extreme]
    matrix = prepare_matrix(TensorType[tensor_type], raw.reshape(-1), (rows, cols))
    assert isinstance(matrix, PackedMatrix)
    x = np.full((2, cols), 3.0, dtype=np.float32)  # every quant 127
    x[1] = -3.0  # every quant -127
    if extreme == "mixed":
        x[0] = rng.choice([-3.0, 3.0], size=cols).astype(np.float32)
    matrix.batch_with_blas = False
    batch = matrix.matmul(x)  # the (T, in) kernels: int32 per product
    for t in range(2):
        np.testing.assert_array_equal(matrix.matmul(x[t : t + 1])[0], batch[t])
        np.testing.assert_array_equal(matrix.matmul(x[t : t + 1])[0], matvec_reference(matrix, x[t]))


def test_requantized_activations_are_the_quants_times_their_scales_bit_for_bit() -> None:
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((7, 256)) * rng.uniform(1e-3, 50, size=(7, 1))).astype(np.float32)
    x[2, 32:64] = 0.0  # an all-zero block: scale 0
    quants, scales, _ = quantize_activations(x)
    expected = (quants.reshape(7, 8, 32).astype(np.float32) * scales[:, :, None]).reshape(7, 256)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = requantize_activations(x)
        numba.set_num_threads(max(2, threads))
        multi = requantize_activations(x)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(single, expected)
    np.testing.assert_array_equal(multi, expected)


def test_parallel_swiglu_equals_the_serial_kernel_bit_for_bit() -> None:
    rng = np.random.default_rng(13)
    gate_up = (rng.standard_normal((5, 96)) * 6).astype(np.float32)
    serial = np.empty((5, 48), dtype=np.float32)
    parallel = np.empty((5, 48), dtype=np.float32)
    compiled.swiglu(gate_up[:, :48], gate_up[:, 48:], serial)
    compiled.swiglu_rows(gate_up[:, :48], gate_up[:, 48:], parallel)
    np.testing.assert_array_equal(serial, parallel)
    gate = gate_up[:, :48].astype(np.float64)
    np.testing.assert_allclose(serial, gate / (1 + np.exp(-gate)) * gate_up[:, 48:], rtol=1e-5)


@pytest.mark.parametrize("tensor_type", LEGACY)
def test_serial_and_parallel_single_token_kernels_agree_bit_for_bit(tensor_type: str) -> None:
    _, data = _quantized(tensor_type, 300, 128, seed=14)
    matrix = prepare_matrix(TensorType[tensor_type], data, (300, 128))
    assert isinstance(matrix, PackedMatrix)
    quants, scales, sums = quantize_activations(
        np.random.default_rng(15).standard_normal((1, 128)).astype(np.float32)
    )
    serial = np.empty((matrix.quants.shape[0], compiled.CHUNK), dtype=np.float32)
    parallel = np.empty_like(serial)
    if tensor_type == "Q4_1":
        arguments = (matrix.quants, matrix.scales, matrix.mins, quants[0], scales[0], sums[0])
        compiled.matvec_q4_1_serial(*arguments, serial)
        compiled.matvec_q4_1(*arguments, parallel)
    elif tensor_type == "Q4_0":
        compiled.matvec_q4_0_serial(matrix.quants, matrix.scales, quants[0], scales[0], serial)
        compiled.matvec_q4_0(matrix.quants, matrix.scales, quants[0], scales[0], parallel)
    else:
        compiled.matvec_q8_0_serial(matrix.quants, matrix.scales, quants[0], scales[0], serial)
        compiled.matvec_q8_0(matrix.quants, matrix.scales, quants[0], scales[0], parallel)
    np.testing.assert_array_equal(serial, parallel)
    x = np.random.default_rng(15).standard_normal((1, 128)).astype(np.float32)
    np.testing.assert_array_equal(serial.reshape(-1)[:300], matvec_reference(matrix, x[0]))
