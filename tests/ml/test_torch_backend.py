"""The torch backend against the numpy reference: every format, every tensor type, CPU and CUDA.

Tolerance: float32 logits of torch and numpy may differ only by the order of float32
additions (BLAS blocking, softmax and mean reductions): ``max |diff| <= 1e-4 * max(1,
max |logit|)`` (measured: ~1e-7 relative). Models with Q4_0/Q4_1/Q8_0 products quantize
their activations to 8 bits (llama.cpp's rule, in both backends): there a difference of
one ulp upstream can move one activation across a rounding boundary, which changes that
product by one quantization step; measured 1.5e-3 relative on one of 13 steps (and, in
a K-quant model whose Q5_K products are BLAS-ordered on each side, 1.6e-3 on prefill
positions). For those models every step and every prefill position must be within 1e-2
relative and three quarters of them within the tight bound. Greedy tokens must be identical. Dequantization and activation
requantization are compared bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import (
    TINY_VOCAB_SIZE,
    make_tiny_llama,
    write_gguf,
    write_llama2c,
    write_safetensors,
)

from edgechain.ml.errors import BackendUnavailable, ModelFormatError
from edgechain.ml.formats import open_model_file
from edgechain.ml.kernels import dequantize, requantize_activations
from edgechain.ml.llama import LlamaConfig, LlamaModel, NumpyBackend, load_llama
from edgechain.ml.weights import BLOCK_LAYOUT, ModelFile, TensorRecord, TensorType

torch = pytest.importorskip("torch")

from edgechain.ml.torch_backend import INSTALL_HINT, KERNEL_QUANTS, TorchBackend  # noqa: E402

RELATIVE_TOLERANCE = 1e-4
QUANT_FLIP_TOLERANCE = 1e-2
PROMPT = [1, 5, 9, 33, 200, 7, 64, 12]
GREEDY_STEPS = 12

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def logit_tolerance(reference: np.ndarray, relative: float = RELATIVE_TOLERANCE) -> float:
    return relative * max(1.0, float(np.abs(reference).max()))


def uses_activation_quantization(model: LlamaModel) -> bool:
    handles = [model.output] + [
        handle for layer in model.layers for handle in [*layer.qkv, *layer.gate_up]
    ]
    return any(getattr(handle, "tensor_type", None) in KERNEL_QUANTS for handle in handles)


def greedy(model: LlamaModel, prompt: list[int], steps: int) -> tuple[list[int], np.ndarray]:
    """Batched prefill, then token-by-token argmax; the tokens and every step's logits."""
    state = model.new_state()
    logits = model.forward(prompt, state)
    seen = [logits]
    tokens: list[int] = []
    for _ in range(steps):
        token = int(np.argmax(logits))
        tokens.append(token)
        logits = model.forward([token], state)
        seen.append(logits)
    return tokens, np.stack(seen)


def assert_parity(reference: LlamaModel, candidate: LlamaModel) -> float:
    """Same greedy tokens; logits of every step within tolerance; returns the max diff."""
    state_ref, state_cand = reference.new_state(), candidate.new_state()
    all_ref = reference.forward(PROMPT, state_ref, all_logits=True)
    all_cand = candidate.forward(PROMPT, state_cand, all_logits=True)
    assert all_cand.shape == all_ref.shape == (len(PROMPT), reference.config.vocab_size)
    assert all_cand.dtype == np.float32
    per_position = np.abs(all_ref - all_cand).max(axis=1)  # (T,)
    assert_within(per_position, all_ref, uses_activation_quantization(reference))
    tokens_ref, logits_ref = greedy(reference, PROMPT, GREEDY_STEPS)
    tokens_cand, logits_cand = greedy(candidate, PROMPT, GREEDY_STEPS)
    assert tokens_cand == tokens_ref
    per_step = np.abs(logits_ref - logits_cand).max(axis=1)  # (steps,)
    assert_within(per_step, logits_ref, uses_activation_quantization(reference))
    return float(max(per_position.max(), per_step.max()))


def assert_within(differences: np.ndarray, reference: np.ndarray, quantized: bool) -> None:
    """Each row's max |diff| within the tight bound; with 8-bit activations, within the
    quantization-step bound and three quarters of the rows within the tight one."""
    tight = logit_tolerance(reference)
    if quantized:
        assert differences.max() <= logit_tolerance(reference, QUANT_FLIP_TOLERANCE), differences
        assert np.mean(differences <= tight) >= 0.75, differences
    else:
        assert differences.max() <= tight, differences


