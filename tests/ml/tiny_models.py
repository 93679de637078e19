"""Writers of tiny random Llama models (and their tokenizers) in every format we read.

One `TinyLlama` holds float32 weights under GGUF names, in GGUF's layout (weight
matrices row-major (out, in); q/k rows in the interleaved-pair RoPE order that GGUF and
llama2.c share). Each writer stores that same model in one format, so every loader must
give the same logits: exactly for F32 files, and for the other types exactly the logits
of `expected_weights(model, tensor_type)` (the weights as the file rounds them).

    model = make_tiny_llama(seed=0)
    write_gguf(tmp_path / "m.gguf", model, "Q8_0", tokenizer="llama")
    write_safetensors(tmp_path / "hf", model)            # model.safetensors + config.json + tokenizer.json
    write_llama2c(tmp_path / "m.bin", model, version=0)   # legacy header; version 1 = "ak42" float32
    write_llama2c_tokenizer(tmp_path / "tokenizer.bin", tiny_spm_vocab())

Tokenizers: `tiny_spm_vocab()` (SentencePiece-style: <unk> <s> </s>, 256 byte pieces,
characters and merges with scores) and `tiny_bpe_vocab()` (GPT-2 byte-level BPE with
merges and ChatML special tokens); both have exactly `TINY_VOCAB_SIZE` tokens.
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np

TINY_VOCAB_SIZE = 320

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = (
    "Once upon a time there was a little girl named Lily. She liked to play in the park "
    "with her friends. One day, the sun was shining and the birds were singing. "
    "The capital of France is Paris. def fibonacci(n): return n if n < 2 else "
    "fibonacci(n - 1) + fibonacci(n - 2)\n"
)

# ggml token types
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = (
    1,
    2,
    3,
    4,
    5,
    6,
)


@dataclass(frozen=True)
class TinyLlamaConfig:
    """Hyper-parameters of a tiny Llama (all formats can express them)."""

    dim: int = 64
    hidden_dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    vocab_size: int = TINY_VOCAB_SIZE
    seq_len: int = 64
    rope_theta: float = 10000.0  # llama2.c fixes 10000
    norm_eps: float = 1e-5  # llama2.c fixes 1e-5
    tied: bool = False

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.head_dim * self.n_kv_heads


@dataclass
class TinyLlama:
    """A tiny Llama: config plus float32 weights under GGUF names (GGUF layout)."""

    config: TinyLlamaConfig
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def make_tiny_llama(seed: int = 0, **overrides: object) -> TinyLlama:
    """Random weights (scaled so activations stay O(1)), deterministic in `seed`."""
    config = TinyLlamaConfig(**overrides)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm(size: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32)

    c = config
    weights: dict[str, np.ndarray] = {
        "token_embd.weight": rng.standard_normal((c.vocab_size, c.dim)).astype(np.float32)
    }
    for i in range(c.n_layers):
        weights[f"blk.{i}.attn_norm.weight"] = norm(c.dim)
        weights[f"blk.{i}.attn_q.weight"] = matrix(c.dim, c.dim)
        weights[f"blk.{i}.attn_k.weight"] = matrix(c.kv_dim, c.dim)
        weights[f"blk.{i}.attn_v.weight"] = matrix(c.kv_dim, c.dim)
        weights[f"blk.{i}.attn_output.weight"] = matrix(c.dim, c.dim)
        weights[f"blk.{i}.ffn_norm.weight"] = norm(c.dim)
        weights[f"blk.{i}.ffn_gate.weight"] = matrix(c.hidden_dim, c.dim)
        weights[f"blk.{i}.ffn_up.weight"] = matrix(c.hidden_dim, c.dim)
        weights[f"blk.{i}.ffn_down.weight"] = matrix(c.dim, c.hidden_dim)
    weights["output_norm.weight"] = norm(c.dim)
    if not c.tied:
        weights["output.weight"] = matrix(c.vocab_size, c.dim)
    return TinyLlama(config, weights)


# ---------------------------------------------------------------------------- tokenizers


@dataclass(frozen=True)
class SpmVocab:
    """A SentencePiece-style vocabulary: pieces use '▁' for spaces; bytes as <0xXX>."""

    tokens: list[str]
    scores: list[float]
    token_types: list[int]
    bos_id: int = 1
    eos_id: int = 2
    unk_id: int = 0


@dataclass(frozen=True)
class BpeVocab:
    """A GPT-2 byte-level BPE vocabulary (tokens in the byte-to-unicode alphabet)."""

    tokens: list[str]
    merges: list[str]
    token_types: list[int]
    bos_id: int  # <|im_start|>, as SmolLM2's file says bos = 1
    eos_id: int  # <|im_end|>
    endoftext_id: int


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars, strict=True)}


def _train_bpe(words: list[list[str]], count: int) -> list[tuple[str, str]]:
    """Greedy BPE training: the most frequent adjacent pair (ties: first seen) merges next."""
    merges: list[tuple[str, str]] = []
    words = [list(word) for word in words]
    for _ in range(count):
        pairs: Counter[tuple[str, str]] = Counter()
        for word in words:
            pairs.update(itertools.pairwise(word))
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: item[1])[0]
        merges.append(best)
        for index, word in enumerate(words):
            merged: list[str] = []
            position = 0
            while position < len(word):
                if position + 1 < len(word) and (word[position], word[position + 1]) == best:
                    merged.append(word[position] + word[position + 1])
                    position += 2
                else:
                    merged.append(word[position])
                    position += 1
            words[index] = merged
    return merges


def tiny_bpe_vocab() -> BpeVocab:
    """256 byte tokens, merges learnt on `CORPUS`, then 3 ChatML/end specials: 320 tokens."""
    byte_chars = bytes_to_unicode()
    alphabet = [byte_chars[b] for b in range(256)]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    pieces = re.findall(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+", CORPUS)
    words = [["".join(byte_chars[b] for b in piece.encode())] for piece in pieces]
    words = [list(word[0]) for word in words]
    merges = _train_bpe(words, TINY_VOCAB_SIZE - 256 - len(specials))
    tokens = alphabet + [left + right for left, right in merges] + specials
    if len(tokens) != TINY_VOCAB_SIZE or len(set(tokens)) != len(tokens):
        raise RuntimeError("tiny BPE vocabulary has the wrong size or duplicates")
    types = [TOKEN_NORMAL] * (len(tokens) - len(specials)) + [TOKEN_CONTROL] * len(specials)
    base = len(tokens) - len(specials)
    return BpeVocab(
        tokens=tokens,
        merges=[f"{left} {right}" for left, right in merges],
        token_types=types,
        bos_id=base + 1,
        eos_id=base + 2,
        endoftext_id=base,
    )


def tiny_spm_vocab() -> SpmVocab:
    """<unk> <s> </s>, <0x00>..<0xFF>, the corpus's characters, then merges: 320 pieces."""
    head = ["<unk>", "<s>", "</s>"]
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    words = [list("▁" + word) for word in CORPUS.replace("\n", " ").split(" ") if word]
    chars = sorted({char for word in words for char in word})
    merge_count = TINY_VOCAB_SIZE - len(head) - len(byte_pieces) - len(chars)
    merges = _train_bpe(words, merge_count)
    merged = [left + right for left, right in merges]
    tokens = head + byte_pieces + chars + merged
    if len(tokens) != TINY_VOCAB_SIZE or len(set(tokens)) != len(tokens):
        raise RuntimeError("tiny SentencePiece vocabulary has the wrong size or duplicates")
    scores = [0.0] * (len(head) + len(byte_pieces))
    scores += [-1000.0 - i for i in range(len(chars))]
    scores += [-float(rank) for rank in range(len(merged))]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL] + [TOKEN_BYTE] * 256
    types += [TOKEN_NORMAL] * (len(chars) + len(merged))
    return SpmVocab(tokens=tokens, scores=scores, token_types=types)


