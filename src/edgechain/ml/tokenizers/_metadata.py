"""Typed reads of ``tokenizer.*`` GGUF keys: a wrong type or length is a `ModelFormatError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from edgechain.ml.errors import ModelFormatError


def string_list(metadata: Mapping[str, Any], key: str) -> list[str]:
    value = metadata.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ModelFormatError(f"GGUF tokenizer: {key} is missing or not a list of strings")
    return value


def number_list(
    metadata: Mapping[str, Any], key: str, length: int, integer: bool
) -> list[float] | list[int] | None:
    value = metadata.get(key)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iuf":
        raise ModelFormatError(f"GGUF tokenizer: {key} is not an array of numbers")
    if integer and value.dtype.kind == "f":
        raise ModelFormatError(f"GGUF tokenizer: {key} must hold integers")
    if value.size != length:
        raise ModelFormatError(
            f"GGUF tokenizer: {key} has {value.size} entries for {length} tokens"
        )
    result: list[float] | list[int] = value.tolist()
    return result


def read_token_id(
    metadata: Mapping[str, Any], key: str, size: int, default: int | None = None
) -> int | None:
    value = metadata.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
        raise ModelFormatError(f"GGUF tokenizer: {key} = {value!r} is not a token id (< {size})")
    return value


def flag(metadata: Mapping[str, Any], key: str, default: bool) -> bool:
    value = metadata.get(key, default)
    if not isinstance(value, bool):
        raise ModelFormatError(f"GGUF tokenizer: {key} = {value!r} is not a boolean")
    return value


def optional_string(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    if value is not None and not isinstance(value, str):
        raise ModelFormatError(f"GGUF tokenizer: {key} is not a string")
    return value
