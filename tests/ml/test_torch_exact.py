"""`torch_exact` against `kernels.exact` and the compiled kernels, bit for bit, and what it buys:
the torch backend on the CPU gives the numpy backend's logits exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_exact import attention_definition, exp_arguments, rmsnorm_definition
from test_torch_backend import GPU, GREEDY_STEPS, PROMPT, greedy, write_model

from edgechain.ml.formats import open_model_file
from edgechain.ml.kernels import compiled, exact
from edgechain.ml.llama import LlamaConfig, LlamaModel, NumpyBackend, load_llama, rope_tables

torch = pytest.importorskip("torch")

from edgechain.ml import torch_exact  # noqa: E402
from edgechain.ml.torch_backend import TorchBackend  # noqa: E402
from edgechain.ml.torch_graphs import GraphDecoder  # noqa: E402


def same_bits(got: torch.Tensor, expected: np.ndarray) -> bool:
    array = got.numpy()
    return array.dtype == expected.dtype and np.array_equal(array.view(np.uint32), expected.view(np.uint32))


def test_exp_is_the_definition_bit_for_bit() -> None:
    x = np.concatenate([exp_arguments(), np.array([-1e30, 1e30, np.inf, -np.inf, np.nan], np.float32)])
    assert same_bits(torch_exact.exp(torch.from_numpy(x)), exact.exp(x))


@pytest.mark.parametrize("count", [1, 2, 37, 64, 576])
def test_fold_sum_is_the_definition(count: int) -> None:
    rng = np.random.default_rng(count)
    x = (rng.standard_normal((3, count, 5)) * 1e4).astype(np.float32)
    assert same_bits(torch_exact.fold_sum(torch.from_numpy(x), dim=1), exact.fold_sum(x, axis=1))


def test_rmsnorm_and_swiglu_are_the_compiled_kernels_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 576)) * rng.uniform(0.01, 100, (4, 1))).astype(np.float32)
    weight = rng.standard_normal(576).astype(np.float32)
    got = torch_exact.rmsnorm(torch.from_numpy(x), torch.from_numpy(weight), 1e-5)
    assert same_bits(got, rmsnorm_definition(x, weight, 1e-5))
    gate, up = (rng.standard_normal((2, 3, 1536)) * 6).astype(np.float32)
    out = np.empty_like(gate)
    compiled.swiglu_rows(gate, up, out)
    assert same_bits(torch_exact.swiglu(torch.from_numpy(gate), torch.from_numpy(up)), out)


@pytest.mark.parametrize("rope_dim", [16, 8], ids=["whole-head", "partial"])
def test_rope_is_the_compiled_kernel_bit_for_bit(rope_dim: int) -> None:
    config = LlamaConfig(dim=64, hidden_dim=128, n_layers=1, n_heads=4, n_kv_heads=2,
                         vocab_size=32, context_length=16, rope_dim=rope_dim)
    cos, sin = (table[3:8] for table in rope_tables(config, config.context_length))
    x = (np.random.default_rng(1).standard_normal((5, 4, 16)) * 10).astype(np.float32)
    got = torch_exact.rope(torch.from_numpy(x), torch.from_numpy(cos), torch.from_numpy(sin))
    assert same_bits(got, NumpyBackend().rope(x, cos, sin))


@pytest.mark.parametrize(("tokens", "start"), [(5, 3), (1, 40), (9, 0)])
def test_causal_attention_is_the_definition_bit_for_bit(tokens: int, start: int) -> None:
    rng = np.random.default_rng(7)
    heads, kv_heads, head_dim = 6, 2, 16
    group = heads // kv_heads
    q = (rng.standard_normal((tokens, heads, head_dim)) * 3).astype(np.float32)
    keys = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    values = rng.standard_normal((kv_heads, start + tokens, head_dim)).astype(np.float32)
    scale = np.float32(1 / np.sqrt(head_dim))
    expected = attention_definition(q, keys, values, start, scale)
    # the backend's layout: (kv, group * tokens, hd), ordered (group, token)
    queries = torch.from_numpy(q).reshape(tokens, kv_heads, group, head_dim).permute(1, 2, 0, 3)
    queries = queries.reshape(kv_heads, group * tokens, head_dim)
    raw = torch_exact.causal_attention(
        queries, torch.from_numpy(keys), torch.from_numpy(values), start, tokens, float(scale)
    )
    got = raw.reshape(kv_heads, group, tokens, head_dim).permute(2, 0, 1, 3).reshape(q.shape)
    assert same_bits(got.contiguous(), expected)
    # query chunks (a long prompt's prefill) change no bit
    chunks = torch_exact.QUERY_CHUNK_ELEMENTS
    try:
        torch_exact.QUERY_CHUNK_ELEMENTS = 1
        chunked = torch_exact.causal_attention(
            queries, torch.from_numpy(keys), torch.from_numpy(values), start, tokens, float(scale)
        )
    finally:
        torch_exact.QUERY_CHUNK_ELEMENTS = chunks
    assert torch.equal(chunked, raw)


LEGACY_FORMATS = ["gguf-Q8_0", "gguf-Q4_0", "gguf-Q4_1"]


@pytest.mark.parametrize("tied", [False, True], ids=["separate-head", "tied-head"])
@pytest.mark.parametrize("kind", LEGACY_FORMATS)
def test_torch_cpu_logits_are_numpy_logits_bit_for_bit(tmp_path: Path, kind: str, tied: bool) -> None:
    """The CPU default (kernel products, exact numerics): every logit of a batched prefill and
    of each greedy step equals numpy's, so the tokens are the same without tolerance."""
    model_file = open_model_file(write_model(tmp_path, kind, tied))
    reference = load_llama(model_file, NumpyBackend())
    backend = TorchBackend("cpu")
    assert backend.exact and backend.products == "kernels"
    assert_same_bits(reference, load_llama(model_file, backend), capture=False)


