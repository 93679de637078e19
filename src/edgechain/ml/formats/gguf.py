"""Parse a GGUF file (v2/v3, little-endian) into a `ModelFile` of memory-mapped tensor views.

Why our own parser and not `gguf.GGUFReader`: the reader builds a numpy view per field
part (2.7 s for SmolLM2's 98k vocabulary strings, against a 1 s load target), and on a
lying header it raises whatever numpy raises (or loops over a 2^60 count). Here every
count, length and offset is checked against the bytes that remain before it is used, so
a malformed file fails with a `ModelFormatError` naming the field, and no allocation is
ever sized by an unchecked header field. We use the `gguf` package's constants (magic,
value types, ggml type numbers, block sizes), and its writer in the tests.

Metadata values: integers, floats, bools and strings as Python values; arrays of numbers
as read-only numpy arrays; arrays of strings as lists of str. Arrays of arrays are
refused, as llama.cpp refuses them.
Tensor data are views into the mapping, shaped as `TensorRecord` documents.
"""

from __future__ import annotations

import itertools
from typing import Any

import gguf
import numpy as np

from edgechain.ml.errors import ModelFormatError, UnsupportedTensorType
from edgechain.ml.formats._source import ModelSource, open_source
from edgechain.ml.weights import BLOCK_LAYOUT, ModelFile, TensorRecord, TensorType

GGUF_MAX_DIMS = 4
SUPPORTED_VERSIONS = (2, 3)

_SCALAR_DTYPES: dict[int, np.dtype[Any]] = {
    gguf.GGUFValueType.UINT8: np.dtype("<u1"),
    gguf.GGUFValueType.INT8: np.dtype("<i1"),
    gguf.GGUFValueType.UINT16: np.dtype("<u2"),
    gguf.GGUFValueType.INT16: np.dtype("<i2"),
    gguf.GGUFValueType.UINT32: np.dtype("<u4"),
    gguf.GGUFValueType.INT32: np.dtype("<i4"),
    gguf.GGUFValueType.FLOAT32: np.dtype("<f4"),
    gguf.GGUFValueType.BOOL: np.dtype("<u1"),
    gguf.GGUFValueType.UINT64: np.dtype("<u8"),
    gguf.GGUFValueType.INT64: np.dtype("<i8"),
    gguf.GGUFValueType.FLOAT64: np.dtype("<f8"),
}

_ROW_DTYPES: dict[TensorType, np.dtype[Any]] = {
    TensorType.F32: np.dtype("<f4"),
    TensorType.F16: np.dtype("<f2"),
    TensorType.BF16: np.dtype("<u2"),
}


class _Cursor:
    """Reads little-endian fields from the byte array; every read is bounds-checked."""

    def __init__(self, data: np.ndarray, name: str) -> None:
        self.data = data
        self.name = name
        self.offset = 0

    def fail(self, what: str) -> ModelFormatError:
        return ModelFormatError(f"GGUF {self.name}: {what} (at byte {self.offset})")

    def remaining(self) -> int:
        return int(self.data.size) - self.offset

    def take(self, count: int, what: str) -> np.ndarray:
        if count < 0 or count > self.remaining():
            raise self.fail(f"truncated: {what} needs {count} bytes, {self.remaining()} remain")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def scalar(self, dtype: np.dtype[Any], what: str) -> Any:
        return self.take(dtype.itemsize, what).view(dtype)[0].item()

    def u32(self, what: str) -> int:
        return int(self.scalar(np.dtype("<u4"), what))

    def u64(self, what: str) -> int:
        return int(self.scalar(np.dtype("<u8"), what))

    def string(self, what: str) -> str:
        length = self.u64(f"{what} length")
        raw = self.take(length, what)
        try:
            return raw.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not valid UTF-8") from exc


def _value_type(cursor: _Cursor, what: str) -> int:
    code = cursor.u32(f"{what} type")
    if code not in _SCALAR_DTYPES and code not in (
        gguf.GGUFValueType.STRING,
        gguf.GGUFValueType.ARRAY,
    ):
        raise cursor.fail(f"{what} has unknown value type {code}")
    return code


