"""The showcase's HTTP surface (pages, GraphQL, streams, /ws) over a local network with a tiny model."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ml"))
sys.path.insert(0, str(ROOT / "apps"))
from showcase_demo import BackgroundShowcase, ShowcaseResult  # noqa: E402
from tiny_models import make_tiny_llama, write_gguf  # noqa: E402


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShowcaseResult]:
    directory = tmp_path_factory.mktemp("showcase")
    model = write_gguf(
        directory / "tiny.gguf", make_tiny_llama(seed=5, seq_len=512), "Q8_0", tokenizer="gpt2"
    )
    with BackgroundShowcase(
        directory / "network", model_path=model, out=lambda line: None
    ) as result:
        yield result


def config_of(showcase: ShowcaseResult) -> dict[str, object]:
    return httpx.get(f"{showcase.base_url}/showcase.json").json()  # type: ignore[no-any-return]


def test_the_pages_are_served_without_anything_from_outside(showcase: ShowcaseResult) -> None:
    assert httpx.get(showcase.base_url + "/").headers["location"] == "/web/gallery.html"
    for page in (
        "gallery.html",
        "stories.html",
        "gallery.js",
        "stories.js",
        "showcase.js",
        "style.css",
    ):
        response = httpx.get(f"{showcase.base_url}/web/{page}")
        assert response.status_code == 200, page
        assert "http://" not in response.text and "https://" not in response.text, page
    assert showcase.story and showcase.nft_content


def test_graphql_mutation_makes_a_block_and_notifies_subscribers(showcase: ShowcaseResult) -> None:
    config = config_of(showcase)
    chain = config["chains"][0]  # type: ignore[index]
    app = config["applications"]["genNft"]  # type: ignore[index]
    url = f"{showcase.base_url}/chains/{chain['chainId']}/applications/{app}"

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        ws_url = showcase.base_url.replace("http://", "ws://") + "/ws"
        async with (
            websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as socket,
            httpx.AsyncClient(timeout=60) as client,
        ):
            await socket.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}
            subscription = "subscription($chainId: String!) { notifications(chainId: $chainId) { chainId height hash } }"
            await socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": subscription,
                            "variables": {"chainId": chain["chainId"]},
                        },
                    }
                )
            )
            await asyncio.sleep(0.2)  # the subscription is registered before the mutation
            mutation = {
                "query": 'mutation($m: String!) { mint(minter: $m, name: "Kite", prompt: "A kite", maxTokens: 6) }',
                "variables": {"m": chain["owner"]},
            }
            response = (await client.post(url, json=mutation)).json()
            event = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
            return response, event

    response, event = asyncio.run(scenario())
    assert response["data"] == {"mint": True}
    block = response["block"]
    assert response["blockHash"] == block["hash"]  # type: ignore[index]
    assert event == {
        "id": "1",
        "type": "next",
        "payload": {
            "data": {
                "notifications": {
                    "chainId": chain["chainId"],
                    "height": block["height"],  # type: ignore[index]
                    "hash": block["hash"],  # type: ignore[index]
                }
            }
        },
    }
    owned = httpx.post(
        url,
        json={
            "query": "query($o: String!) { ownedNfts(owner: $o) { name content } }",
            "variables": {"o": chain["owner"]},
        },
        timeout=60,
    ).json()
    assert [nft["name"] for nft in owned["data"]["ownedNfts"]] == ["Lighthouse", "Kite"]


def test_stream_sends_pieces_that_add_up_to_the_graphql_answer(showcase: ShowcaseResult) -> None:
    config = config_of(showcase)
    chain = config["chains"][0]["chainId"]  # type: ignore[index]
    app = config["applications"]["llm"]  # type: ignore[index]
    url = f"{showcase.base_url}/chains/{chain}/applications/{app}"
    with httpx.stream(
        "POST", f"{url}/stream", json={"prompt": "Once", "maxTokens": 10, "seed": "s"}, timeout=60
    ) as response:
        assert response.status_code == 200
        pieces = list(response.iter_text())
    whole = httpx.post(
        url,
        json={"query": 'query { prompt(prompt: "Once", maxTokens: 10, seed: "s") }'},
        timeout=60,
    ).json()
    assert "".join(pieces) == whole["data"]["prompt"]


def test_bad_requests_get_errors_and_the_server_keeps_serving(showcase: ShowcaseResult) -> None:
    config = config_of(showcase)
    chain = config["chains"][0]["chainId"]  # type: ignore[index]
    app = config["applications"]["llm"]  # type: ignore[index]
    url = f"{showcase.base_url}/chains/{chain}/applications/{app}"
    assert httpx.post(url, content=b"not json").json()["errors"]
    assert httpx.post(url, json={"query": "query { nope }"}).json()["errors"]
    assert httpx.post(f"{url}/stream", json={"maxTokens": 3}).status_code == 400
    unknown = f"{showcase.base_url}/chains/{chain}/applications/{'00' * 32}"
    assert (
        "not known"
        in httpx.post(unknown, json={"query": "{ model { name } }"}).json()["errors"][0]["message"]
    )
    assert (
        httpx.post(url, json={"query": "query { model { name } }"}).json()["data"]["model"]["name"]
        == "tiny"
    )


def test_the_real_stack_app_is_the_node_service_plus_showcase_json(tmp_path: Path) -> None:
    """``build_real_web_app`` adds only /showcase.json: pages and streams are the node's."""
    from showcase_demo import RealStackNode, build_real_web_app
    from starlette.testclient import TestClient

    from edgechain.core.network import LocalNetwork
    from edgechain.core.wallet import Wallet
    from edgechain.node.service import NodeService
    from edgechain.storage.db_storage import DbStorage
    from edgechain.views.memory_store import MemoryStore

    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    wallet = Wallet.create(tmp_path / "wallet.json", network.genesis)
    chain_id = network.user_chain_ids[0]
    wallet.add_chain(chain_id, network.user_keys[0])
    node = NodeService(wallet, [], DbStorage(MemoryStore()))
    web = tmp_path / "web"
    web.mkdir()
    (web / "stories.html").write_text("stories")
    showcase = RealStackNode(node, {"llm": "ab" * 32}, {"fileName": "tiny.gguf"})
    with TestClient(build_real_web_app(showcase, web)) as client:
        config = client.get("/showcase.json").json()
        assert config["chains"][0]["chainId"] == str(chain_id)
        assert config["applications"] == {"llm": "ab" * 32}
        assert client.get("/web/stories.html").text == "stories"
        stream = f"/chains/{chain_id.hash.hex()}/applications/{'ab' * 32}/stream"
        malformed = client.post(stream, content=b"[1,")
        assert malformed.status_code == 400 and "malformed request" in malformed.text
        assert "GraphiQL" in client.get("/", headers={"Accept": "text/html"}).text
