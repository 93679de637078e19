"""The node service end to end over HTTP: chains and blocks in GraphQL, a mutation on the
counter application becomes a block, the query shows it, a websocket subscriber hears of
it; malformed requests get errors and the service keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from rpc_helpers import network_over_http, remote_client
from websockets.asyncio.client import connect

from edgechain.base.values import Amount
from edgechain.core.applications_client import (
    application_abi,
    create_application,
    encode_json,
    pack,
    publish_module,
)
from edgechain.core.network import LocalNetwork
from edgechain.core.wallet import Wallet
from edgechain.node.service import NodeService, make_node_server
from edgechain.storage.db_storage import DbStorage
from edgechain.views.memory_store import MemoryStore

COUNTER = Path(__file__).resolve().parents[2] / "apps" / "counter"


@contextlib.asynccontextmanager
async def node_server(node: NodeService) -> AsyncIterator[str]:
    server = make_node_server(node, "127.0.0.1", 0)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def test_node_service_end_to_end(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2)
    chain_id = network.user_chain_ids[0]
    chain = chain_id.hash.hex()

    async def scenario() -> None:
        async with network_over_http(network) as nodes:
            creator = remote_client(network, nodes, 0)
            abi = application_abi(COUNTER)
            module_id, _ = await publish_module(creator, pack(COUNTER))
            application_id, _ = await create_application(
                creator, module_id, encode_json(None, abi.Parameters, "parameters"),
                encode_json(5, abi.InstantiationArgument, "argument"),
            )  # fmt: skip
            wallet = Wallet.create(tmp_path / "wallet.json", network.genesis)
            wallet.add_chain(chain_id, network.user_keys[0])
            node = NodeService(wallet, nodes, DbStorage(MemoryStore()))
            listener = asyncio.ensure_future(node.listen_to_validators())
            try:
                async with node_server(node) as address:
                    await exercise(address, node, str(application_id))
            finally:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def exercise(address: str, node: NodeService, application: str) -> None:
        http = httpx.AsyncClient(base_url=f"http://{address}", timeout=30)
        app_path = f"/chains/{chain}/applications/{application}"
        try:
            blocks = (await http.post("/", json={"query": f'{{ blocks(chainId: "{chain}") {{ height hash }} }}'})).json()
            assert [b["height"] for b in blocks["data"]["blocks"]] == [1, 0]
            assert (await http.get("/", headers={"accept": "text/html"})).status_code == 200  # GraphiQL

            # Subscribe to the chain's new blocks over /ws (graphql-transport-ws).
            async with connect(f"ws://{address}/ws", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
                await socket.send(json.dumps({"type": "connection_init"}))
                assert json.loads(await socket.recv())["type"] == "connection_ack"
                query = f'subscription {{ notifications(chainId: "{chain}") {{ height hash }} }}'
                await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
                await asyncio.sleep(0.3)

                value = (await http.post(app_path, json={"query": "{ value }"})).json()
                assert value == {"data": {"value": 5}}
                mutation = (await http.post(app_path, json={"query": "mutation { increment(value: 3) }"})).json()
                assert mutation["data"] == {"increment": True}
                block_hash = mutation["blockHash"]
                assert (await http.post(app_path, json={"query": "{ value }"})).json() == {"data": {"value": 8}}

                event = json.loads(await asyncio.wait_for(socket.recv(), 15))
                assert event["type"] == "next"
                assert event["payload"]["data"]["notifications"] == {"height": 2, "hash": block_hash}

            # Malformed requests: errors, and the service keeps serving.
            broken = (await http.post("/", json={"query": "{ chains { nope"})).json()
            assert broken["errors"]
            unknown_field = (await http.post(app_path, json={"query": "{ nope }"})).json()
            assert unknown_field["errors"]
            assert (await http.post(app_path, content=b"\xff not json")).status_code == 400
            bad_chain = await http.post(f"/chains/zz/applications/{application}", json={"query": "{ value }"})
            assert bad_chain.status_code == 400
            chains = (await http.post("/", json={"query": "{ chains { chainId nextBlockHeight owned applications } }"})).json()
            assert chains["data"]["chains"] == [
                {"chainId": chain, "nextBlockHeight": 3, "owned": True, "applications": [application]}
            ]
            # The inbox is processed automatically: a credit from another chain shows up.
            inboxes = asyncio.ensure_future(node.process_inboxes_forever())
            try:
                other = remote_client(network, node.validators, 1)
                await other.transfer_to_chain(Amount.from_tokens(2), chain_id)
                balance_query = {"query": f'{{ chain(chainId: "{chain}") {{ balance }} }}'}
                for _ in range(100):
                    balance = (await http.post("/", json=balance_query)).json()["data"]["chain"]["balance"]
                    if balance == "102.":
                        break
                    await asyncio.sleep(0.1)
                assert balance == "102."
            finally:
                inboxes.cancel()
                await asyncio.gather(inboxes, return_exceptions=True)

            # A system mutation through GraphQL.
            recipient = network.user_chain_ids[1].hash.hex()
            moved = (await http.post("/", json={"query": f'mutation {{ transfer(chainId: "{chain}", recipient: "{recipient}", amount: "1.5") }}'})).json()
            assert len(moved["data"]["transfer"]) == 64
            apps = (await http.post("/", json={"query": f'{{ applications(chainId: "{chain}") {{ applicationId creatorBlockHeight }} }}'})).json()
            assert apps["data"]["applications"] == [{"applicationId": application, "creatorBlockHeight": 1}]
            opened = (await http.post("/", json={"query": f'mutation {{ openChain(chainId: "{chain}", balance: "3") }}'})).json()
            child = opened["data"]["openChain"]
            child_info = (await http.post("/", json={"query": f'{{ chain(chainId: "{child}") {{ balance owned nextBlockHeight }} }}'})).json()
            assert child_info["data"]["chain"] == {"balance": "3.", "owned": True, "nextBlockHeight": 1}
        finally:
            await http.aclose()

    asyncio.run(scenario())
    network.close()
