"""Parse a llama2.c checkpoint into a `ModelFile` under GGUF tensor names and llama.* keys.

Two layouts, both little-endian:

- legacy (run.c, candle's ``llama2_c``): seven int32 (dim, hidden_dim, n_layers, n_heads,
  n_kv_heads, vocab_size, seq_len; a negative vocab_size means an unshared classifier),
  then float32 weights: token embedding, attention norms, wq, wk, wv, wo, ffn norms,
  w1, w2, w3, final norm, the RoPE cos/sin tables (seq_len x head_size/2 each, skipped:
  they are recomputed from theta 10000), and the classifier when unshared;
- versioned (export.py): uint32 magic 0x616b3432 ("ak42"), int32 version, the same seven
  int32 (vocab always positive), a uint8 shared-classifier flag, (version 2: an int32
  group size), zero padding to 256 bytes. Version 1 then holds float32 norms (attention,
  ffn, final) and matrices (embedding, wq, wk, wv, wo, w1, w2, w3, classifier). Version 2
  holds the float32 norms, then each matrix as int8 values followed by its float32
  per-group scales.

Version 2's grouping (float32 scale per group of up to 64) matches no ggml type, so its
matrices are dequantized to float32 at load (q * scale, exactly as export.py defines
them): the only copy this module makes. Every other tensor is a view into the mapping.
The file size must be exactly what the header implies.

llama2.c weights are in the interleaved-pair RoPE layout GGUF uses, so they map onto
GGUF names unchanged; llama2.c fixes rope theta 10000 and RMSNorm eps 1e-5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgechain.ml.errors import ModelFormatError
from edgechain.ml.formats._source import ModelSource, open_source
from edgechain.ml.weights import ModelFile, TensorRecord, TensorType

LLAMA2C_MAGIC = 0x616B3432
VERSIONED_HEADER_BYTES = 256
MAX_DIM = 1 << 16
MAX_LAYERS = 1 << 10
MAX_VOCAB = 1 << 22
MAX_SEQ_LEN = 1 << 22


def _check_header(name: str, fields: tuple[int, ...], legacy: bool) -> None:
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = fields
    where = f"llama2.c {name}"
    limits = {
        "dim": (dim, MAX_DIM),
        "hidden_dim": (hidden_dim, 4 * MAX_DIM),
        "n_layers": (n_layers, MAX_LAYERS),
        "n_heads": (n_heads, MAX_DIM),
        "n_kv_heads": (n_kv_heads, MAX_DIM),
        "vocab_size": (abs(vocab_size) if legacy else vocab_size, MAX_VOCAB),
        "seq_len": (seq_len, MAX_SEQ_LEN),
    }
    for field_name, (value, limit) in limits.items():
        if not 0 < value <= limit:
            raise ModelFormatError(f"{where}: header {field_name} = {value} is outside 1..{limit}")
    if dim % n_heads or (dim // n_heads) % 2:
        raise ModelFormatError(
            f"{where}: dim {dim} is not n_heads {n_heads} times an even head size"
        )
    if n_heads % n_kv_heads:
        raise ModelFormatError(
            f"{where}: n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}"
        )


def _metadata(fields: tuple[int, ...]) -> dict[str, Any]:
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = fields
    return {
        "general.architecture": "llama",
        "general.name": "llama2.c",
        "llama.context_length": seq_len,
        "llama.embedding_length": dim,
        "llama.feed_forward_length": hidden_dim,
        "llama.block_count": n_layers,
        "llama.attention.head_count": n_heads,
        "llama.attention.head_count_kv": n_kv_heads,
        "llama.rope.dimension_count": dim // n_heads,
        "llama.rope.freq_base": 10000.0,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.vocab_size": abs(vocab_size),
    }


def _layer_names(n_layers: int, suffix: str) -> list[str]:
    return [f"blk.{i}.{suffix}" for i in range(n_layers)]


def read_llama2c(source: ModelSource) -> ModelFile:
    """Parse a legacy or versioned (v1 float32, v2 Q8_0) llama2.c checkpoint."""
    byte_source = open_source(source, "llama2.c")
    data = byte_source.data
    name = byte_source.name
    if data.size < 28:
        raise ModelFormatError(f"llama2.c {name}: file too short ({data.size} bytes) for a header")
    magic = int(data[:4].view("<u4")[0])
    if magic == LLAMA2C_MAGIC:
        if data.size < VERSIONED_HEADER_BYTES:
            raise ModelFormatError(f"llama2.c {name}: truncated 256-byte header")
        version = int(data[4:8].view("<i4")[0])
        if version not in (1, 2):
            raise ModelFormatError(f"llama2.c {name}: unsupported version {version} (1 or 2)")
        fields = tuple(int(v) for v in data[8:36].view("<i4"))
        shared = int(data[36])
        if shared not in (0, 1):
            raise ModelFormatError(f"llama2.c {name}: shared-classifier flag {shared} is not 0/1")
        group_size = int(data[37:41].view("<i4")[0]) if version == 2 else 0
        header_bytes = VERSIONED_HEADER_BYTES
        legacy = False
    else:
        version = 0
        fields = tuple(int(v) for v in data[:28].view("<i4"))
        shared = int(fields[5] > 0)
        group_size = 0
        header_bytes = 28
        legacy = True
    _check_header(name, fields, legacy)
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = fields
    vocab_size = abs(vocab_size)
    head_size = dim // n_heads
    kv_dim = head_size * n_kv_heads

    norms: list[tuple[str, tuple[int, ...]]] = [
        *[(n, (dim,)) for n in _layer_names(n_layers, "attn_norm.weight")],
        *[(n, (dim,)) for n in _layer_names(n_layers, "ffn_norm.weight")],
        ("output_norm.weight", (dim,)),
    ]
    matrices: list[tuple[str, tuple[int, ...]]] = [
        ("token_embd.weight", (vocab_size, dim)),
        *[(n, (dim, dim)) for n in _layer_names(n_layers, "attn_q.weight")],
        *[(n, (kv_dim, dim)) for n in _layer_names(n_layers, "attn_k.weight")],
        *[(n, (kv_dim, dim)) for n in _layer_names(n_layers, "attn_v.weight")],
        *[(n, (dim, dim)) for n in _layer_names(n_layers, "attn_output.weight")],
        *[(n, (hidden_dim, dim)) for n in _layer_names(n_layers, "ffn_gate.weight")],
        *[(n, (dim, hidden_dim)) for n in _layer_names(n_layers, "ffn_down.weight")],
        *[(n, (hidden_dim, dim)) for n in _layer_names(n_layers, "ffn_up.weight")],
    ]
    classifier: list[tuple[str, tuple[int, ...]]] = (
        [] if shared else [("output.weight", (vocab_size, dim))]
    )
    if legacy:
        layout: list[tuple[str | None, tuple[int, ...]]] = [
            matrices[0],
            *norms[:n_layers],
            *matrices[1 : 1 + 4 * n_layers],
            *norms[n_layers : 2 * n_layers],
            *matrices[1 + 4 * n_layers :],
            norms[-1],
            (None, (seq_len, head_size // 2)),
            (None, (seq_len, head_size // 2)),
            *classifier,
        ]
    else:
        layout = [*norms, *matrices, *classifier]

    if version == 2:
        if group_size <= 0 or group_size > MAX_DIM:
            raise ModelFormatError(f"llama2.c {name}: bad quantization group size {group_size}")
        expected = header_bytes + 4 * sum(s[0] for _, s in norms)
        for tensor_name, shape in [*matrices, *classifier]:
            count = shape[0] * shape[1]
            if count % group_size:
                raise ModelFormatError(
                    f"llama2.c {name}: {tensor_name} has {count} values, not a multiple of "
                    f"the group size {group_size}"
                )
            expected += count + 4 * (count // group_size)
    else:
        expected = header_bytes + 4 * sum(math.prod(s) for _, s in layout)
    if data.size != expected:
        raise ModelFormatError(
            f"llama2.c {name}: file is {data.size} bytes, the header implies {expected} "
            f"({'truncated' if data.size < expected else 'trailing bytes'})"
        )

    tensors: dict[str, TensorRecord] = {}
    offset = header_bytes
    if version == 2:
        for tensor_name, shape in norms:
            count = shape[0]
            array = data[offset : offset + 4 * count].view("<f4")
            tensors[tensor_name] = TensorRecord(tensor_name, shape, TensorType.F32, array)
            offset += 4 * count
        for tensor_name, shape in [*matrices, *classifier]:
            count = shape[0] * shape[1]
            values = data[offset : offset + count].view(np.int8)
            offset += count
            scales = data[offset : offset + 4 * (count // group_size)].view("<f4")
            offset += 4 * (count // group_size)
            # A corrupt scale may overflow to inf: that is validate_tensors' finding to
            # report (naming the tensor), not a numpy warning here.
            with np.errstate(over="ignore", invalid="ignore"):
                dequantized = (
                    values.reshape(-1, group_size).astype(np.float32) * scales[:, None]
                ).reshape(shape)
            dequantized.flags.writeable = False
            tensors[tensor_name] = TensorRecord(tensor_name, shape, TensorType.F32, dequantized)
    else:
        for slot_name, shape in layout:
            count = math.prod(shape)
            if slot_name is not None:
                array = data[offset : offset + 4 * count].view("<f4").reshape(shape)
                tensors[slot_name] = TensorRecord(slot_name, shape, TensorType.F32, array)
            offset += 4 * count
    return ModelFile(
        format="llama2c",
        metadata=_metadata(fields),
        tensors=tensors,
        source=name,
        extras={"version": version, "shared_classifier": bool(shared), "group_size": group_size},
    )
