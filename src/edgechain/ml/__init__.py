"""edgechain.ml: run Llama and BERT models from GGUF, safetensors and llama2.c files.

Usable on its own (it imports nothing else of edgechain):

    from edgechain.ml import load_model, SamplingParams
    model = load_model("model.gguf")
    print(model.generate_text("Once upon a time", max_tokens=32))
"""

from __future__ import annotations

from edgechain.ml.api import EmbeddingModel, LanguageModel, load_model
from edgechain.ml.errors import (
    BackendUnavailable,
    GenerationError,
    MLError,
    ModelFormatError,
    UnsupportedModel,
)
from edgechain.ml.generation import GeneratedToken, generate
from edgechain.ml.llama import LlamaConfig, LlamaModel
from edgechain.ml.sampling import (
    DEFAULT_SEED,
    Sampler,
    SamplingParams,
    seed_from_timestamp,
)

__all__ = [
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
