"""The Llama forward pass: every loader gives the same logits, and they match a float64 reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_reference import reference_greedy, reference_logits
from tiny_models import (
    TinyLlama,
    expected_weights,
    gguf_to_hf_rope_rows,
    llama2c_expected_weights,
    make_tiny_llama,
    write_gguf,
    write_llama2c,
    write_safetensors,
)

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.formats import open_model_file
from edgechain.ml.llama import (
    LlamaConfig,
    LlamaModel,
    NumpyBackend,
    config_of,
    gguf_name,
    hf_to_gguf_rope_rows,
    llama_tensors,
    load_llama,
)

PROMPT = [1, 17, 42, 99, 250, 3, 77, 128]


@pytest.fixture(scope="module")
def tiny() -> TinyLlama:
    return make_tiny_llama(seed=3)


@pytest.fixture(scope="module")
def files(tiny: TinyLlama, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tiny")
    return {
        "gguf-F32": write_gguf(directory / "f32.gguf", tiny, "F32"),
        "gguf-F16": write_gguf(directory / "f16.gguf", tiny, "F16"),
        "gguf-Q8_0": write_gguf(directory / "q8_0.gguf", tiny, "Q8_0"),
        "gguf-Q4_0": write_gguf(directory / "q4_0.gguf", tiny, "Q4_0"),
        "gguf-Q4_1": write_gguf(directory / "q4_1.gguf", tiny, "Q4_1"),
        "safetensors-F32": write_safetensors(directory / "hf32", tiny, "F32"),
        "safetensors-F16": write_safetensors(directory / "hf16", tiny, "F16"),
        "llama2c-legacy": write_llama2c(directory / "legacy.bin", tiny, version=0),
        "llama2c-v1": write_llama2c(directory / "v1.bin", tiny, version=1),
        "llama2c-v2": write_llama2c(directory / "v2.bin", tiny, version=2),
    }


def _logits(path: Path, ids: list[int] = PROMPT) -> np.ndarray:
    model = load_llama(open_model_file(path))
    return model.forward(ids, model.new_state(), all_logits=True)


def test_float_formats_give_identical_logits(files: dict[str, Path]) -> None:
    baseline = _logits(files["gguf-F32"])
    for name in ("safetensors-F32", "llama2c-legacy", "llama2c-v1"):
        np.testing.assert_array_equal(_logits(files[name]), baseline, err_msg=name)
    # (F16 files differ by design: GGUF keeps norm vectors in F32, safetensors does not.)


@pytest.mark.parametrize(
    "name", ["gguf-F32", "gguf-F16", "llama2c-v2", "safetensors-F32", "safetensors-F16"]
)
def test_float_logits_match_float64_reference(
    name: str, files: dict[str, Path], tiny: TinyLlama
) -> None:
    if name.startswith("llama2c"):
        weights = llama2c_expected_weights(tiny, 2)
    elif name == "safetensors-F16":
        weights = {k: v.astype(np.float16).astype(np.float32) for k, v in tiny.weights.items()}
    else:
        weights = expected_weights(tiny, name.split("-")[1])
    expected = reference_logits(weights, tiny.config.n_heads, tiny.config.n_kv_heads, PROMPT)
    # float32 arithmetic against float64, on logits of magnitude ~40
    np.testing.assert_allclose(_logits(files[name]), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("tensor_type", ["Q8_0", "Q4_0", "Q4_1"])
def test_quantized_logits_match_reference_within_quantization_error(
    tensor_type: str, files: dict[str, Path], tiny: TinyLlama
) -> None:
    c = tiny.config
    ours = _logits(files[f"gguf-{tensor_type}"])
    weights = expected_weights(tiny, tensor_type)
    # Against the same arithmetic (8-bit activations) in float64: only float32 rounding
    # (and a rare activation quant flipping by one step) separates them.
    same_rule = reference_logits(weights, c.n_heads, c.n_kv_heads, PROMPT, requantize=True)
    np.testing.assert_allclose(ours, same_rule, atol=2e-3, rtol=0)
    # Against the unquantized float model: no worse than the weights' own rounding error
    # plus a little for the 8-bit activations.
    exact = reference_logits(tiny.weights, c.n_heads, c.n_kv_heads, PROMPT)
    weights_only = reference_logits(weights, c.n_heads, c.n_kv_heads, PROMPT)
    weight_error = np.abs(weights_only - exact).max()
    assert np.abs(ours - exact).max() <= 1.25 * weight_error + 0.02


@pytest.mark.parametrize(
    ("name", "requantize"),
    [
        ("gguf-F32", False),
        ("llama2c-legacy", False),
        ("safetensors-F32", False),
        ("gguf-Q8_0", True),
        ("gguf-Q4_1", True),
        ("gguf-Q4_0", True),
    ],
)
def test_greedy_tokens_equal_float64_reference(
    name: str, requantize: bool, files: dict[str, Path], tiny: TinyLlama
) -> None:
    c = tiny.config
    kind = name.split("-")[1] if name.startswith(("gguf", "safetensors")) else "F32"
    weights = expected_weights(tiny, kind)
    expected, margins = reference_greedy(
        weights, c.n_heads, c.n_kv_heads, PROMPT[:4], 12, requantize=requantize
    )
    # Every step must be a clear choice, or the comparison would test rounding luck.
    assert min(margins) > 1e-3, margins
    model = load_llama(open_model_file(files[name]))
    state = model.new_state()
    logits = model.forward(PROMPT[:4], state)
    ours = []
    for _ in range(12):
        ours.append(int(np.argmax(logits)))
        logits = model.forward([ours[-1]], state)
    assert ours == expected


def test_exact_prefill_equals_token_by_token_bit_for_bit(files: dict[str, Path]) -> None:
    for name in ("gguf-Q4_1", "gguf-Q8_0", "gguf-Q4_0"):
        model = load_llama(open_model_file(files[name]), NumpyBackend(exact=True))
        batched = model.forward(PROMPT, model.new_state(), all_logits=True)
        state = model.new_state()
        stepwise = np.stack([model.forward([token], state) for token in PROMPT])
        np.testing.assert_array_equal(batched, stepwise, err_msg=name)


def test_default_blas_prefill_is_close_to_token_by_token(files: dict[str, Path]) -> None:
    for name in ("gguf-Q4_1", "gguf-Q8_0", "gguf-Q4_0"):
        model = load_llama(open_model_file(files[name]))
        batched = model.forward(PROMPT, model.new_state(), all_logits=True)
        state = model.new_state()
        stepwise = np.stack([model.forward([token], state) for token in PROMPT])
        # float32 rounding, occasionally flipping an 8-bit activation quant by one step
        np.testing.assert_allclose(batched, stepwise, atol=0.05, err_msg=name)
        assert np.abs(batched - stepwise).mean() < 1e-3


def test_tied_output_uses_the_embedding(tmp_path: Path) -> None:
    tied = make_tiny_llama(seed=5, tied=True)
    path = write_gguf(tmp_path / "tied.gguf", tied, "F32")
    model = load_llama(open_model_file(path))
    assert model.tied_output
    expected = reference_logits(tied.weights, 4, 2, PROMPT)
    np.testing.assert_allclose(
        model.forward(PROMPT, model.new_state(), all_logits=True), expected, atol=1e-4, rtol=0
    )


def test_config_from_gguf_and_hf(files: dict[str, Path], tiny: TinyLlama) -> None:
    from_gguf = config_of(open_model_file(files["gguf-F32"]))
    from_hf = config_of(open_model_file(files["safetensors-F32"]))
    from_llama2c = config_of(open_model_file(files["llama2c-legacy"]))
    c = tiny.config
    for config in (from_gguf, from_hf, from_llama2c):
        assert (config.dim, config.hidden_dim, config.n_layers) == (c.dim, c.hidden_dim, c.n_layers)
        assert (config.n_heads, config.n_kv_heads, config.vocab_size) == (
            c.n_heads,
            c.n_kv_heads,
            c.vocab_size,
        )
        assert config.head_dim == c.head_dim
    assert from_gguf.rope_theta == from_hf.rope_theta == 10000.0
    assert LlamaConfig.tiny().head_dim == 16
    assert LlamaConfig.smollm2_135m().kv_dim == 192


def test_hf_names_and_rope_permutation_invert_the_writer() -> None:
    assert gguf_name("model.layers.7.self_attn.k_proj.weight") == "blk.7.attn_k.weight"
    assert gguf_name("lm_head.weight") == "output.weight"
    assert gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq") is None
    rows = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    assert np.array_equal(hf_to_gguf_rope_rows(gguf_to_hf_rope_rows(rows, 2), 2), rows)


def test_missing_or_misshapen_weights_are_format_errors(files: dict[str, Path]) -> None:
    model_file = open_model_file(files["gguf-F32"])
    config = config_of(model_file)
    tensors = llama_tensors(model_file, config)
    without = {k: v for k, v in tensors.items() if k != "blk.1.ffn_up.weight"}
    with pytest.raises(ModelFormatError, match=r"blk\.1\.ffn_up\.weight"):
        LlamaModel(config, without, NumpyBackend())
    wrong = LlamaConfig(**{**_fields(config), "hidden_dim": config.hidden_dim * 2})
    with pytest.raises(ModelFormatError, match="shape"):
        LlamaModel(wrong, tensors, NumpyBackend())
    with pytest.raises(ModelFormatError, match="heads"):
        LlamaConfig(
            dim=64,
            hidden_dim=8,
            n_layers=1,
            n_heads=5,
            n_kv_heads=1,
            vocab_size=4,
            context_length=4,
        ).validate()
    with pytest.raises(UnsupportedModel):
        LlamaConfig.from_gguf_metadata({"general.architecture": "gpt2"})
    with pytest.raises(ModelFormatError, match="lacks"):
        LlamaConfig.from_hf_config({"model_type": "llama", "hidden_size": 8})


def test_context_overflow_and_bad_ids_are_refused(files: dict[str, Path]) -> None:
    model = load_llama(open_model_file(files["gguf-Q8_0"]))
    state = model.new_state(4)
    with pytest.raises(ValueError, match="exceeds"):
        model.forward(PROMPT, state)
    with pytest.raises(ModelFormatError, match="token id"):
        model.forward([10_000], model.new_state())


def _fields(config: LlamaConfig) -> dict[str, object]:
    return {name: getattr(config, name) for name in LlamaConfig.__slots__}