def assert_same_bits(reference: LlamaModel, candidate: LlamaModel, capture: bool) -> None:
    """Every logit of a batched prefill, then of each greedy step (eager, and through a
    `GraphDecoder`: a captured CUDA graph, or on the CPU its static steps) the same bits."""
    expected = reference.forward(PROMPT, reference.new_state(), all_logits=True)
    got = candidate.forward(PROMPT, candidate.new_state(), all_logits=True)
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    tokens_ref, logits_ref = greedy(reference, PROMPT, GREEDY_STEPS)
    tokens_cand, logits_cand = greedy(candidate, PROMPT, GREEDY_STEPS)
    assert tokens_cand == tokens_ref
    assert np.array_equal(logits_cand.view(np.uint32), logits_ref.view(np.uint32))
    # the static step over the whole zeroed cache gives the same bits
    _, logits_static = greedy(GraphDecoder(candidate, capture=capture), PROMPT, GREEDY_STEPS)  # type: ignore[arg-type]
    assert np.array_equal(logits_static.view(np.uint32), logits_ref.view(np.uint32))


def test_exact_is_the_kernel_products_default_and_can_be_turned_off(tmp_path: Path) -> None:
    assert TorchBackend("cpu").exact
    assert not TorchBackend("cpu", products="torch").exact
    gate, up = torch.from_numpy((np.random.default_rng(4).standard_normal((2, 4, 512)) * 6).astype(np.float32))
    assert torch.equal(TorchBackend("cpu").swiglu(gate, up), torch_exact.swiglu(gate, up))
    library = TorchBackend("cpu", exact=False)
    assert torch.equal(library.swiglu(gate, up), gate / (1.0 + torch.exp(-gate)) * up)
    # torch's own routines stay close to numpy on a model
    model_file = open_model_file(write_model(tmp_path, "gguf-Q4_1", tied=False))
    reference = load_llama(model_file, NumpyBackend())
    model = load_llama(model_file, library)
    expected = reference.forward(PROMPT, reference.new_state(), all_logits=True)
    got = model.forward(PROMPT, model.new_state(), all_logits=True)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-2 * float(np.abs(expected).max()))


def test_activation_quantization_is_the_kernels() -> None:
    from edgechain.ml.kernels import quantize_activations

    rng = np.random.default_rng(12)
    x = (rng.standard_normal((7, 256)) * rng.uniform(1e-3, 50, size=(7, 1))).astype(np.float32)
    x[2, 32:64] = 0.0  # an all-zero block: scale 0
    quants, scales, sums = torch_exact.quantize_activations(torch.from_numpy(x))
    expected_quants, expected_scales, expected_sums = quantize_activations(x)
    assert np.array_equal(quants.reshape(7, 256).numpy(), expected_quants.astype(np.float32))
    assert same_bits(scales, expected_scales) and same_bits(sums, expected_sums)