def write_llama2c_tokenizer(path: Path, vocab: SpmVocab) -> Path:
    """llama2.c `tokenizer.bin`: max_token_length, then (score f32, len i32, bytes) per token."""
    pieces: list[bytes] = []
    for index, token in enumerate(vocab.tokens):
        if index == vocab.bos_id:
            token = "\n<s>\n"
        elif index == vocab.eos_id:
            token = "\n</s>\n"
        pieces.append(token.replace("▁", " ").encode())
    with open(path, "wb") as out:
        out.write(struct.pack("<I", max(len(p) for p in pieces)))
        for piece, score in zip(pieces, vocab.scores, strict=True):
            out.write(struct.pack("<fI", score, len(piece)))
            out.write(piece)
    return path


def write_hf_tokenizer_json(path: Path, vocab: BpeVocab) -> Path:
    """A Hugging Face `tokenizer.json` (byte-level BPE, digits split, ChatML specials)."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers

    bpe = models.BPE(
        vocab={token: index for index, token in enumerate(vocab.tokens)},
        merges=[tuple(merge.split(" ")) for merge in vocab.merges],
    )
    tokenizer = tokenizers.Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    specials = [
        t for t, k in zip(vocab.tokens, vocab.token_types, strict=True) if k == TOKEN_CONTROL
    ]
    tokenizer.add_special_tokens([tokenizers.AddedToken(t, special=True) for t in specials])
    tokenizer.save(str(path))
    return path


# ---------------------------------------------------------------------------- GGUF


GGUF_TYPES = {
    "F32": gguf.GGMLQuantizationType.F32,
    "F16": gguf.GGMLQuantizationType.F16,
    "BF16": gguf.GGMLQuantizationType.BF16,
    "Q8_0": gguf.GGMLQuantizationType.Q8_0,
    "Q4_0": gguf.GGMLQuantizationType.Q4_0,
    "Q4_1": gguf.GGMLQuantizationType.Q4_1,
}


def _stored_type(name: str, tensor_type: str) -> str:
    """Norm vectors stay F32, as llama.cpp's quantizer keeps them."""
    return "F32" if name.endswith("norm.weight") else tensor_type


