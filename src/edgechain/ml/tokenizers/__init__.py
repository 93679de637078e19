"""Tokenizers: the one inside a GGUF file, HF ``tokenizer.json``, llama2.c ``tokenizer.bin``.

tokenizer = tokenizer_from_model_file(read_gguf(path))   # GGUF llama (SPM) or gpt2 (BPE)
tokenizer = load_tokenizer("model_dir/")                 # tokenizer.json (+ tokenizer_config.json)
tokenizer = load_tokenizer("tokenizer.bin")              # llama2.c
ids = tokenizer.encode(tokenizer.render_chat([{"role": "user", "content": "Hi"}]))
"""

from __future__ import annotations

import os
from pathlib import Path

from edgechain.ml.errors import ModelFormatError, UnsupportedModel
from edgechain.ml.tokenizers.base import (
    END_OF_GENERATION_TEXTS,
    ChatMessage,
    StreamDecoder,
    Tokenizer,
    render_chat_template,
)
from edgechain.ml.tokenizers.bpe import GgufBpeTokenizer, HFTokenizer
from edgechain.ml.tokenizers.spm import (
    SentencePieceTokenizer,
    read_llama2c_tokenizer,
    spm_from_gguf_metadata,
)
from edgechain.ml.weights import ModelFile

__all__ = [
    "END_OF_GENERATION_TEXTS",
    "ChatMessage",
    "GgufBpeTokenizer",
    "HFTokenizer",
    "SentencePieceTokenizer",
    "StreamDecoder",
    "Tokenizer",
    "load_tokenizer",
    "read_llama2c_tokenizer",
    "render_chat_template",
    "tokenizer_from_model_file",
]


def tokenizer_from_model_file(model_file: ModelFile) -> Tokenizer:
    """The tokenizer a GGUF file carries (``tokenizer.ggml.model`` llama or gpt2), or for a
    safetensors directory its ``tokenizer.json``; `ModelFormatError` when there is none."""
    if model_file.format == "gguf":
        kind = model_file.metadata.get("tokenizer.ggml.model")
        if kind == "llama":
            return spm_from_gguf_metadata(model_file.metadata)
        if kind == "gpt2":
            return GgufBpeTokenizer(model_file.metadata)
        if kind is None:
            raise ModelFormatError(f"GGUF {model_file.source}: no tokenizer.ggml.model")
        raise UnsupportedModel(f"GGUF {model_file.source}: tokenizer model {kind!r} not supported")
    directory = model_file.extras.get("directory")
    if model_file.format == "safetensors" and directory:
        return load_tokenizer(directory)
    raise ModelFormatError(
        f"{model_file.format} {model_file.source}: carries no tokenizer; load one with load_tokenizer"
    )


def load_tokenizer(source: str | os.PathLike[str], vocab_size: int | None = None) -> Tokenizer:
    """A ``tokenizer.json`` (or a directory holding one) or a llama2.c ``tokenizer.bin``."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".json":
        return HFTokenizer(path)
    return read_llama2c_tokenizer(path, vocab_size)
