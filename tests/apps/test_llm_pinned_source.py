"""The llm service maps its on-chain model (the node's ``open_file``), never copies it into bytes."""

from __future__ import annotations

import asyncio
import mmap
from pathlib import Path

import blake3
from test_llm import PinnedModel, create_llm, data_of, publish_model_file, write_tiny_model

from edgechain.ml.model_cache import shared_model_cache
from edgechain.testing import ApplicationTester


def _model_source_after_a_query(tmp_path: Path, directory: Path | None, seed: int) -> object:
    path = write_tiny_model(tmp_path, seed=seed)
    content_hash = blake3.blake3(path.read_bytes()).hexdigest()
    shared_model_cache().clear()

    async def scenario(tester: ApplicationTester) -> object:
        manifest_id = await publish_model_file(tester, path, chunk_size=40_000)
        app = await create_llm(tester, PinnedModel("tiny", str(manifest_id), None, None))
        data_of(tester.query(app, 'query { prompt(prompt: "a", maxTokens: 2) }'))
        entry = shared_model_cache().cached(content_hash, exact=True)
        assert entry is not None
        return entry.source

    tester = ApplicationTester.create(
        validators=1, users=1, directory=None if directory is None else str(directory)
    )
    try:
        return asyncio.run(scenario(tester))
    finally:
        tester.close()


def test_the_model_source_is_a_memory_map_of_the_blob_store_file(tmp_path: Path) -> None:
    source = _model_source_after_a_query(tmp_path, tmp_path / "network", seed=31)
    assert isinstance(source, mmap.mmap), f"model source is {type(source).__name__}"


def test_the_model_source_is_a_memory_map_over_key_value_storage_too(tmp_path: Path) -> None:
    source = _model_source_after_a_query(tmp_path, None, seed=32)
    assert isinstance(source, mmap.mmap), f"model source is {type(source).__name__}"