def write_model(directory: Path, kind: str, tied: bool) -> Path:
    """A tiny random Llama in one format: ``gguf-<TYPE>``, ``safetensors-<dtype>``, ``llama2c-v<n>``."""
    model = make_tiny_llama(seed=3, tied=tied)
    family, _, variant = kind.partition("-")
    if family == "gguf":
        return write_gguf(directory / "model.gguf", model, variant)
    if family == "safetensors":
        return write_safetensors(directory / "hf", model, variant)
    return write_llama2c(directory / "model.bin", model, version=int(variant[1:]))


FORMATS = [
    "gguf-F32", "gguf-F16", "gguf-BF16", "gguf-Q8_0", "gguf-Q4_0", "gguf-Q4_1",
    "safetensors-F32", "safetensors-F16", "llama2c-v0", "llama2c-v1", "llama2c-v2",
]


@pytest.mark.parametrize("products", ["torch", "kernels"])
@pytest.mark.parametrize("tied", [False, True], ids=["separate-head", "tied-head"])
@pytest.mark.parametrize("kind", FORMATS)
def test_torch_cpu_matches_numpy_on_every_format(
    tmp_path: Path, kind: str, tied: bool, products: str
) -> None:
    model_file = open_model_file(write_model(tmp_path, kind, tied))
    reference = load_llama(model_file, NumpyBackend())
    candidate = load_llama(model_file, TorchBackend("cpu", products=products))
    assert candidate.tied_output == tied
    assert_parity(reference, candidate)


def test_tied_head_shares_the_embedding_upload(tmp_path: Path) -> None:
    model_file = open_model_file(write_model(tmp_path, "gguf-Q8_0", tied=True))
    for products in ("torch", "kernels"):
        model = load_llama(model_file, TorchBackend("cpu", products=products))
        assert model.output is model.token_embd.matrix
    model = load_llama(model_file, TorchBackend("cpu", products="torch"))
    assert model.output.parts["quants"].dtype == torch.int8  # still quantized in memory


