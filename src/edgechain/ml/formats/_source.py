"""Turn what a caller hands a parser (a path, a memory map, bytes) into one read-only byte array.

Parsers index that array with numpy views, so tensor data are never copied and a file
is never read whole into Python bytes.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from edgechain.ml.errors import ModelFormatError

ModelSource = Union[str, "os.PathLike[str]", mmap.mmap, bytes, bytearray, memoryview, np.ndarray]
"""What a loader accepts: a path, a read-only memory map, or an in-memory buffer."""


@dataclass(frozen=True, slots=True)
class ByteSource:
    """A model file's bytes, mapped or borrowed, never copied."""

    data: np.ndarray
    """Read-only uint8 view of every byte of the file."""
    name: str
    """The path, or ``<memory>``: for messages."""
    path: Path | None
    """The file's path when it came from one."""


def open_source(source: ModelSource, kind: str) -> ByteSource:
    """Map a path read-only, or wrap a buffer; `kind` names the format for messages."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ModelFormatError(f"{kind}: cannot open {path}: {exc.strerror or exc}") from exc
        if path.is_dir():
            raise ModelFormatError(f"{kind}: {path} is a directory, not a model file")
        if size == 0:
            return ByteSource(np.zeros(0, dtype=np.uint8), str(path), path)
        try:
            data = np.memmap(path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise ModelFormatError(f"{kind}: cannot memory-map {path}: {exc}") from exc
        return ByteSource(data.view(np.ndarray), str(path), path)
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 1:
            raise ModelFormatError(f"{kind}: an array source must be one-dimensional uint8")
        view = source.view()
        view.flags.writeable = False
        return ByteSource(view, "<memory>", None)
    if isinstance(source, (mmap.mmap, bytes, bytearray, memoryview)):
        try:
            array = np.frombuffer(source, dtype=np.uint8)
        except (TypeError, ValueError) as exc:
            raise ModelFormatError(f"{kind}: cannot read the buffer: {exc}") from exc
        if array.flags.writeable:
            array = array.view()
            array.flags.writeable = False
        return ByteSource(array, "<memory>", None)
    raise ModelFormatError(f"{kind}: unsupported source type {type(source).__name__}")
