"""The llm application with the real SmolLM2-135M-Instruct published as blobs (slow)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import blake3
import pytest

from edgechain.ml import SamplingParams, load_model
from edgechain.ml.model_cache import shared_model_cache
from edgechain.testing import ApplicationTester

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps"))
from showcase_demo import smollm2_path
from test_llm import PinnedModel, create_llm, data_of, publish_model_file

pytestmark = pytest.mark.slow


def test_smollm2_from_the_blob_store_tells_the_same_story_as_the_file() -> None:
    try:
        path = smollm2_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    question = [{"role": "user", "content": "Tell me a story about a brave snail."}]
    local = load_model(path, exact=True)
    expected = "".join(
        token.text
        for token in local.chat(
            question, 40, SamplingParams(temperature=0.7, top_p=0.95), bytes(32)
        )
    )
    content_hash = blake3.blake3(path.read_bytes(), max_threads=blake3.blake3.AUTO).hexdigest()
    shared_model_cache().clear()
    loads_before = shared_model_cache().loads
    tester = ApplicationTester.create(validators=4, users=1, directory=None)

    async def scenario() -> None:
        manifest_id = await publish_model_file(tester, path, chunk_size=1_000_000)
        app = await create_llm(tester, PinnedModel("SmolLM2", str(manifest_id), None, content_hash))
        query = (
            'query { chat(messages: [{role: "user", content: "Tell me a story about a brave snail."}],'
            f' maxTokens: 40, temperature: 0.7, seed: "{"00" * 32}") }}'
        )
        story = data_of(tester.query(app, query))["chat"]
        assert story == expected
        assert len(story.split()) >= 10
        card = data_of(tester.query(app, "query { model { contentHash sizeBytes loaded } }"))
        assert card["model"] == {
            "contentHash": content_hash,
            "sizeBytes": float(path.stat().st_size),
            "loaded": True,
        }
        assert shared_model_cache().loads == loads_before + 1
        _, certificate = await tester.mutate(
            app, 'mutation { attestPrompt(prompt: "The snail", maxTokens: 8) { outputHash } }'
        )
        assert certificate is not None
        verdict = data_of(tester.query(app, "query { verifyAttestation(index: 0) { matches } }"))
        assert verdict["verifyAttestation"]["matches"] is True
        assert shared_model_cache().loads == loads_before + 1, "one load for every query"

    try:
        asyncio.run(scenario())
    finally:
        tester.close()
