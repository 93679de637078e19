"""The node service streams a service's ``handle_stream`` over HTTP and serves ``web/``; a
generation runs in a worker thread, so other requests are answered while it goes on."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rpc_helpers import network_over_http, remote_client

from edgechain.base.blobs import MediaType, split_into_blobs
from edgechain.base.encoding import encode
from edgechain.core.applications_client import (
    application_abi,
    create_application,
    encode_json,
    pack,
    publish_module,
)
from edgechain.core.network import LocalNetwork
from edgechain.core.wallet import Wallet
from edgechain.ml import LanguageModel
from edgechain.ml.model_cache import shared_model_cache
from edgechain.node.service import NodeService, build_node_app, make_node_server
from edgechain.storage.db_storage import DbStorage
from edgechain.views.memory_store import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ml"))
from tiny_models import make_tiny_llama, write_gguf  # noqa: E402

LLM = ROOT / "apps" / "llm"
COUNTER = ROOT / "apps" / "counter"
TOKEN_DELAY = 0.15
"""Seconds each generated token takes in these tests (a stand-in for a real model's pace)."""


@contextlib.asynccontextmanager
async def serve(node: NodeService, web_directory: Path) -> AsyncIterator[str]:
    server = make_node_server(node, "127.0.0.1", 0, web_directory)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def slow_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every generated token takes TOKEN_DELAY seconds (the tokens themselves are unchanged)."""
    original = LanguageModel.generate

    def generate(self: LanguageModel, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for token in original(self, *args, **kwargs):
            time.sleep(TOKEN_DELAY)
            yield token

    monkeypatch.setattr(LanguageModel, "generate", generate)


def test_streams_and_pages_while_a_generation_runs(tmp_path: Path, slow_generation: None) -> None:
    model_path = write_gguf(
        tmp_path / "tiny.gguf", make_tiny_llama(seed=41), "Q8_0", tokenizer="gpt2"
    )
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<h1>edge pages</h1>")
    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    chain_id = network.user_chain_ids[0]
    chain = chain_id.hash.hex()
    shared_model_cache().clear()

    async def scenario() -> None:
        async with network_over_http(network) as nodes:
            creator = remote_client(network, nodes, 0)
            with split_into_blobs(
                model_path.read_bytes(), chunk_size=40_000, media_type=MediaType.GGUF
            ) as split:
                await creator.publish_split_file(split)
                manifest_id = split.manifest_id
            abi = application_abi(LLM)
            module_id, _ = await publish_module(creator, pack(LLM))
            pinned = abi.Parameters("tiny", str(manifest_id), None, None)
            llm, _ = await create_application(
                creator, module_id, encode(pinned, abi.Parameters), encode(None, abi.InstantiationArgument)
            )  # fmt: skip
            counter_abi = application_abi(COUNTER)
            counter_module, _ = await publish_module(creator, pack(COUNTER))
            counter, _ = await create_application(
                creator, counter_module, encode_json(None, counter_abi.Parameters, "parameters"),
                encode_json(5, counter_abi.InstantiationArgument, "argument"),
            )  # fmt: skip
            wallet = Wallet.create(tmp_path / "wallet.json", network.genesis)
            wallet.add_chain(chain_id, network.user_keys[0])
            node = NodeService(wallet, nodes, DbStorage(MemoryStore()))
            async with serve(node, web) as base_url:
                await exercise(base_url, str(llm), str(counter))

    async def exercise(base_url: str, llm: str, counter: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            app_path = f"/chains/{chain}/applications/{llm}"
            request = {"prompt": "Once", "maxTokens": 12, "temperature": 0.8, "seed": "fox"}
            # The whole text, by GraphQL (this also loads the model, once, for the process).
            graphql = await http.post(
                app_path,
                json={"query": 'query { prompt(prompt: "Once", maxTokens: 12, temperature: 0.8, seed: "fox") }'},
            )  # fmt: skip
            expected = graphql.json()["data"]["prompt"]
            assert expected

            pieces: list[str] = []
            answered_during_stream: list[float] = []
            async with http.stream("POST", f"{app_path}/stream", json=request) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/plain")
                chunks = response.aiter_text()
                pieces.append(await chunks.__anext__())
                started = time.monotonic()
                # While the generation goes on: pages, the chain, another app, this app's card.
                page = await http.get("/web/index.html")
                assert page.status_code == 200 and "edge pages" in page.text
                chains = await http.post("/", json={"query": "{ chains { chainId } }"})
                assert chains.json()["data"]["chains"][0]["chainId"] == chain
                value = await http.post(
                    f"/chains/{chain}/applications/{counter}", json={"query": "query { value }"}
                )
                assert value.json()["data"] == {"value": 5}
                card = await http.post(app_path, json={"query": "query { model { loaded } }"})
                assert card.json()["data"]["model"]["loaded"] is True
                answered_during_stream.append(time.monotonic() - started)
                async for piece in chunks:
                    pieces.append(piece)
                finished = time.monotonic() - started
            assert "".join(pieces) == expected, "the stream is the same generation"
            assert answered_during_stream[0] < finished - TOKEN_DELAY, (
                f"other requests took {answered_during_stream[0]:.2f} s, the stream ended at"
                f" {finished:.2f} s: they waited for the generation"
            )

            # A GraphQL generation (holding the state lock) does not block the event loop.
            query = asyncio.ensure_future(
                http.post(app_path, json={"query": 'query { prompt(prompt: "Hi", maxTokens: 12) }'})
            )
            await asyncio.sleep(3 * TOKEN_DELAY)
            page_started = time.monotonic()
            page = await http.get("/web/index.html")
            page_time = time.monotonic() - page_started
            assert page.status_code == 200 and not query.done()
            assert page_time < TOKEN_DELAY * 4
            assert "errors" not in (await query).json()

            # Requests the stream route refuses, with reasons.
            no_prompt = await http.post(f"{app_path}/stream", json={"maxTokens": 3})
            assert no_prompt.status_code == 422 and "needs a prompt" in no_prompt.text
            not_streaming = await http.post(
                f"/chains/{chain}/applications/{counter}/stream", json={}
            )
            assert not_streaming.status_code == 422 and "handle_stream" in not_streaming.text
            malformed = await http.post(f"{app_path}/stream", content=b"[1, 2")
            assert malformed.status_code == 400

    asyncio.run(scenario())


def test_web_pages_are_served_only_from_an_existing_directory(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    wallet = Wallet.create(tmp_path / "wallet.json", network.genesis)
    node = NodeService(wallet, [], DbStorage(MemoryStore()))
    web = tmp_path / "pages"
    web.mkdir()
    (web / "gallery.html").write_text("gallery")
    with TestClient(build_node_app(node, web)) as client:
        assert client.get("/web/gallery.html").text == "gallery"
        assert client.get("/web/missing.html").status_code == 404
    # Default: the repository's web/ (this checkout has one).
    with TestClient(build_node_app(node)) as client:
        assert client.get("/web/gallery.html").status_code == 200
