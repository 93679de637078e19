"""Keep loaded models once per content hash in the process, so a service never reloads per query.

Application services are created afresh for every query; the model they run must not be.
`ModelCache.get_or_load(content_hash_hex, open_source)` returns the model already loaded
for that content hash (and backend), or opens the source once and loads it; concurrent
callers asking for the same hash wait for that one load. A load that fails caches nothing.

`ModelCache.get_or_load_verified` is for bytes whose hash was pinned by someone else (a URL
plus its BLAKE3): the bytes are hashed *before* anything parses them, and on a mismatch
`ModelHashMismatch` names both hashes and nothing is cached.

    model = shared_model_cache().get_or_load(manifest.file_hash.hex(), lambda: store.open_file(m))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import blake3

from edgechain.ml.api import EmbeddingModel, LanguageModel, load_model
from edgechain.ml.errors import ModelHashMismatch
from edgechain.ml.formats import ModelSource

Model = LanguageModel | EmbeddingModel
Loader = Callable[..., Model]


@dataclass(frozen=True, slots=True)
class CachedModel:
    """One loaded model and the buffer it was loaded from (kept alive with it)."""

    model: Model
    """The loaded model."""
    source: Any
    """The path, memory map or bytes the model's tensors may still view."""
    content_hash_hex: str
    """BLAKE3 of the model file, lowercase hex."""
    size: int | None
    """Size of the model file in bytes, where the source told it."""


def blake3_hex(data: ModelSource) -> str:
    """The plain BLAKE3 (``b3sum``) of a buffer, lowercase hex (paths are read in chunks)."""
    hasher = blake3.blake3()
    if isinstance(data, (bytes, bytearray, memoryview)):
        hasher.update(data)
    elif isinstance(data, str) or hasattr(data, "__fspath__"):
        hasher.update_mmap(data)
    else:
        with memoryview(data) as view:  # type: ignore[arg-type]
            hasher.update(view.cast("B"))
    return str(hasher.hexdigest())


def _normalise_hash(content_hash_hex: str) -> str:
    text = content_hash_hex.strip().lower()
    if len(text) != 64 or any(character not in "0123456789abcdef" for character in text):
        raise ValueError(
            f"a content hash is 64 hexadecimal digits (BLAKE3), got {content_hash_hex!r}"
        )
    return text


def _size_of(source: Any) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None


class ModelCache:
    """Loaded models by (content hash, backend, exact); thread-safe; one load per key at a time.

    ``exact=True`` loads with the engine's exact prefill (bit-identical to token-by-token
    evaluation, independent of the BLAS library): what content that must read the same for
    everyone (NFTs, attestations) asks for."""

    def __init__(self, loader: Loader = load_model) -> None:
        self._loader = loader
        self._entries: dict[tuple[str, str, bool], CachedModel] = {}
        self._key_locks: dict[tuple[str, str, bool], threading.Lock] = {}
        self._lock = threading.Lock()
        self.loads = 0
        """How many models this cache has loaded (tests check that queries reuse them)."""

    def get_or_load(
        self,
        content_hash_hex: str,
        open_source: Callable[[], ModelSource],
        backend: str = "numpy",
        exact: bool = False,
    ) -> Model:
        """The model whose file hashes to ``content_hash_hex``, loading it from
        ``open_source()`` only when it is not loaded yet. The caller vouches for the hash
        (e.g. a blob store that verified the file); see `get_or_load_verified` otherwise."""
        return self.get_entry(
            content_hash_hex, open_source, backend, verify=False, exact=exact
        ).model

    def get_or_load_verified(
        self,
        content_hash_hex: str,
        open_source: Callable[[], ModelSource],
        backend: str = "numpy",
        what: str = "model",
        exact: bool = False,
    ) -> Model:
        """As `get_or_load`, but hash the opened bytes first and raise `ModelHashMismatch`
        (naming both hashes, caching nothing) unless they hash to ``content_hash_hex``."""
        return self.get_entry(
            content_hash_hex, open_source, backend, verify=True, what=what, exact=exact
        ).model

    def get_entry(
        self,
        content_hash_hex: str,
        open_source: Callable[[], ModelSource],
        backend: str = "numpy",
        verify: bool = False,
        what: str = "model",
        exact: bool = False,
    ) -> CachedModel:
        """The cached entry (model, source, hash, size), loading it if needed."""
        key = (_normalise_hash(content_hash_hex), backend, exact)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return entry
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None:
                return entry
            source = open_source()
            if verify:
                actual = blake3_hex(source)
                if actual != key[0]:
                    raise ModelHashMismatch(what, key[0], actual)
            model = self._loader(source, backend=backend, exact=exact)
            entry = CachedModel(model, source, key[0], _size_of(source))
            with self._lock:
                self._entries[key] = entry
                self.loads += 1
            return entry

    def cached(
        self, content_hash_hex: str, backend: str = "numpy", exact: bool = False
    ) -> CachedModel | None:
        """The entry for this hash if it is loaded, else None (never loads)."""
        with self._lock:
            return self._entries.get((_normalise_hash(content_hash_hex), backend, exact))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every model (their buffers are released when nothing else holds them)."""
        with self._lock:
            self._entries.clear()
            self._key_locks.clear()


_shared = ModelCache()


def shared_model_cache() -> ModelCache:
    """The process-wide cache that application services use."""
    return _shared


__all__ = ["CachedModel", "ModelCache", "blake3_hex", "shared_model_cache"]