def expected_weights(
    model: TinyLlama, tensor_type: str, norms_in_f32: bool = True
) -> dict[str, np.ndarray]:
    """The float32 weights a file of `tensor_type` really holds (after its rounding), under
    GGUF names. GGUF files keep norms in F32 (`norms_in_f32`); safetensors files do not."""
    result: dict[str, np.ndarray] = {}
    for name, weight in model.weights.items():
        stored = _stored_type(name, tensor_type) if norms_in_f32 else tensor_type
        if stored == "F32":
            result[name] = weight.copy()
        elif stored == "F16":
            result[name] = weight.astype(np.float16).astype(np.float32)
        else:
            qtype = GGUF_TYPES[stored]
            result[name] = gguf.quants.dequantize(gguf.quants.quantize(weight, qtype), qtype)
    return result


def write_gguf(
    path: Path,
    model: TinyLlama,
    tensor_type: str = "F32",
    tokenizer: str | None = "llama",
    chat_template: str | None = None,
) -> Path:
    """A GGUF v3 file (architecture llama) with the weights in `tensor_type`.

    `tokenizer`: "llama" (SentencePiece-style vocab, add_bos true), "gpt2" (byte-level
    BPE, add_bos false, ChatML template by default) or None.
    """
    c = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(c.seq_len)
    writer.add_embedding_length(c.dim)
    writer.add_block_count(c.n_layers)
    writer.add_feed_forward_length(c.hidden_dim)
    writer.add_rope_dimension_count(c.head_dim)
    writer.add_head_count(c.n_heads)
    writer.add_head_count_kv(c.n_kv_heads)
    writer.add_layer_norm_rms_eps(c.norm_eps)
    writer.add_rope_freq_base(c.rope_theta)
    writer.add_vocab_size(c.vocab_size)
    writer.add_file_type(int(GGUF_TYPES[tensor_type]) if tensor_type != "F32" else 0)
    if tokenizer == "llama":
        spm = tiny_spm_vocab()
        writer.add_tokenizer_model("llama")
        writer.add_token_list(spm.tokens)
        writer.add_token_scores(spm.scores)
        writer.add_token_types(spm.token_types)
        writer.add_bos_token_id(spm.bos_id)
        writer.add_eos_token_id(spm.eos_id)
        writer.add_unk_token_id(spm.unk_id)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
    elif tokenizer == "gpt2":
        bpe = tiny_bpe_vocab()
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("smollm")
        writer.add_token_list(bpe.tokens)
        writer.add_token_types(bpe.token_types)
        writer.add_token_merges(bpe.merges)
        writer.add_bos_token_id(bpe.bos_id)
        writer.add_eos_token_id(bpe.eos_id)
        writer.add_unk_token_id(bpe.endoftext_id)
        writer.add_pad_token_id(bpe.eos_id)
        writer.add_add_bos_token(False)
        writer.add_chat_template(chat_template or CHAT_TEMPLATE)
    elif tokenizer is not None:
        raise ValueError(f"unknown tiny tokenizer {tokenizer!r}")
    for name, weight in model.weights.items():
        stored = _stored_type(name, tensor_type)
        if stored == "F32":
            writer.add_tensor(name, weight)
        elif stored == "F16":
            writer.add_tensor(name, weight.astype(np.float16))
        else:
            qtype = GGUF_TYPES[stored]
            writer.add_tensor(name, gguf.quants.quantize(weight, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# ---------------------------------------------------------------------------- safetensors


def gguf_to_hf_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's convert permutation: interleaved pairs -> HF's rotate-half rows."""
    rows, cols = weight.shape
    head_dim = rows // heads
    return weight.reshape(heads, head_dim // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def hf_weights(model: TinyLlama) -> dict[str, np.ndarray]:
    """The model under Hugging Face Llama names, q/k rows in HF's rotate-half order."""
    c = model.config
    w = model.weights
    result = {"model.embed_tokens.weight": w["token_embd.weight"]}
    for i in range(c.n_layers):
        prefix = f"model.layers.{i}"
        result[f"{prefix}.input_layernorm.weight"] = w[f"blk.{i}.attn_norm.weight"]
        result[f"{prefix}.self_attn.q_proj.weight"] = gguf_to_hf_rope_rows(
            w[f"blk.{i}.attn_q.weight"], c.n_heads
        )
        result[f"{prefix}.self_attn.k_proj.weight"] = gguf_to_hf_rope_rows(
            w[f"blk.{i}.attn_k.weight"], c.n_kv_heads
        )
        result[f"{prefix}.self_attn.v_proj.weight"] = w[f"blk.{i}.attn_v.weight"]
        result[f"{prefix}.self_attn.o_proj.weight"] = w[f"blk.{i}.attn_output.weight"]
        result[f"{prefix}.post_attention_layernorm.weight"] = w[f"blk.{i}.ffn_norm.weight"]
        result[f"{prefix}.mlp.gate_proj.weight"] = w[f"blk.{i}.ffn_gate.weight"]
        result[f"{prefix}.mlp.up_proj.weight"] = w[f"blk.{i}.ffn_up.weight"]
        result[f"{prefix}.mlp.down_proj.weight"] = w[f"blk.{i}.ffn_down.weight"]
    result["model.norm.weight"] = w["output_norm.weight"]
    if not c.tied:
        result["lm_head.weight"] = w["output.weight"]
    return {name: np.ascontiguousarray(array) for name, array in result.items()}


def hf_config(model: TinyLlama) -> dict[str, object]:
    """The `config.json` transformers writes for this Llama."""
    c = model.config
    bpe = tiny_bpe_vocab()
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": c.dim,
        "intermediate_size": c.hidden_dim,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.seq_len,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_theta,
        "hidden_act": "silu",
        "tie_word_embeddings": c.tied,
        "bos_token_id": bpe.bos_id,
        "eos_token_id": bpe.eos_id,
        "torch_dtype": "float32",
    }


def write_safetensors(directory: Path, model: TinyLlama, dtype: str = "F32") -> Path:
    """A HF model directory: model.safetensors (F32/F16/BF16), config.json, tokenizer files.

    Every tensor (norms too, as transformers saves them) is stored in `dtype`; BF16 is
    rounded to nearest-even as gguf's converter rounds it, so the weights the file holds
    are `expected_weights(model, dtype, norms_in_f32=False)` under GGUF names.
    Returns the directory.
    """
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = hf_weights(model)
    if dtype == "F16":
        tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    elif dtype == "BF16":
        _save_bf16_safetensors(directory / "model.safetensors", tensors)
    elif dtype != "F32":
        raise ValueError(f"unknown dtype {dtype!r}")
    if dtype != "BF16":
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    config = hf_config(model)
    config["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    write_hf_tokenizer_json(directory / "tokenizer.json", tiny_bpe_vocab())
    bpe = tiny_bpe_vocab()
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "bos_token": bpe.tokens[bpe.bos_id],
                "eos_token": bpe.tokens[bpe.eos_id],
                "chat_template": CHAT_TEMPLATE,
                "add_bos_token": False,
            }
        )
    )
    return directory


