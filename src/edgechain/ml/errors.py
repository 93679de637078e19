"""The ML engine's errors. `edgechain.ml` stands on its own, so it has its own root.

    MLError
    ├── ModelFormatError     a model or tokenizer file that is missing, truncated or malformed
    ├── UnsupportedModel     a well-formed file of an architecture or tensor type we do not run
    ├── BackendUnavailable   a backend (torch, CUDA) that is not installed or not present
    └── GenerationError      bad generation arguments (negative max_tokens, top_p outside (0, 1])
"""

from __future__ import annotations


class MLError(Exception):
    """Every error the ML engine raises on purpose derives from this."""


class ModelFormatError(MLError):
    """A model or tokenizer file that is missing, truncated or malformed; the message says where."""


class UnsupportedModel(MLError):
    """A well-formed file whose architecture, tensor type or feature we do not support."""


class BackendUnavailable(MLError):
    """A backend that is not installed (torch) or a device that is not present (CUDA)."""


class GenerationError(MLError):
    """Invalid generation or sampling arguments."""


class UnsupportedTensorType(ModelFormatError, UnsupportedModel):
    """A model file naming a tensor element type that exists but that we do not read."""


class ModelHashMismatch(MLError):
    """Model bytes whose BLAKE3 differs from the hash that pinned them (nothing was parsed or cached)."""

    def __init__(self, what: str, expected_hex: str, actual_hex: str) -> None:
        self.what = what
        self.expected_hex = expected_hex
        self.actual_hex = actual_hex
        super().__init__(
            f"{what}: the model's bytes hash to BLAKE3 {actual_hex}, but {expected_hex} was pinned;"
            " refusing to load it"
        )
