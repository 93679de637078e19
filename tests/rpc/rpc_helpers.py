"""Helpers for the rpc tests: validators served over HTTP on loopback inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from edgechain.base.values import Epoch
from edgechain.core.client import ChainClient
from edgechain.core.network import LocalNetwork
from edgechain.rpc import RemoteValidatorNode, ValidatorService, make_server


@contextlib.asynccontextmanager
async def serving(service: ValidatorService, max_message_size: int = 1 << 20) -> AsyncIterator[str]:
    """Serve ``service`` on a free loopback port; yields its address; stops it on exit."""
    server = make_server(service, "127.0.0.1", 0, max_message_size)
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


@contextlib.asynccontextmanager
async def network_over_http(
    network: LocalNetwork, max_message_size: int = 1 << 20
) -> AsyncIterator[list[RemoteValidatorNode]]:
    """Every validator of ``network`` served over HTTP; yields remote nodes for them."""
    services = [
        ValidatorService(key, [storage])
        for key, storage in zip(network.validator_keys, network.storages, strict=True)
    ]
    async with contextlib.AsyncExitStack() as stack:
        addresses = [await stack.enter_async_context(serving(s, max_message_size)) for s in services]
        nodes = [
            RemoteValidatorNode(address, key.public_key, timeout=5.0)
            for address, key in zip(addresses, network.validator_keys, strict=True)
        ]
        try:
            yield nodes
        finally:
            for node in nodes:
                await node.aclose()
            for service in services:
                service.close(close_storage=False)  # the network owns its storages


def remote_client(
    network: LocalNetwork, nodes: list[RemoteValidatorNode], user_index: int
) -> ChainClient:
    """A client of user chain ``user_index`` that talks to ``nodes``."""
    return ChainClient(
        network.user_chain_ids[user_index],
        network.user_keys[user_index],
        nodes,
        {Epoch(0): network.committee},
        Epoch(0),
        request_timeout=10.0,
    )