def _read_value(cursor: _Cursor, code: int, key: str) -> Any:
    if code in _SCALAR_DTYPES:
        value = cursor.scalar(_SCALAR_DTYPES[code], f"value of {key!r}")
        return bool(value) if code == gguf.GGUFValueType.BOOL else value
    if code == gguf.GGUFValueType.STRING:
        return cursor.string(f"string value of {key!r}")
    element_code = _value_type(cursor, f"element of {key!r}")
    if element_code == gguf.GGUFValueType.ARRAY:
        # llama.cpp's reader refuses them too; and a file of many tiny nested arrays
        # would turn each 12 bytes into a Python object several times that size.
        raise cursor.fail(f"array {key!r} holds arrays, which GGUF readers do not accept")
    count = cursor.u64(f"array length of {key!r}")
    if element_code in _SCALAR_DTYPES:
        dtype = _SCALAR_DTYPES[element_code]
        if count > cursor.remaining() // dtype.itemsize:
            raise cursor.fail(f"array {key!r} declares {count} elements past the end of the file")
        array = cursor.take(count * dtype.itemsize, f"array {key!r}").view(dtype).copy()
        array.flags.writeable = False
        return array.astype(bool) if element_code == gguf.GGUFValueType.BOOL else array
    if count > cursor.remaining() // 8:
        raise cursor.fail(f"array {key!r} declares {count} elements past the end of the file")
    return _read_string_array(cursor, count, key)


def _read_string_array(cursor: _Cursor, count: int, key: str) -> list[str]:
    """Many strings fast: lengths are read from the raw bytes with int.from_bytes."""
    raw = cursor.data
    buffer = memoryview(raw.data)
    offset = cursor.offset
    end = int(raw.size)
    strings: list[str] = []
    append = strings.append
    from_bytes = int.from_bytes
    for index in range(count):
        if offset + 8 > end:
            cursor.offset = offset
            raise cursor.fail(f"truncated: string {index} of array {key!r}")
        length = from_bytes(buffer[offset : offset + 8], "little")
        offset += 8
        if length > end - offset:
            cursor.offset = offset
            raise cursor.fail(f"string {index} of array {key!r} runs past the end of the file")
        try:
            append(str(buffer[offset : offset + length], "utf-8"))
        except UnicodeDecodeError as exc:
            cursor.offset = offset
            raise cursor.fail(f"string {index} of array {key!r} is not valid UTF-8") from exc
        offset += length
    cursor.offset = offset
    return strings


def _tensor_type(code: int, name: str, cursor: _Cursor) -> TensorType:
    try:
        return TensorType(code)
    except ValueError:
        pass
    try:
        ggml_name = gguf.GGMLQuantizationType(code).name
    except ValueError:
        raise cursor.fail(f"tensor {name!r} has unknown ggml type {code}") from None
    raise UnsupportedTensorType(
        f"GGUF {cursor.name}: tensor {name!r} has type {ggml_name}, which we do not read "
        f"(supported: {', '.join(t.name for t in TensorType)})"
    )


