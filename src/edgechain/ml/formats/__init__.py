"""Model file parsers: GGUF, safetensors, llama2.c; each returns a `ModelFile` of tensor views."""

from __future__ import annotations

from edgechain.ml.formats._source import ModelSource
from edgechain.ml.formats.detect import open_model_file, sniff_format
from edgechain.ml.formats.gguf import read_gguf
from edgechain.ml.formats.llama2c import read_llama2c
from edgechain.ml.formats.safetensors import read_safetensors
from edgechain.ml.formats.validation import tensor_is_finite, validate_tensors

__all__ = [
    "ModelSource",
    "open_model_file",
    "read_gguf",
    "read_llama2c",
    "read_safetensors",
    "sniff_format",
    "tensor_is_finite",
    "validate_tensors",
]
