"""Recognise a model file's format by its first bytes (or a directory's contents) and parse it.

GGUF starts with "GGUF"; a versioned llama2.c export with the uint32 0x616b3432; a
safetensors file with a uint64 header length followed by '{'; a directory is a Hugging
Face model directory (model.safetensors + config.json). Anything else of the right size
for a legacy llama2.c header is tried as one (its parser checks the exact file size).
"""

from __future__ import annotations

import os
from pathlib import Path

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats._source import ModelSource, open_source
from edgechain.ml.formats.gguf import read_gguf
from edgechain.ml.formats.llama2c import LLAMA2C_MAGIC, read_llama2c
from edgechain.ml.formats.safetensors import INDEX_NAME, read_safetensors
from edgechain.ml.weights import ModelFile


def sniff_format(source: ModelSource) -> str:
    """``gguf``, ``safetensors`` or ``llama2c``; `ModelFormatError` when none fits."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        directory = Path(source)
        if (directory / "model.safetensors").exists() or (directory / INDEX_NAME).exists():
            return "safetensors"
        raise ModelFormatError(f"{source}: a directory without model.safetensors")
    byte_source = open_source(source, "model")
    head = byte_source.data[:16].tobytes()
    if head[:4] == b"GGUF":
        return "gguf"
    if len(head) >= 4 and int.from_bytes(head[:4], "little") == LLAMA2C_MAGIC:
        return "llama2c"
    size = int(byte_source.data.size)
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"  # (a llama2.c header read as a u64 length is >= 2^32)
    if len(head) >= 8:
        return "llama2c"
    raise ModelFormatError(f"{byte_source.name}: too short ({len(head)} bytes) to be a model file")


def open_model_file(source: ModelSource) -> ModelFile:
    """Parse a GGUF, safetensors (file or directory) or llama2.c model, whichever it is."""
    model_format = sniff_format(source)
    if model_format == "gguf":
        return read_gguf(source)
    if model_format == "safetensors":
        return read_safetensors(source)
    return read_llama2c(source)