@pytest.mark.parametrize("tensor_type", ["Q4_0", "Q4_1", "Q8_0"])
@pytest.mark.parametrize("tokens", [1, 5])
def test_exact_products_are_the_kernels_bit_for_bit(tensor_type: str, tokens: int) -> None:
    from test_torch_backend import random_blocks

    from edgechain.ml.kernels import prepare_matrix
    from edgechain.ml.weights import TensorRecord, TensorType

    kind = TensorType[tensor_type]
    rows, cols = 200, 512
    data = random_blocks(kind, rows, cols, seed=tokens)
    x = (np.random.default_rng(tokens).standard_normal((tokens, cols)) * 3).astype(np.float32)
    kernel = prepare_matrix(kind, data, (rows, cols))
    kernel.batch_with_blas = False  # the integer kernels for a batch too (NumpyBackend(exact=True))
    expected = kernel.matmul(x)
    backend = TorchBackend("cpu", products="exact")
    weight = backend.matrix([TensorRecord("w", (rows, cols), kind, data)])
    assert same_bits(backend.matmul(weight, torch.from_numpy(x)), expected)
    # row chunks change no bit
    chunk = torch_exact.PRODUCT_CHUNK_ELEMENTS
    try:
        torch_exact.PRODUCT_CHUNK_ELEMENTS = 16 * 37
        assert same_bits(backend.matmul(weight, torch.from_numpy(x)), expected)
    finally:
        torch_exact.PRODUCT_CHUNK_ELEMENTS = chunk


@pytest.mark.parametrize("kind", LEGACY_FORMATS)
def test_exact_products_give_the_exact_numpy_logits(tmp_path: Path, kind: str) -> None:
    """products="exact" (what CUDA runs in exact mode) against NumpyBackend(exact=True), whose
    prefill also goes through the integer kernels: every logit the same bits."""
    model_file = open_model_file(write_model(tmp_path, kind, tied=kind.endswith("Q8_0")))
    reference = load_llama(model_file, NumpyBackend(exact=True))
    backend = TorchBackend("cpu", products="exact")
    assert backend.exact
    assert_same_bits(reference, load_llama(model_file, backend), capture=False)


def generated(model: object, sampling: object, seed: int) -> list[int]:
    return [token.id for token in model.generate(PROMPT, max_tokens=16, sampling=sampling, seed=seed)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, GPU])])
def test_load_model_exact_gives_numpys_exact_tokens_on_the_torch_backend(tmp_path: Path, device: str) -> None:
    from tiny_models import make_tiny_llama, write_gguf

    from edgechain.ml import load_model
    from edgechain.ml.sampling import SamplingParams

    path = write_gguf(tmp_path / "m.gguf", make_tiny_llama(seed=5, tied=True), "Q4_1", tokenizer="gpt2")
    by_numpy = load_model(path, exact=True)
    by_torch = load_model(path, backend="torch", device=device, exact=True)
    sampled = SamplingParams(temperature=20.0, top_k=0, top_p=1.0)  # a flat draw: seeds differ
    for sampling in (None, sampled):
        assert generated(by_torch, sampling, 7) == generated(by_numpy, sampling, 7)
    assert generated(by_numpy, sampled, 7) != generated(by_numpy, sampled, 8)  # the seed matters


def test_block_sums_run_left_to_right() -> None:
    rng = np.random.default_rng(9)
    terms = (rng.standard_normal((18, 3, 70)) * 10.0 ** rng.integers(-3, 6, (18, 1, 1))).astype(np.float32)
    mins = (rng.standard_normal((18, 3, 70)) * 100).astype(np.float32)
    expected = np.zeros((3, 70), np.float32)
    for b in range(18):
        expected = expected + terms[b]
        expected = expected + mins[b]
    got = torch_exact.sum_in_order(torch.from_numpy(terms), torch.from_numpy(mins))
    assert same_bits(got, expected)
    assert not np.array_equal(expected, (terms + mins).sum(axis=0))  # the order is visible


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize("block_sums", ["scan", "loop"])
@pytest.mark.parametrize("kind", LEGACY_FORMATS)
def test_cuda_exact_logits_are_numpy_exact_bit_for_bit(
    tmp_path: Path, kind: str, block_sums: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU: exact products and numerics give the numpy exact backend's logits, eager
    (batched prefill, then steps) and through a captured CUDA graph; block terms summed by
    either of `torch_exact.BLOCK_SUMS`'s ways."""
    monkeypatch.setitem(torch_exact.BLOCK_SUMS, "cuda", block_sums)
    model_file = open_model_file(write_model(tmp_path, kind, tied=kind.endswith("Q4_1")))
    reference = load_llama(model_file, NumpyBackend(exact=True))
    assert_same_bits(reference, load_llama(model_file, TorchBackend("cuda", products="exact")), capture=True)