def read_gguf(source: ModelSource) -> ModelFile:
    """Parse a GGUF file; tensors are views into the (memory-mapped) bytes."""
    byte_source = open_source(source, "GGUF")
    cursor = _Cursor(byte_source.data, byte_source.name)
    if cursor.remaining() < 4:
        raise cursor.fail("file too short for the GGUF magic")
    magic = cursor.u32("magic")
    if magic != gguf.GGUF_MAGIC:
        raise ModelFormatError(f"GGUF {cursor.name}: bad magic {magic:#010x} (expected 'GGUF')")
    version = cursor.u32("version")
    if version not in SUPPORTED_VERSIONS:
        raise cursor.fail(f"unsupported GGUF version {version} (we read 2 and 3)")
    tensor_count = cursor.u64("tensor count")
    kv_count = cursor.u64("key-value count")
    # Smallest possible entries: a key-value is 8 (key length) + 4 (type) + 1 bytes; a
    # tensor info is 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
    if kv_count > cursor.remaining() // 13:
        raise cursor.fail(f"key-value count {kv_count} cannot fit in the file")
    if tensor_count > cursor.remaining() // 24:
        raise cursor.fail(f"tensor count {tensor_count} cannot fit in the file")

    metadata: dict[str, Any] = {}
    for index in range(kv_count):
        key = cursor.string(f"key {index}")
        if key in metadata:
            raise cursor.fail(f"duplicate key {key!r}")
        code = _value_type(cursor, f"value of {key!r}")
        metadata[key] = _read_value(cursor, code, key)

    alignment = metadata.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise cursor.fail(f"general.alignment {alignment!r} is not a positive power of two")

    infos: list[tuple[str, tuple[int, ...], TensorType, int]] = []
    names: set[str] = set()
    for index in range(tensor_count):
        name = cursor.string(f"name of tensor {index}")
        if name in names:
            raise cursor.fail(f"duplicate tensor name {name!r}")
        names.add(name)
        n_dims = cursor.u32(f"dimension count of {name!r}")
        if not 1 <= n_dims <= GGUF_MAX_DIMS:
            raise cursor.fail(f"tensor {name!r} has {n_dims} dimensions (1 to 4 allowed)")
        ggml_dims = [cursor.u64(f"dimension {d} of {name!r}") for d in range(n_dims)]
        tensor_type = _tensor_type(cursor.u32(f"type of {name!r}"), name, cursor)
        offset = cursor.u64(f"data offset of {name!r}")
        if any(dim == 0 for dim in ggml_dims):
            raise cursor.fail(f"tensor {name!r} has an empty dimension {ggml_dims}")
        block_elements, _ = BLOCK_LAYOUT[tensor_type]
        if ggml_dims[0] % block_elements:
            raise cursor.fail(
                f"tensor {name!r} of type {tensor_type.name}: row length {ggml_dims[0]} "
                f"is not a multiple of the block size {block_elements}"
            )
        if offset % alignment:
            raise cursor.fail(f"tensor {name!r} data offset {offset} is not {alignment}-aligned")
        infos.append((name, tuple(reversed(ggml_dims)), tensor_type, offset))

    data_start = -(-cursor.offset // alignment) * alignment
    file_size = int(byte_source.data.size)
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, TensorRecord] = {}
    for name, shape, tensor_type, offset in infos:
        block_elements, block_bytes = BLOCK_LAYOUT[tensor_type]
        elements = 1
        for dim in shape:
            elements *= dim
        nbytes = elements // block_elements * block_bytes
        begin = data_start + offset
        if begin > file_size or nbytes > file_size - begin:
            raise ModelFormatError(
                f"GGUF {cursor.name}: tensor {name!r} {list(shape)} {tensor_type.name} needs "
                f"bytes {begin}..{begin + nbytes}, past the end of the file ({file_size} bytes)"
            )
        spans.append((begin, begin + nbytes, name))
        raw = byte_source.data[begin : begin + nbytes]
        if tensor_type in _ROW_DTYPES:
            array = raw.view(_ROW_DTYPES[tensor_type]).reshape(shape)
        else:
            rows = elements // shape[-1]
            array = raw.reshape(rows, nbytes // rows)
        tensors[name] = TensorRecord(name, shape, tensor_type, array)
    spans.sort()
    for (_, previous_end, previous), (begin, _, name) in itertools.pairwise(spans):
        if begin < previous_end:
            raise ModelFormatError(f"GGUF {cursor.name}: tensors {previous!r} and {name!r} overlap")
    return ModelFile(
        format="gguf",
        metadata=metadata,
        tensors=tensors,
        source=byte_source.name,
        extras={"version": version, "alignment": alignment, "data_offset": data_start},
    )
