"""The server's bare POST path and the Starlette app behind it: same paths, same answers."""

from __future__ import annotations

import asyncio

import httpx
from rpc_helpers import serving

from edgechain.base.encoding import decode, encode
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.network import LocalNetwork
from edgechain.rpc import ValidatorService
from edgechain.rpc.protocol import (
    CHAIN_INFO_PATH,
    CROSS_CHAIN_PATH,
    HEALTH_PATH,
    METRICS_PATH,
    ErrorResponse,
)


def test_posts_are_answered_other_methods_fall_through_and_metrics_count_them() -> None:
    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    service = ValidatorService(network.validator_keys[0], [network.storages[0]])
    chain_id = network.user_chain_ids[0]

    async def scenario() -> None:
        async with (
            serving(service, max_message_size=4096) as address,
            httpx.AsyncClient(base_url=address, trust_env=False) as raw,
        ):
            response = await raw.post(CHAIN_INFO_PATH, content=encode(ChainInfoQuery(chain_id)))
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/cbor"
            assert decode(response.content, ChainInfoResponse).info.chain_id == chain_id

            # Chunked upload (no Content-Length) is read whole, and still bounded.
            async def pieces(data: bytes) -> object:
                for start in range(0, len(data), 7):
                    yield data[start : start + 7]

            response = await raw.post(
                CHAIN_INFO_PATH, content=pieces(encode(ChainInfoQuery(chain_id)))
            )
            assert response.status_code == 200
            response = await raw.post(CHAIN_INFO_PATH, content=pieces(b"\x00" * 10_000))
            assert response.status_code == 413
            assert decode(response.content, ErrorResponse).error_type.endswith("MessageTooLarge")
            # The wrong method on a POST path is Starlette's 405; unknown paths 404.
            assert (await raw.get(CHAIN_INFO_PATH)).status_code == 405
            assert (await raw.post("/v1/nothing", content=b"")).status_code == 404
            assert (await raw.get(HEALTH_PATH)).text == "ok"
            metrics = (await raw.get(METRICS_PATH)).text
            assert 'method="handle_chain_info_query"' in metrics
            # Between shard processes only: a single-shard service still takes it.
            assert (await raw.post(CROSS_CHAIN_PATH, content=b"\xff")).status_code == 400

    try:
        asyncio.run(scenario())
    finally:
        service.close(close_storage=False)
        network.close()