def _save_bf16_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """safetensors.numpy has no bfloat16: write the format by hand (header padded to 8)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        raw = gguf.quants.quantize(array, gguf.GGMLQuantizationType.BF16).tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for chunk in chunks:
            out.write(chunk)


# ---------------------------------------------------------------------------- llama2.c


LLAMA2C_MAGIC = 0x616B3432


def _llama2c_header_ints(c: TinyLlamaConfig, legacy: bool) -> tuple[int, ...]:
    vocab = c.vocab_size if c.tied or not legacy else -c.vocab_size
    return (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab, c.seq_len)


def _layered(model: TinyLlama, suffix: str) -> list[np.ndarray]:
    return [model.weights[f"blk.{i}.{suffix}"] for i in range(model.config.n_layers)]


def write_llama2c(path: Path, model: TinyLlama, version: int = 0) -> Path:
    """llama2.c checkpoint: version 0 = legacy (run.c's header), 1 = "ak42" float32,
    2 = "ak42" Q8_0 with float32 scales per group (group 64 or smaller, as export.py picks).

    llama2.c fixes rope theta 10000 and RMSNorm eps 1e-5; the model must use those.
    """
    c = model.config
    if c.rope_theta != 10000.0 or c.norm_eps != 1e-5:
        raise ValueError("llama2.c cannot express rope_theta/norm_eps other than 1e4/1e-5")
    w = model.weights
    with open(path, "wb") as out:
        if version == 0:
            out.write(struct.pack("<7i", *_llama2c_header_ints(c, legacy=True)))
            order = [
                w["token_embd.weight"],
                *_layered(model, "attn_norm.weight"),
                *_layered(model, "attn_q.weight"),
                *_layered(model, "attn_k.weight"),
                *_layered(model, "attn_v.weight"),
                *_layered(model, "attn_output.weight"),
                *_layered(model, "ffn_norm.weight"),
                *_layered(model, "ffn_gate.weight"),
                *_layered(model, "ffn_down.weight"),
                *_layered(model, "ffn_up.weight"),
                w["output_norm.weight"],
            ]
            positions = np.arange(c.seq_len, dtype=np.float32)[:, None]
            freqs = 1.0 / (10000.0 ** (np.arange(0, c.head_dim, 2, dtype=np.float32) / c.head_dim))
            angles = positions * freqs[None, :]
            order += [np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)]
            if not c.tied:
                order.append(w["output.weight"])
            for array in order:
                out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
            return path
        if version not in (1, 2):
            raise ValueError(f"unknown llama2.c version {version}")
        out.write(struct.pack("<Ii", LLAMA2C_MAGIC, version))
        out.write(struct.pack("<7i", *_llama2c_header_ints(c, legacy=False)))
        out.write(struct.pack("<B", int(c.tied)))
        norms = [
            *_layered(model, "attn_norm.weight"),
            *_layered(model, "ffn_norm.weight"),
            w["output_norm.weight"],
        ]
        matrices = [
            w["token_embd.weight"],
            *_layered(model, "attn_q.weight"),
            *_layered(model, "attn_k.weight"),
            *_layered(model, "attn_v.weight"),
            *_layered(model, "attn_output.weight"),
            *_layered(model, "ffn_gate.weight"),
            *_layered(model, "ffn_down.weight"),
            *_layered(model, "ffn_up.weight"),
        ]
        if not c.tied:
            matrices.append(w["output.weight"])
        if version == 1:
            out.write(b"\0" * (256 - out.tell()))
            for array in norms + matrices:
                out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
            return path
        group_size = llama2c_group_size(c.dim)
        out.write(struct.pack("<i", group_size))
        out.write(b"\0" * (256 - out.tell()))
        for array in norms:
            out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
        for array in matrices:
            quantized, scales = llama2c_quantize_q80(array, group_size)
            out.write(quantized.tobytes())
            out.write(scales.astype("<f4").tobytes())
    return path


def llama2c_group_size(dim: int) -> int:
    """export.py's choice: 64, halved until it divides dim."""
    group_size = 64
    while dim % group_size:
        group_size //= 2
    return group_size


def llama2c_quantize_q80(weight: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """export.py's quantize_q80: per group, scale = max|w| / 127, q = round(w / scale)."""
    groups = weight.astype(np.float32).reshape(-1, group_size)
    scales = np.abs(groups).max(axis=1) / np.float32(127.0)
    safe = np.where(scales == 0, np.float32(1.0), scales)
    quantized = np.round(groups / safe[:, None]).astype(np.int8)
    return quantized.reshape(-1), scales.astype(np.float32)


def llama2c_expected_weights(model: TinyLlama, version: int) -> dict[str, np.ndarray]:
    """The float32 weights a llama2.c file of `version` holds (version 2 rounds matrices)."""
    if version in (0, 1):
        return {name: weight.copy() for name, weight in model.weights.items()}
    group_size = llama2c_group_size(model.config.dim)
    result: dict[str, np.ndarray] = {}
    for name, weight in model.weights.items():
        if weight.ndim == 1:
            result[name] = weight.copy()
            continue
        quantized, scales = llama2c_quantize_q80(weight, group_size)
        values = quantized.reshape(-1, group_size).astype(np.float32) * scales[:, None]
        result[name] = values.reshape(weight.shape)
    if model.config.tied:
        result.pop("output.weight", None)
    return result