def test_quantized_weights_stay_packed_on_the_device(tmp_path: Path) -> None:
    model_file = open_model_file(write_model(tmp_path, "gguf-Q4_1", tied=False))
    model = load_llama(model_file, TorchBackend("cpu", products="torch"))
    layer = model.layers[0]
    (qkv,) = layer.qkv
    assert qkv.tensor_type == TensorType.Q4_1
    assert qkv.parts["nibbles"].dtype == torch.uint8
    c = model.config
    # 20 bytes per block of 32 (16 of nibbles, 2 + 2 of float16 scale and min)
    assert qkv.nbytes() == (c.dim + 2 * c.kv_dim) * (c.dim // 32) * 20


def test_cpu_chunked_products_match_whole_products(tmp_path: Path) -> None:
    model_file = open_model_file(write_model(tmp_path, "gguf-Q4_1", tied=True))
    whole = load_llama(model_file, TorchBackend("cpu", products="torch"))
    chunked_backend = TorchBackend("cpu", products="torch")
    chunked_backend.chunk_elements = 64 * 40  # 40 rows of 64 per chunk: many, uneven chunks
    chunked = load_llama(model_file, chunked_backend)
    expected = whole.forward(PROMPT, whole.new_state(), all_logits=True)
    got = chunked.forward(PROMPT, chunked.new_state(), all_logits=True)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_batched_prefill_matches_token_by_token(tmp_path: Path) -> None:
    model = load_llama(open_model_file(write_model(tmp_path, "gguf-F32", False)), TorchBackend())
    batched = model.forward(PROMPT, model.new_state(), all_logits=True)
    state = model.new_state()
    stepped = np.stack([model.forward([token], state) for token in PROMPT])
    np.testing.assert_allclose(stepped, batched, rtol=0, atol=logit_tolerance(batched))


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_half_precision_compute_stays_close(tmp_path: Path, dtype_name: str) -> None:
    """float16/bfloat16 products: a looser bound (relative 2e-2 / 5e-2 of the largest logit)."""
    model_file = open_model_file(write_model(tmp_path, "gguf-Q4_1", tied=False))
    reference = load_llama(model_file, NumpyBackend())
    candidate = load_llama(model_file, TorchBackend("cpu", dtype=getattr(torch, dtype_name)))
    expected = reference.forward(PROMPT, reference.new_state(), all_logits=True)
    got = candidate.forward(PROMPT, candidate.new_state(), all_logits=True)
    bound = {"float16": 2e-2, "bfloat16": 5e-2}[dtype_name] * float(np.abs(expected).max())
    assert float(np.abs(got - expected).max()) <= bound
    # the token it picks is the reference's best or within the bound of it (a near-tie)
    picked = got.argmax(axis=-1)
    picked_in_reference = expected[np.arange(len(PROMPT)), picked]
    assert np.all(picked_in_reference >= expected.max(axis=-1) - 2 * bound)
    assert np.mean(picked == expected.argmax(axis=-1)) >= 0.75


# ---------------------------------------------------------------------------- kernels


def random_blocks(
    tensor_type: TensorType, rows: int, cols: int, seed: int, scale: float = 0.05
) -> np.ndarray:
    """Random bytes of ``tensor_type`` whose float16 scale fields are finite, below ``scale``."""
    rng = np.random.default_rng(seed)
    block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
    blocks = rng.integers(0, 256, size=(rows, cols // block_elements, block_bytes), dtype=np.uint8)

    def set_half(offset: int) -> None:
        values = rng.uniform(-scale, scale, size=blocks.shape[:2]).astype("<f2")
        blocks[:, :, offset : offset + 2] = values.view(np.uint8).reshape(*blocks.shape[:2], 2)

    if tensor_type in (TensorType.Q4_0, TensorType.Q8_0, TensorType.Q4_1):
        set_half(0)
        if tensor_type == TensorType.Q4_1:
            set_half(2)
    elif tensor_type in (TensorType.Q4_K, TensorType.Q5_K):
        set_half(0)
        set_half(2)
    elif tensor_type == TensorType.Q6_K:
        set_half(208)
    return blocks.reshape(rows, -1)


QUANTIZED = [TensorType.Q4_0, TensorType.Q4_1, TensorType.Q8_0,
             TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K]


@pytest.mark.parametrize("tensor_type", QUANTIZED, ids=lambda t: t.name)
def test_dequantization_is_bit_identical_to_the_reference(tensor_type: TensorType) -> None:
    rows, cols = 12, 512
    data = random_blocks(tensor_type, rows, cols, seed=int(tensor_type))
    record = TensorRecord("w", (rows, cols), tensor_type, data)
    backend = TorchBackend("cpu", products="torch")
    weight = backend.matrix([record])
    got = backend.dequantize(weight).numpy()
    expected = dequantize(tensor_type, data, (rows, cols))
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    # rows of a slice decode as the same rows of the whole
    assert np.array_equal(backend.dequantize(weight, 5, 9).numpy(), expected[5:9])
    # and the embedding lookup decodes the same rows
    table = backend.embedding(record)
    assert np.array_equal(backend.embed(table, [7, 0, 7]).numpy(), expected[[7, 0, 7]])


def test_activation_requantization_is_bit_identical_to_the_kernels() -> None:
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((5, 256)) * rng.uniform(0.01, 30, size=(5, 1))).astype(np.float32)
    x[2, :32] = 0.0  # an all-zero block: scale 0, quants 0
    x[3, 40] = 1e-30  # a tiny block value that rounds to float16 zero scale
    backend = TorchBackend("cpu")
    got = backend.requantize(torch.from_numpy(x)).numpy()
    expected = requantize_activations(x)
    # bit for bit, except that torch keeps the sign of a value rounded to zero (-0.0)
    zero = np.float32(0.0)
    assert np.array_equal((got + zero).view(np.uint32), (expected + zero).view(np.uint32))


def kquant_model_file(mixed_attention: bool) -> ModelFile:
    """A tiny Llama 256 wide whose matrices are random K-quant bytes (no writer makes K-quants).

    q/k/v are Q4_K (or Q4_K, Q4_K, Q6_K when ``mixed_attention``: then the model joins the
    three products itself), gate/up Q5_K, down and the output head Q6_K.
    """
    config = LlamaConfig(dim=256, hidden_dim=512, n_layers=2, n_heads=4, n_kv_heads=2,
                         vocab_size=TINY_VOCAB_SIZE, context_length=64)
    rng = np.random.default_rng(5)
    tensors: dict[str, TensorRecord] = {}

    def add(name: str, tensor_type: TensorType, shape: tuple[int, int]) -> None:
        # super-block scales small enough that weights are O(1 / sqrt(cols))
        scale = 3e-5 if tensor_type == TensorType.Q6_K else 3e-4
        data = random_blocks(tensor_type, shape[0], shape[1], seed=len(tensors), scale=scale)
        tensors[name] = TensorRecord(name, shape, tensor_type, data)

    def add_vector(name: str, size: int) -> None:
        tensors[name] = TensorRecord(name, (size,), TensorType.F32,
                                     (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32))

    c = config
    tensors["token_embd.weight"] = TensorRecord(
        "token_embd.weight", (c.vocab_size, c.dim), TensorType.F32,
        rng.standard_normal((c.vocab_size, c.dim)).astype(np.float32))
    for i in range(c.n_layers):
        add_vector(f"blk.{i}.attn_norm.weight", c.dim)
        add(f"blk.{i}.attn_q.weight", TensorType.Q4_K, (c.dim, c.dim))
        add(f"blk.{i}.attn_k.weight", TensorType.Q4_K, (c.kv_dim, c.dim))
        v_type = TensorType.Q6_K if mixed_attention else TensorType.Q4_K
        add(f"blk.{i}.attn_v.weight", v_type, (c.kv_dim, c.dim))
        add(f"blk.{i}.attn_output.weight", TensorType.Q6_K, (c.dim, c.dim))
        add_vector(f"blk.{i}.ffn_norm.weight", c.dim)
        add(f"blk.{i}.ffn_gate.weight", TensorType.Q5_K, (c.hidden_dim, c.dim))
        add(f"blk.{i}.ffn_up.weight", TensorType.Q5_K, (c.hidden_dim, c.dim))
        add(f"blk.{i}.ffn_down.weight", TensorType.Q6_K, (c.dim, c.hidden_dim))
    add_vector("output_norm.weight", c.dim)
    add("output.weight", TensorType.Q6_K, (c.vocab_size, c.dim))
    metadata = {
        "general.architecture": "llama", "llama.embedding_length": c.dim,
        "llama.feed_forward_length": c.hidden_dim, "llama.block_count": c.n_layers,
        "llama.attention.head_count": c.n_heads, "llama.attention.head_count_kv": c.n_kv_heads,
        "llama.context_length": c.context_length, "llama.vocab_size": c.vocab_size,
    }
    return ModelFile("gguf", metadata, tensors, "k-quants in memory")


@pytest.mark.parametrize("products", ["kernels", "torch"])
@pytest.mark.parametrize("mixed_attention", [False, True], ids=["uniform", "mixed-qkv"])
def test_k_quant_models_match_numpy(mixed_attention: bool, products: str) -> None:
    """Q4_K and Q6_K run through the integer kernels in numpy (and torch's "kernels"); "torch"
    (CUDA's path) dequantizes them per product after the same 8-bit activation rule."""
    model_file = kquant_model_file(mixed_attention)
    reference = load_llama(model_file, NumpyBackend())
    candidate = load_llama(model_file, TorchBackend("cpu", products=products))
    assert candidate.layers[0].gate_up[0].parts["blocks"].dtype == torch.uint8  # Q5_K: packed
    down = candidate.layers[0].ffn_down  # Q6_K: the numpy kernels' int8 layout, or packed bytes
    assert down.kernel is not None if products == "kernels" else down.parts["blocks"].dtype == torch.uint8
    assert len(candidate.layers[0].qkv) == (3 if mixed_attention else 1)
    assert_parity(reference, candidate)


# ---------------------------------------------------------------------------- errors


def test_embedding_rejects_token_ids_outside_the_vocabulary(tmp_path: Path) -> None:
    model = load_llama(open_model_file(write_model(tmp_path, "gguf-Q8_0", False)), TorchBackend())
    with pytest.raises(ModelFormatError, match="token id outside"):
        model.forward([TINY_VOCAB_SIZE], model.new_state())
    with pytest.raises(ModelFormatError, match="token id outside"):
        model.forward([-1], model.new_state())


def test_truncated_quantized_weight_is_a_format_error() -> None:
    data = random_blocks(TensorType.Q4_1, 4, 64, seed=0)[:, :-1]
    record = TensorRecord("blk.0.attn_q.weight", (4, 64), TensorType.Q4_1, data)
    with pytest.raises(ModelFormatError, match="needs 160 bytes"):
        TorchBackend(products="torch").matrix([record])


def test_unknown_device_and_dtype_are_refused() -> None:
    with pytest.raises(BackendUnavailable, match="unknown torch device"):
        TorchBackend("tpu")
    with pytest.raises(BackendUnavailable, match="compute dtype"):
        TorchBackend("cpu", dtype=torch.float64)
    with pytest.raises(BackendUnavailable, match="choose one of"):
        TorchBackend("cpu", products="blas")
    with pytest.raises(BackendUnavailable, match="float32 only"):
        TorchBackend("cpu", dtype=torch.float16, products="kernels")
    assert TorchBackend("cpu").products == "kernels"
    assert TorchBackend("cpu", dtype=torch.bfloat16).products == "torch"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_is_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        TorchBackend("cuda")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_importing_the_ml_engine_does_not_import_torch() -> None:
    result = run_python(
        "import sys\n"
        "import edgechain.ml, edgechain.ml.llama, edgechain.ml.torch_backend\n"
        "print('torch' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_torch_says_what_to_install() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "from edgechain.ml.errors import BackendUnavailable\n"
        "from edgechain.ml.torch_backend import TorchBackend\n"
        "try:\n"
        "    TorchBackend()\n"
        "except BackendUnavailable as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert INSTALL_HINT in result.stdout


# ---------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize("kind", ["gguf-F32", "gguf-F16", "gguf-Q8_0", "gguf-Q4_0", "gguf-Q4_1",
                                  "safetensors-F32", "llama2c-v2"])
def test_cuda_matches_numpy(tmp_path: Path, kind: str) -> None:
    model_file = open_model_file(write_model(tmp_path, kind, tied=kind.endswith("Q4_1")))
    reference = load_llama(model_file, NumpyBackend())
    candidate = load_llama(model_file, TorchBackend("cuda"))
    assert candidate.layers[0].attn_norm.device.type == "cuda"
    assert_parity(reference, candidate)


@pytest.mark.gpu
@GPU
@pytest.mark.parametrize("mixed_attention", [False, True], ids=["uniform", "mixed-qkv"])
def test_cuda_k_quants_match_numpy(mixed_attention: bool) -> None:
    model_file = kquant_model_file(mixed_attention)
    assert_parity(load_llama(model_file, NumpyBackend()), load_llama(model_file, TorchBackend("cuda")))


@pytest.mark.parametrize("rope_dim", [16, 8], ids=["whole-head", "partial"])
def test_rope_matches_numpy(rope_dim: int) -> None:
    """The complex-pair path (whole head, table slices) and the explicit path (partial
    rotation, or tables that are not slices) rotate as the numpy backend does."""
    config = LlamaConfig(dim=64, hidden_dim=128, n_layers=1, n_heads=4, n_kv_heads=2,
                         vocab_size=32, context_length=16, rope_dim=rope_dim)
    from edgechain.ml.llama import rope_tables

    cos_table, sin_table = rope_tables(config, config.context_length)
    x = np.random.default_rng(1).standard_normal((5, 4, 16)).astype(np.float32)
    backend = TorchBackend("cpu")
    for cos, sin in [(cos_table[3:8], sin_table[3:8]), (cos_table[3:8].copy(), sin_table[3:8].copy())]:
        expected = NumpyBackend().rope(x, cos, sin)
        got = backend.rope(torch.from_numpy(x), cos, sin).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        # a non-contiguous input (a slice of a fused projection) rotates the same
        fused = np.concatenate([np.zeros((5, 8), np.float32), x.reshape(5, 64)], axis=1)
        sliced = torch.from_numpy(fused)[:, 8:].reshape(5, 4, 16)
        np.testing.assert_allclose(backend.rope(sliced, cos, sin).numpy(), expected, rtol=0, atol=1e-6)


def test_load_model_with_the_torch_backend_generates_the_numpy_tokens(tmp_path: Path) -> None:
    from edgechain.ml import load_model

    path = write_gguf(tmp_path / "chat.gguf", make_tiny_llama(seed=4, tied=True), "Q8_0",
                      tokenizer="gpt2")
    by_numpy = load_model(path)
    by_torch = load_model(path, backend="torch", device="cpu")
    assert by_torch.backend == "torch"  # type: ignore[union-attr]
    expected = [token.id for token in by_numpy.generate("Once upon a time", max_tokens=12)]  # type: ignore[union-attr]
    got = [token.id for token in by_torch.generate("Once upon a time", max_tokens=12)]  # type: ignore[union-attr]
    assert got == expected and len(got) > 0
