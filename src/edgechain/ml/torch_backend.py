"""The PyTorch backend of the Llama forward pass: the `Backend` seam of `edgechain.ml.llama`.

`TorchBackend(device="cpu" | "cuda", dtype=torch.float32)` computes what `NumpyBackend`
computes, on a torch device:

- Weights stay in the file's encoding in device memory. Q4_0, Q4_1 and Q8_0 are kept as
  packed uint8/int8 quants plus float16 scales (and Q4_1 mins), one row per output
  feature; Q4_K, Q5_K and Q6_K as their raw packed bytes plus the per-sub-block scales
  decoded once at load (as float32 products, exactly as `kernels.reference` forms them).
  Each product dequantizes the weight on the fly with vectorized torch ops, into
  ``dtype``, in row chunks where memory is scarce (CPU). F32/F16/BF16 weights are
  converted to ``dtype`` once at load.
- On CPU (float32) the Q4_0/Q4_1/Q8_0/Q4_K/Q6_K products run by default through the numpy backend's
  compiled integer kernels on the same bytes (``products="kernels"``): torch has no packed
  4-bit CPU product, and dequantizing per product costs a float32 copy of every weight per
  token (measured on SmolLM2 on a loaded 2-core machine: 1.3 tok/s that way, 6.4 with the
  kernels, numpy 22). Everything else runs in torch, whose per-operation dispatch keeps it
  behind numpy on CPU. ``products="torch"`` runs the CUDA path on the CPU (tests use it).
- Numerics follow the numpy reference: for Q4_0/Q4_1/Q8_0/Q4_K/Q6_K products the activations go
  through llama.cpp's 8-bit rule first (`requantize`), so both backends compute the
  same function; RMSNorm's mean square is taken in float64; RoPE uses the model's own
  float32 sin/cos tables. With ``exact`` (the default with kernel products, so on the CPU)
  RMSNorm, RoPE, attention and SiLU follow `kernels.exact`'s definition through
  `edgechain.ml.torch_exact` (its exp, its order of every float sum), as the numpy kernels
  do: the logits are then numpy's bit for bit, and so are greedy and sampled tokens.
  Without it (the CUDA default) torch's own exp, softmax and matmul-ordered sums differ
  from numpy's in the last float bits, which 8-bit activation rounding can turn into a
  different pick at a near-tie.
- Why float32 by default, on CUDA too: the models this engine targets (50-500 MB) decode
  one token per step, where a GPU is bound by kernel launches, not by arithmetic or
  bandwidth, so half precision buys little speed and costs parity with the CPU (float16
  rounds ``d * q + m``; TF32 is left off, PyTorch's default for matmul). ``dtype`` may be
  float16 or bfloat16 for larger models; parity is then looser (see the tests).
- No host synchronisation inside a step: token ids are checked on the host before they
  are copied, the RoPE tables are copied to the device once per model and sliced there,
  the KV cache lives on the device, and only `to_numpy` (the logits, once per step)
  waits for the device. Kernels per step are kept few (about 3,100 non-view operations
  per SmolLM2 token, counted with the profiler), and `edgechain.ml.torch_graphs` records
  a one-token step as a CUDA graph through the backend's *static* mode (``static``).

torch is an optional extra: this module imports without it, and `TorchBackend` raises
`BackendUnavailable` saying what to install when it is absent (or when CUDA is asked for
and not present).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from edgechain.ml.errors import BackendUnavailable, ModelFormatError, UnsupportedModel
from edgechain.ml.kernels.reference import half_floats, k_scales_mins
from edgechain.ml.weights import BLOCK_LAYOUT, TensorRecord, TensorType

if TYPE_CHECKING:
    import torch

    from edgechain.ml.kernels import WeightMatrix
    from edgechain.ml.llama import LlamaConfig
else:
    torch = None  # bound by `import_torch` on first use, so that importing this module is free

INSTALL_HINT = "pip install 'edgechain[torch]'"
"""What to run when torch is missing."""

LEGACY_QUANTS = (TensorType.Q4_0, TensorType.Q4_1, TensorType.Q8_0)
"""Types whose products `torch_exact.legacy_product` computes exactly."""
KERNEL_QUANTS = (*LEGACY_QUANTS, TensorType.Q4_K, TensorType.Q6_K)
"""Types the numpy backend's integer kernels multiply (Q4_K and Q6_K repacked): their products
quantize the activations to 8 bits first, here as there, and on the CPU they run through
those kernels by default."""
K_QUANTS = (TensorType.Q4_K, TensorType.Q5_K, TensorType.Q6_K)
"""Super-block quantizations, kept packed and dequantized per product."""

PRODUCTS = ("torch", "kernels", "exact")
"""How quantized products run (see `TorchBackend.products`)."""

CPU_CHUNK_ELEMENTS = 1 << 20
"""On CPU a quantized weight is dequantized this many elements at a time (4 MB of float32),
so a product never materialises a whole float copy of a large matrix (an output head)."""
CUDA_CHUNK_ELEMENTS = 1 << 28
"""On CUDA one chunk covers any weight of the target models: fewer launches per product."""


def import_torch() -> ModuleType:
    """The torch module (bound to this module's ``torch``), or `BackendUnavailable` saying
    how to install it."""
    global torch
    try:
        module = importlib.import_module("torch")
    except ImportError as exc:
        raise BackendUnavailable(
            f"the torch backend needs PyTorch, which is not installed: {INSTALL_HINT}"
        ) from exc
    torch = module
    return module


Activations: TypeAlias = "torch.Tensor | np.ndarray"
"""What the model hands back to the backend: its tensors (numpy only from mixed-type files)."""

# ---------------------------------------------------------------------------- weights


@dataclass(eq=False)
class TorchMatrix:
    """A weight (rows, cols) on the device, in its file's encoding; ``dequantize`` decodes rows."""

    tensor_type: TensorType
    """The encoding of ``parts`` (F32/F16/BF16 weights are stored already decoded)."""
    rows: int
    """Output features."""
    cols: int
    """Input features."""
    parts: dict[str, torch.Tensor]
    """Device tensors, each with ``rows`` as its first dimension (see `_pack`)."""
    name: str = ""
    """The records it was built from, for messages."""
    kernel: WeightMatrix | None = None
    """On CPU with ``products="kernels"``: the numpy backend's compiled packed matrix, which
    then does the products (``parts`` is empty)."""
    host_rows: np.ndarray | None = None
    """With ``kernel``: the file's bytes (rows, bytes per row), for embedding lookups."""

    @property
    def quantized(self) -> bool:
        return self.tensor_type.is_quantized

    def nbytes(self) -> int:
        """Bytes the weight occupies on its device."""
        if self.kernel is not None:
            arrays = [getattr(self.kernel, key, None) for key in ("quants", "scales", "mins")]
            return sum(int(array.nbytes) for array in arrays if array is not None)
        return sum(int(part.numel() * part.element_size()) for part in self.parts.values())


def _half_scales(raw: np.ndarray, offset: int) -> np.ndarray:
    """The little-endian float16 at byte ``offset`` of every block, as float16 (rows, blocks, 1)."""
    return np.ascontiguousarray(raw[:, :, offset : offset + 2]).view("<f2").astype(np.float16)


def pack_parts(tensor_type: TensorType, raw: np.ndarray, rows: int, cols: int) -> dict[str, np.ndarray]:
    """Split quantized bytes (rows, bytes per row) into the host arrays a `TorchMatrix` keeps.

    Q4_0: ``nibbles`` uint8 (rows, blocks, 16), ``scales`` float16 (rows, blocks, 1).
    Q4_1: the same plus ``mins`` float16. Q8_0: ``quants`` int8 (rows, blocks, 32), ``scales``.
    Q4_K/Q5_K: ``blocks`` uint8 (rows, blocks, bytes), ``scales`` and ``mins`` float32
    (rows, blocks, 8, 1) = d * sc and dmin * mn. Q6_K: ``blocks`` and ``scales`` float32
    (rows, blocks, 2, 8, 1) of the int8 sub-scales, ``d`` float32 (rows, blocks, 1, 1, 1).
    """
    block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
    if cols % block_elements:
        raise ModelFormatError(
            f"{tensor_type.name} row length {cols} is not a multiple of {block_elements}"
        )
    blocks = cols // block_elements
    flat = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if flat.size != rows * blocks * block_bytes:
        raise ModelFormatError(
            f"{tensor_type.name} weight of {rows}x{cols} needs {rows * blocks * block_bytes} "
            f"bytes, has {flat.size}"
        )
    data = flat.reshape(rows, blocks, block_bytes)
    if tensor_type == TensorType.Q4_0:
        return {"nibbles": np.ascontiguousarray(data[:, :, 2:18]),
                "scales": _half_scales(data, 0)}
    if tensor_type == TensorType.Q4_1:
        return {"nibbles": np.ascontiguousarray(data[:, :, 4:20]),
                "scales": _half_scales(data, 0), "mins": _half_scales(data, 2)}
    if tensor_type == TensorType.Q8_0:
        return {"quants": np.ascontiguousarray(data[:, :, 2:34]).view(np.int8),
                "scales": _half_scales(data, 0)}
    if tensor_type in (TensorType.Q4_K, TensorType.Q5_K):
        d = half_floats(data[:, :, 0:2].reshape(rows, blocks, 1, 2))  # (rows, blocks, 1)
        dmin = half_floats(data[:, :, 2:4].reshape(rows, blocks, 1, 2))
        sc, mn = k_scales_mins(data[:, :, 4:16])  # (rows, blocks, 8)
        return {"blocks": np.ascontiguousarray(data[:, :, 16:]),
                "scales": (d * sc)[..., None], "mins": (dmin * mn)[..., None]}
    if tensor_type == TensorType.Q6_K:
        sub_scales = data[:, :, 192:208].view(np.int8).astype(np.float32)
        d = half_floats(data[:, :, 208:210].reshape(rows, blocks, 1, 2))  # (rows, blocks, 1)
        return {"blocks": np.ascontiguousarray(data[:, :, 0:192]),
                "scales": sub_scales.reshape(rows, blocks, 2, 8, 1),
                "d": d.reshape(rows, blocks, 1, 1, 1)}
    raise UnsupportedModel(f"no torch decoder for tensor type {tensor_type!r}")


def dense_host(record: TensorRecord) -> np.ndarray:
    """A float record (F32, F16 or BF16) as a host array torch can take without rounding."""
    data = np.asarray(record.data)
    if record.tensor_type == TensorType.F32:
        return np.ascontiguousarray(data, dtype=np.float32).reshape(record.shape)
    if record.tensor_type == TensorType.F16:
        return np.ascontiguousarray(data.view(np.float16)).reshape(record.shape)
    if record.tensor_type == TensorType.BF16:
        bits = data.view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(record.shape)
    raise UnsupportedModel(f"{record.name!r}: {record.tensor_type!r} is not a float type")


# ---------------------------------------------------------------------------- dequantization


def _unpack_nibbles(nibbles: torch.Tensor) -> torch.Tensor:
    """(..., 16) bytes to (..., 32) uint8: element j in the low nibble, j + 16 in the high one."""
    return torch.cat([nibbles & 0x0F, nibbles >> 4], dim=-1)


# Each decoder forms the float32 values as `kernels.reference` does (the same products and
# sums, so the same bits: a quant times a float16 scale is exact in float32, so addcmul's
# single rounding equals the reference's rounded sum), reading the float16 scales through
# type promotion rather than a separate conversion: fewer kernels per product.


def _as(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return values if values.dtype == dtype else values.to(dtype)


def _dequantize_q4_0(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    quants = _unpack_nibbles(parts["nibbles"]).to(torch.float32) - 8.0  # (rows, blocks, 32)
    return _as(quants * parts["scales"], dtype)


def _dequantize_q4_1(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    quants = _unpack_nibbles(parts["nibbles"]).to(torch.float32)  # (rows, blocks, 32)
    return _as(torch.addcmul(parts["mins"], quants, parts["scales"]), dtype)


def _dequantize_q8_0(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    return _as(parts["quants"].to(torch.float32) * parts["scales"], dtype)  # (rows, blocks, 32)


def _dequantize_q4_k(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    packed = parts["blocks"]  # (rows, blocks, 128)
    rows, blocks = packed.shape[:2]
    groups = packed.reshape(rows, blocks, 4, 1, 32)  # 4 groups of 32 bytes -> 64 values each
    quants = torch.cat([groups & 0x0F, groups >> 4], dim=3).reshape(rows, blocks, 8, 32)
    values = parts["scales"] * quants.to(torch.float32) - parts["mins"]  # (rows, blocks, 8, 32)
    return values.to(dtype)


def _dequantize_q5_k(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    raw = parts["blocks"]  # (rows, blocks, 160): 32 bytes of fifth bits, 128 of nibbles
    rows, blocks = raw.shape[:2]
    high = raw[:, :, 0:32]
    groups = raw[:, :, 32:160].reshape(rows, blocks, 4, 1, 32)
    low = torch.cat([groups & 0x0F, groups >> 4], dim=3).reshape(rows, blocks, 8, 32)
    shifts = torch.arange(8, dtype=torch.uint8, device=raw.device).reshape(1, 1, 8, 1)
    bits = (high.unsqueeze(2) >> shifts) & 1  # (rows, blocks, 8, 32)
    quants = (low.to(torch.int32) + 16 * bits.to(torch.int32)).to(torch.float64)
    # The reference forms this in float64 (numpy promotes float32 * int32) and rounds once.
    values = parts["scales"].to(torch.float64) * quants - parts["mins"].to(torch.float64)
    return values.to(dtype)


def _dequantize_q6_k(parts: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    raw = parts["blocks"]  # (rows, blocks, 192): 128 low nibbles, 64 high 2-bit pairs
    rows, blocks = raw.shape[:2]
    low = raw[:, :, 0:128].reshape(rows, blocks, 2, 64)
    high = raw[:, :, 128:192].reshape(rows, blocks, 2, 32)
    l0, l1 = low[..., 0:32], low[..., 32:64]
    quant_parts = [
        (l0 & 0x0F) | (((high >> 0) & 3) << 4),
        (l1 & 0x0F) | (((high >> 2) & 3) << 4),
        (l0 >> 4) | (((high >> 4) & 3) << 4),
        (l1 >> 4) | (((high >> 6) & 3) << 4),
    ]
    quants = torch.stack(quant_parts, dim=3).to(torch.float32) - 32.0  # (rows, blocks, 2, 4, 32)
    quants = quants.reshape(rows, blocks, 2, 8, 16)
    values = quants * parts["scales"] * parts["d"]  # (rows, blocks, 2, 8, 16)
    return values.to(dtype)


_DEQUANTIZERS: dict[TensorType, Callable[[dict[str, torch.Tensor], torch.dtype], torch.Tensor]] = {
    TensorType.Q4_0: _dequantize_q4_0,
    TensorType.Q4_1: _dequantize_q4_1,
    TensorType.Q8_0: _dequantize_q8_0,
    TensorType.Q4_K: _dequantize_q4_k,
    TensorType.Q5_K: _dequantize_q5_k,
    TensorType.Q6_K: _dequantize_q6_k,
}


# ---------------------------------------------------------------------------- cache and tables


@dataclass(eq=False)
class TorchKVCache:
    """Keys and values of every layer on the device: (layers, kv heads, capacity, head_dim)."""

    keys: torch.Tensor
    values: torch.Tensor

    @property
    def capacity(self) -> int:
        return int(self.keys.shape[2])


@dataclass(eq=False)
class StaticStep:
    """Device-held inputs and output of a one-token step that does not depend on host values."""

    token: torch.Tensor
    """(1,) int64: the token id (checked against the vocabulary before it is copied here)."""
    position: torch.Tensor
    """(1,) int64: the position it takes in the cache."""
    slots: torch.Tensor
    """(capacity,) int64: 0..capacity-1, compared with ``position`` to mask later slots."""
    logits: torch.Tensor | None = None
    """(1, vocab) float32: set by `TorchBackend.to_numpy` during the step."""


@dataclass(eq=False)
class TorchTable:
    """A token embedding table on the device; rows are decoded on lookup."""

    matrix: TorchMatrix


# ---------------------------------------------------------------------------- the backend


class TorchBackend:
    """The Llama `Backend` on PyTorch (CPU or CUDA); see the module docstring."""

    name = "torch"

    def __init__(
        self,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        threads: int | None = None,
        products: str | None = None,
        exact: bool | None = None,
        integer_batches: bool = False,
    ) -> None:
        import_torch()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"device {device!r} was asked for, but torch {torch.__version__} sees no CUDA "
                "device (torch.cuda.is_available() is False); use device='cpu'"
            )
        if not (device == "cpu" or device.startswith("cuda")):
            raise BackendUnavailable(f"unknown torch device {device!r}: use 'cpu' or 'cuda'")
        self.device = torch.device(device)
        self.dtype = torch.float32 if dtype is None else dtype
        if self.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise BackendUnavailable(f"compute dtype {self.dtype} is not float32/float16/bfloat16")
        if threads is not None:
            torch.set_num_threads(threads)
        if products is None:
            products = "kernels" if self.device.type == "cpu" and self.dtype == torch.float32 else "torch"
        if products not in PRODUCTS:
            raise BackendUnavailable(f"products {products!r}: choose one of {', '.join(PRODUCTS)}")
        if products == "kernels" and (self.device.type != "cpu" or self.dtype != torch.float32):
            raise BackendUnavailable("products='kernels' (numba) runs on the CPU in float32 only")
        self.products = products
        """How Q4_0/Q4_1/Q8_0 products run: "torch" (dequantize per product, vectorized torch
        ops; the CUDA default), "kernels" (the numpy backend's compiled integer kernels on the
        same memory: torch has no packed 4-bit CPU product, so this is the CPU default) or
        "exact" (`torch_exact.legacy_product`: the kernels' integer block sums and their
        order in torch ops, on any device: the same bits as "kernels", more kernels per step)."""
        self.exact = self.products in ("kernels", "exact") if exact is None else exact
        """Norms, RoPE, attention and SiLU by `kernels.exact`'s definition (`torch_exact`), as
        the numpy backend computes them: with ``products="kernels"`` (the CPU default) the
        logits are then bit-identical to numpy's. Off: torch's own routines (``torch.exp``,
        ``softmax``, matmul-ordered sums), fewer kernels per step; the CUDA default."""
        if (self.exact or products == "exact") and self.dtype != torch.float32:
            raise BackendUnavailable("exact numerics and products run in float32 only")
        self.integer_batches = integer_batches
        """With ``products="kernels"``: a prompt's batch through the integer kernels too, as
        ``NumpyBackend(exact=True)`` (its prefill then equals token-by-token evaluation), not
        BLAS on dequantized chunks."""
        if self.exact or products == "exact":
            from edgechain.ml import torch_exact

            self._exact = torch_exact
        self.chunk_elements = CUDA_CHUNK_ELEMENTS if self.device.type == "cuda" else CPU_CHUNK_ELEMENTS
        self._uploaded: dict[tuple[str, int, tuple[int, ...]], tuple[TensorRecord, TorchMatrix]] = {}
        self._tables: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._rotation_tables: dict[
            tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]
        ] = {}
        self._one_twenty_seven = torch.tensor(127.0, dtype=torch.float32, device=self.device)
        self.static: StaticStep | None = None
        """Set (by `edgechain.ml.torch_graphs`) while a one-token step runs from device-held
        inputs: embed, rope, attention and to_numpy then read and write only fixed tensors."""

    # ------------------------------------------------------------------ loading

    def _upload(self, host: np.ndarray) -> torch.Tensor:
        """A host array on the device. Read-only arrays (memory-mapped files) are copied
        first: torch cannot hold a tensor over read-only memory."""
        host = np.ascontiguousarray(host)
        if not host.flags.writeable:
            host = host.copy()
        return torch.from_numpy(host).to(self.device)

    def _matrix_of(self, records: Sequence[TensorRecord]) -> TorchMatrix:
        if not records or any(len(record.shape) != 2 for record in records):
            names = [record.name for record in records]
            raise ModelFormatError(f"weights {names} are not matrices")
        cols = {record.shape[1] for record in records}
        types = {record.tensor_type for record in records}
        name = "+".join(record.name for record in records)
        if len(cols) != 1:
            raise ModelFormatError(f"weights {name} do not share one input width: {sorted(cols)}")
        if len(types) != 1:
            raise ModelFormatError(f"weights {name} mix tensor types {sorted(t.name for t in types)}")
        tensor_type = types.pop()
        width = cols.pop()
        rows = sum(record.shape[0] for record in records)
        if tensor_type not in BLOCK_LAYOUT:
            raise UnsupportedModel(f"weights {name}: tensor type {tensor_type!r} is not supported")
        if self.products == "kernels" and tensor_type in KERNEL_QUANTS:
            from edgechain.ml.kernels import PackedMatrix, prepare_matrix

            host_rows = np.concatenate(
                [np.asarray(record.data).reshape(record.shape[0], -1) for record in records]
            )
            kernel = prepare_matrix(tensor_type, host_rows, (rows, width), name)
            if isinstance(kernel, PackedMatrix):
                kernel.batch_with_blas = not self.integer_batches
            return TorchMatrix(tensor_type, rows, width, {}, name, kernel, host_rows)
        if tensor_type.is_quantized:
            pieces = [pack_parts(tensor_type, np.asarray(record.data), record.shape[0], width)
                      for record in records]
            host = {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
            parts = {key: self._upload(array) for key, array in host.items()}
        else:
            dense = np.concatenate([dense_host(record) for record in records])
            weight = self._upload(dense).to(self.dtype)
            parts = {"weight": weight}
        return TorchMatrix(tensor_type, rows, width, parts, name)

    def _single(self, record: TensorRecord) -> TorchMatrix:
        """One record's device weight, uploaded once even when asked for twice (tied head)."""
        data = np.asarray(record.data)
        key = (record.name, int(data.__array_interface__["data"][0]), tuple(record.shape))
        found = self._uploaded.get(key)
        if found is not None:
            return found[1]
        matrix = self._matrix_of([record])
        self._uploaded[key] = (record, matrix)  # the record keeps its buffer's address taken
        return matrix

    def matrix(self, records: Sequence[TensorRecord]) -> TorchMatrix:
        if len(records) == 1:
            return self._single(records[0])
        return self._matrix_of(records)

    def vector(self, record: TensorRecord) -> torch.Tensor:
        if record.tensor_type.is_quantized:
            from edgechain.ml.kernels.reference import dequantize

            host = dequantize(record.tensor_type, record.data, record.shape)
        else:
            host = dense_host(record)
        return self._upload(host).to(torch.float32)

    def embedding(self, record: TensorRecord) -> TorchTable:
        if len(record.shape) != 2:
            raise ModelFormatError(f"embedding {record.name!r} has shape {record.shape}")
        return TorchTable(self._single(record))

    # ------------------------------------------------------------------ products

    def dequantize(self, weight: TorchMatrix, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of ``weight`` as (rows, cols) in the compute dtype."""
        stop = weight.rows if stop is None else stop
        if weight.kernel is not None:
            return torch.from_numpy(weight.kernel.to_float()[start:stop].copy())
        if not weight.quantized:
            return weight.parts["weight"][start:stop]
        parts = {key: value[start:stop] for key, value in weight.parts.items()}
        values = _DEQUANTIZERS[weight.tensor_type](parts, self.dtype)
        return values.reshape(stop - start, weight.cols)

    def requantize(self, x: torch.Tensor) -> torch.Tensor:
        """(T, n) float32 through llama.cpp's 8-bit activation rule and back (see
        `kernels.reference.quantize_activations_q8`): what the numpy kernels multiply."""
        tokens, width = x.shape
        blocks = x.reshape(tokens, width // 32, 32)
        amax: torch.Tensor = torch.linalg.vector_norm(  # max |x| per block, one kernel
            blocks, ord=float("inf"), dim=-1, keepdim=True
        )  # (T, n/32, 1)
        scale = amax / 127.0
        # An all-zero block has inverse 0 in the kernels; any finite inverse gives its quants
        # 0 too, so clamping amax (one kernel) stands for the kernels' branch (three). Blocks
        # whose largest value is below 2^-100 (never seen in activations) would differ.
        # a tensor numerator: ``127.0 / t`` would run as reciprocal-then-multiply (two roundings)
        inverse = torch.div(self._one_twenty_seven, amax.clamp_min(2.0**-100))
        quants = torch.round(blocks * inverse)  # ties to even, as np.rint
        rounded_scale = scale.to(torch.float16)  # read back exactly by type promotion
        return (quants * rounded_scale).reshape(tokens, width)

    def matmul(self, weight: TorchMatrix, x: Activations) -> torch.Tensor:
        x = self._tensor(x)  # (T, cols)
        if weight.kernel is not None:
            # the kernels quantize the activations themselves, by the same rule
            host = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
            return torch.from_numpy(np.ascontiguousarray(weight.kernel.matmul(host)))
        if weight.tensor_type in LEGACY_QUANTS and self.products == "exact":
            return self._exact.legacy_product(weight.tensor_type.name, weight.parts, x)
        if weight.tensor_type in KERNEL_QUANTS:
            x = self.requantize(x)
        x = _as(x, self.dtype)
        if not weight.quantized:
            return _as(x @ weight.parts["weight"].T, torch.float32)  # (T, rows)
        step = max(1, self.chunk_elements // weight.cols)
        if step >= weight.rows:
            return _as(x @ self.dequantize(weight).T, torch.float32)
        out = torch.empty((x.shape[0], weight.rows), dtype=self.dtype, device=self.device)
        for start in range(0, weight.rows, step):
            stop = min(weight.rows, start + step)
            out[:, start:stop] = x @ self.dequantize(weight, start, stop).T
        return _as(out, torch.float32)

    # ------------------------------------------------------------------ activations

    def _tensor(self, x: Activations) -> torch.Tensor:
        """Activations as a float32 device tensor (numpy input only from mixed-type files)."""
        if isinstance(x, np.ndarray):
            return self._upload(x.astype(np.float32, copy=False))
        tensor: torch.Tensor = x
        return tensor

    def _device_table(self, table: np.ndarray) -> tuple[torch.Tensor, int] | None:
        """The whole RoPE table ``table`` is a row slice of, on the device (uploaded once),
        and the first row of the slice; None when ``table`` is not a slice of a table."""
        base = table.base
        if not (
            isinstance(base, np.ndarray)
            and base.ndim == 2
            and table.ndim == 2
            and base.dtype == np.float32
            and base.flags.c_contiguous
            and table.flags.c_contiguous
            and base.shape[1] == table.shape[1]
        ):
            return None
        offset = table.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        row_bytes = base.strides[0]
        if offset % row_bytes or not 0 <= offset // row_bytes <= base.shape[0] - table.shape[0]:
            return None
        cached = self._tables.get(id(base))
        if cached is None or cached[0] is not base:
            cached = (base, self._upload(base))  # holding base keeps its id unique
            self._tables[id(base)] = cached
        return cached[1], offset // row_bytes

    def _table_rows(self, table: np.ndarray) -> torch.Tensor:
        """The rows of a RoPE table slice on the device, for the positions being computed."""
        found = self._device_table(table)
        if self.static is not None:
            if found is None:
                raise BackendUnavailable("a static (graph) step needs the model's RoPE tables")
            return found[0].index_select(0, self.static.position)  # (1, half)
        if found is None:
            return self._upload(np.asarray(table, dtype=np.float32))
        device_table, first = found
        return device_table[first : first + table.shape[0]]

    def embed(self, table: TorchTable, ids: Sequence[int]) -> torch.Tensor:
        matrix = table.matrix
        if self.static is not None:
            # the token was checked and copied into the static inputs by the caller
            index = [0]
            positions = self.static.token
        else:
            index = [int(token) for token in ids]
            if any(token < 0 or token >= matrix.rows for token in index):
                raise ModelFormatError(f"token id outside 0..{matrix.rows - 1}")
            positions = torch.tensor(index, dtype=torch.int64).to(self.device)
        if matrix.host_rows is not None:
            from edgechain.ml.kernels import dequantize

            rows = matrix.host_rows[positions.numpy()]
            return torch.from_numpy(dequantize(matrix.tensor_type, rows, (len(index), matrix.cols)))
        if not matrix.quantized:
            return matrix.parts["weight"][positions].to(torch.float32)  # (T, dim)
        parts = {key: value[positions] for key, value in matrix.parts.items()}
        values = _DEQUANTIZERS[matrix.tensor_type](parts, torch.float32)
        return values.reshape(len(index), matrix.cols)  # (T, dim)

    def rmsnorm(self, x: Activations, weight: torch.Tensor, eps: float) -> torch.Tensor:
        x = self._tensor(x)
        if self.exact:
            return self._exact.rmsnorm(x, weight, eps)
        mean_square = x.to(torch.float64).square().mean(dim=-1, keepdim=True)  # (T, 1)
        scale = (1.0 / torch.sqrt(mean_square + eps)).to(torch.float32)
        return (x * scale) * weight  # (T, dim)

    def _rotations(self, cos: np.ndarray, sin: np.ndarray) -> torch.Tensor | None:
        """cos + i sin (T, half) complex64 for the positions of ``cos``/``sin`` (slices of the
        model's tables), from a device table built once; None when they are not slices."""
        found_cos, found_sin = self._device_table(cos), self._device_table(sin)
        if found_cos is None or found_sin is None or found_cos[1] != found_sin[1]:
            return None
        key = (id(found_cos[0]), id(found_sin[0]))
        cached = self._rotation_tables.get(key)
        if cached is None or cached[0] is not found_cos[0] or cached[1] is not found_sin[0]:
            cached = (found_cos[0], found_sin[0], torch.complex(found_cos[0], found_sin[0]))
            self._rotation_tables[key] = cached
        table = cached[2]
        if self.static is not None:
            return table.index_select(0, self.static.position)  # (1, half)
        first = found_cos[1]
        return table[first : first + cos.shape[0]]

    def rope(self, x: Activations, cos: np.ndarray, sin: np.ndarray) -> torch.Tensor:
        x = self._tensor(x)  # (T, heads, head_dim)
        tokens, heads, head_dim = x.shape
        half = cos.shape[1]
        if self.exact:
            return self._exact.rope(x, self._table_rows(cos), self._table_rows(sin))
        rotations = self._rotations(cos, sin) if 2 * half == head_dim else None
        if rotations is not None and x.stride(-1) == 1 and x.storage_offset() % 2 == 0:
            # Pairs (even, odd) as complex numbers: (e + i o)(c + i s) = (e c - o s) + i (e s + o c),
            # the same rotation in one kernel instead of seven.
            pairs = torch.view_as_complex(x.reshape(tokens, heads, half, 2))  # (T, heads, half)
            rotated_pairs = pairs * rotations[:, None, :]
            return torch.view_as_real(rotated_pairs).reshape(tokens, heads, head_dim)
        c = self._table_rows(cos)[:, None, :]  # (T, 1, half)
        s = self._table_rows(sin)[:, None, :]
        even = x[:, :, 0 : 2 * half : 2]  # (T, heads, half)
        odd = x[:, :, 1 : 2 * half : 2]
        rotated = torch.stack([even * c - odd * s, even * s + odd * c], dim=-1)
        rotated = rotated.reshape(tokens, heads, 2 * half)  # (T, heads, rotary)
        if 2 * half == head_dim:
            return rotated
        return torch.cat([rotated, x[:, :, 2 * half :]], dim=-1)

    def attention(
        self, q: Activations, k: Activations, v: Activations, cache: TorchKVCache, layer: int, start: int
    ) -> torch.Tensor:
        q, k, v = self._tensor(q), self._tensor(k), self._tensor(v)
        tokens, heads, head_dim = q.shape
        kv_heads = k.shape[1]
        group = heads // kv_heads
        if self.static is not None:
            return self._static_attention(q, k, v, cache, layer)
        end = start + tokens
        cache.keys[layer, :, start:end] = k.transpose(0, 1)  # (kv, T, hd)
        cache.values[layer, :, start:end] = v.transpose(0, 1)
        keys = cache.keys[layer, :, :end]  # (kv, S, hd)
        values = cache.values[layer, :, :end]
        queries = q.reshape(tokens, kv_heads, group, head_dim).permute(1, 2, 0, 3)
        queries = queries.reshape(kv_heads, group * tokens, head_dim)  # (kv, g*T, hd)
        scale = float(np.float32(1.0 / np.sqrt(head_dim)))
        if self.exact:
            out = self._exact.causal_attention(queries, keys, values, start, tokens, scale)
            out = out.reshape(kv_heads, group, tokens, head_dim).permute(2, 0, 1, 3)
            return out.reshape(tokens, heads * head_dim)  # (T, dim)
        scores = queries @ keys.transpose(1, 2)  # (kv, g*T, S)
        scores = scores * scale
        if tokens > 1:
            query_pos = torch.arange(start, end, device=self.device).repeat(group)[:, None]
            future = query_pos < torch.arange(end, device=self.device)[None, :]  # (g*T, S)
            scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = weights @ values  # (kv, g*T, hd)
        out = out.reshape(kv_heads, group, tokens, head_dim).permute(2, 0, 1, 3)
        return out.reshape(tokens, heads * head_dim)  # (T, dim)

    def _static_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: TorchKVCache, layer: int
    ) -> torch.Tensor:
        """One token at the device-held position, over the whole cache with later positions
        masked: the same shapes at every step, so the step can be captured as a graph."""
        assert self.static is not None  # narrowing only: attention checked it
        _, heads, head_dim = q.shape
        kv_heads = k.shape[1]
        group = heads // kv_heads
        position = self.static.position  # (1,) int64 on the device
        cache.keys[layer].index_copy_(1, position, k.transpose(0, 1))  # (kv, 1, hd) at position
        cache.values[layer].index_copy_(1, position, v.transpose(0, 1))
        queries = q.reshape(kv_heads, group, head_dim)  # (kv, g, hd)
        scale = float(np.float32(1.0 / np.sqrt(head_dim)))
        future = self.static.slots > position  # (capacity,)
        if self.exact:  # the cache is zeroed in exact mode: masked weights times 0, never NaN
            mask = future[None, :].expand(group, -1)  # (g, capacity)
            out = self._exact.attend(queries, cache.keys[layer], cache.values[layer], mask, scale)
            return out.reshape(1, heads * head_dim)
        scores = queries @ cache.keys[layer].transpose(1, 2)  # (kv, g, capacity)
        scores = scores * scale
        scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = weights @ cache.values[layer]  # (kv, g, hd)
        return out.reshape(1, heads * head_dim)  # (1, dim)

    def swiglu(self, gate: Activations, up: Activations) -> torch.Tensor:
        gate, up = self._tensor(gate), self._tensor(up)
        if self.exact:
            return self._exact.swiglu(gate, up)
        return gate / (1.0 + torch.exp(-gate)) * up  # (T, hidden)

    def new_cache(self, config: LlamaConfig, capacity: int) -> TorchKVCache:
        # Positions are written before they are read, so the memory need not be zeroed,
        # except in exact mode, where a static step multiplies unwritten slots by weight 0.
        shape = (config.n_layers, config.n_kv_heads, capacity, config.head_dim)
        allocate = torch.zeros if self.exact else torch.empty
        return TorchKVCache(
            allocate(shape, dtype=torch.float32, device=self.device),
            allocate(shape, dtype=torch.float32, device=self.device),
        )

    def to_numpy(self, x: Activations) -> np.ndarray:
        if self.static is not None:
            if isinstance(x, np.ndarray) or self.static.logits is not None:
                raise BackendUnavailable("a static (graph) step must leave the device only once")
            self.static.logits = x  # read after the step has run; nothing waits here
            return np.zeros((1, int(x.shape[-1])), dtype=np.float32)
        if isinstance(x, np.ndarray):
            return np.asarray(x, dtype=np.float32)
        tensor: torch.Tensor = x
        return np.array(tensor.detach().to(device="cpu", dtype=torch.float32).numpy())

    # ------------------------------------------------------------------ reporting

    def synchronize(self) -> None:
        """Wait for the device (for timings)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def weight_bytes(self) -> int:
        """Device bytes of the single-record weights uploaded so far."""
        return sum(matrix.nbytes() for _, matrix in self._uploaded.values())


__all__ = [
    "CPU_CHUNK_ELEMENTS",
    "CUDA_CHUNK_ELEMENTS",
    "INSTALL_HINT",
    "KERNEL_QUANTS",
    "K_QUANTS",
    "LEGACY_QUANTS",
    "PRODUCTS",
    "StaticStep",
    "TorchBackend",
    "TorchKVCache",
    "TorchMatrix",
    "TorchTable",
    "dense_host",
    "import_torch",
    "pack_parts",
]
