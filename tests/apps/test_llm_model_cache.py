"""`edgechain.ml.model_cache`: one load per content hash, thread-safe, verified before parsing."""

from __future__ import annotations

import threading
import time
from typing import Any

import blake3
import pytest

from edgechain.ml.errors import ModelFormatError, ModelHashMismatch
from edgechain.ml.model_cache import ModelCache, blake3_hex

CONTENT = b"pretend model bytes" * 100
CONTENT_HASH = blake3.blake3(CONTENT).hexdigest()


class CountingLoader:
    """Stands in for load_model: records every source it is asked to parse."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.sources: list[Any] = []
        self.delay = delay
        self.fail = fail

    def __call__(self, source: Any, backend: str = "numpy", exact: bool = False) -> Any:
        self.sources.append(source)
        time.sleep(self.delay)
        if self.fail:
            raise ModelFormatError("not a model")
        return ("model", bytes(source), backend, exact)


def test_one_load_per_content_hash_even_from_many_threads() -> None:
    loader = CountingLoader(delay=0.05)
    cache = ModelCache(loader)
    opened = []
    results: list[Any] = []

    def open_source() -> bytes:
        opened.append(1)
        return CONTENT

    def worker() -> None:
        results.append(cache.get_or_load(CONTENT_HASH, open_source))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loader.sources) == 1 and len(opened) == 1
    assert all(result is results[0] for result in results)
    assert cache.loads == 1 and len(cache) == 1
    entry = cache.cached(CONTENT_HASH.upper())
    assert entry is not None and entry.size == len(CONTENT)


def test_a_mismatch_names_both_hashes_parses_nothing_and_caches_nothing() -> None:
    loader = CountingLoader()
    cache = ModelCache(loader)
    tampered = CONTENT[:-1] + b"!"
    with pytest.raises(ModelHashMismatch) as caught:
        cache.get_or_load_verified(CONTENT_HASH, lambda: tampered, what="model at http://x/m")
    message = str(caught.value)
    assert CONTENT_HASH in message and blake3.blake3(tampered).hexdigest() in message
    assert "http://x/m" in message
    assert loader.sources == [] and cache.cached(CONTENT_HASH) is None
    model = cache.get_or_load_verified(CONTENT_HASH, lambda: CONTENT)
    assert model[1] == CONTENT and len(loader.sources) == 1


def test_a_failed_load_is_not_cached() -> None:
    loader = CountingLoader(fail=True)
    cache = ModelCache(loader)
    for _ in range(2):
        with pytest.raises(ModelFormatError):
            cache.get_or_load(CONTENT_HASH, lambda: CONTENT)
    assert len(loader.sources) == 2 and len(cache) == 0


def test_backends_and_exact_mode_are_cached_apart_and_hashes_are_validated() -> None:
    cache = ModelCache(CountingLoader())
    assert cache.get_or_load(CONTENT_HASH, lambda: CONTENT)[2] == "numpy"
    assert cache.get_or_load(CONTENT_HASH, lambda: CONTENT, backend="torch")[2] == "torch"
    assert cache.get_or_load(CONTENT_HASH, lambda: CONTENT, exact=True)[3] is True
    assert cache.loads == 3
    assert cache.cached(CONTENT_HASH, exact=True) is not None
    with pytest.raises(ValueError, match="64 hexadecimal"):
        cache.get_or_load("abc", lambda: CONTENT)


def test_blake3_hex_of_buffers_and_paths(tmp_path: Any) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(CONTENT)
    assert blake3_hex(CONTENT) == blake3_hex(bytearray(CONTENT)) == CONTENT_HASH
    assert (
        blake3_hex(memoryview(CONTENT)) == blake3_hex(str(path)) == blake3_hex(path) == CONTENT_HASH
    )
