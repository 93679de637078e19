"""`torch_exact` against `kernels.exact` and the compiled kernels, bit for bit, and what it buys:
the torch backend on the CPU gives the numpy backend's logits exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_exact import attention_definition, exp_arguments, rmsnorm_definition
from test_torch_backend import GREEDY_STEPS, PROMPT, greedy, write_model

from edgechain.ml.formats import open_model_file
from edgechain.ml.kernels import compiled, exact
from edgechain.ml.llama import LlamaConfig, NumpyBackend, load_llama, rope_tables

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
    candidate = load_llama(model_file, backend)
    expected = reference.forward(PROMPT, reference.new_state(), all_logits=True)
    got = candidate.forward(PROMPT, candidate.new_state(), all_logits=True)
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    tokens_ref, logits_ref = greedy(reference, PROMPT, GREEDY_STEPS)
    tokens_cand, logits_cand = greedy(candidate, PROMPT, GREEDY_STEPS)
    assert tokens_cand == tokens_ref
    assert np.array_equal(logits_cand.view(np.uint32), logits_ref.view(np.uint32))
    # the static (graph-shaped) step over the whole zeroed cache gives the same bits
    _, logits_static = greedy(GraphDecoder(candidate, capture=False), PROMPT, GREEDY_STEPS)  # type: ignore[arg-type]
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
