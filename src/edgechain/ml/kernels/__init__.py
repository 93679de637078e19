"""Weight kernels: reference dequantization of every tensor type, compiled quantized products.

`reference` defines each ggml block layout in numpy; `exact` defines the exp and the
order of float sums every backend follows; `compiled` holds the numba kernels (and says
why numba); `matrices` turns weights into objects with ``matmul``.
"""

from __future__ import annotations

from edgechain.ml.kernels.matrices import (
    BATCH_THRESHOLD,
    COMPILED_TYPES,
    DenseMatrix,
    PackedMatrix,
    WeightMatrix,
    matvec_reference,
    prepare_matrix,
    quantize_activations,
    release_file_pages,
    requantize_activations,
)
from edgechain.ml.kernels.reference import dequantize, dequantize_record, quantize_activations_q8

__all__ = [
    "BATCH_THRESHOLD",
    "COMPILED_TYPES",
    "DenseMatrix",
    "PackedMatrix",
    "WeightMatrix",
    "dequantize",
    "dequantize_record",
    "matvec_reference",
    "prepare_matrix",
    "quantize_activations",
    "quantize_activations_q8",
    "release_file_pages",
    "requantize_activations",
]
