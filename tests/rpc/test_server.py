"""The validator server and `RemoteValidatorNode`: the protocol over HTTP, errors, notifications."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from rpc_helpers import network_over_http, remote_client, serving

from edgechain.base.blobs import Blob
from edgechain.base.crypto import KeyPair
from edgechain.base.encoding import decode, encode
from edgechain.base.identifiers import ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch
from edgechain.chain.errors import ChainError
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.errors import UnknownChain, ValidatorOffline
from edgechain.core.network import LocalNetwork
from edgechain.rpc import (
    ErrorResponse,
    MessageTooLarge,
    RemoteValidatorNode,
    ValidatorService,
)
from edgechain.rpc.protocol import CHAIN_INFO_PATH, PROPOSAL_PATH


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_transfers_are_certified_over_http() -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2)

    async def scenario() -> None:
        async with network_over_http(network) as nodes:
            alice = remote_client(network, nodes, 0)
            bob = remote_client(network, nodes, 1)
            certificate = await alice.transfer_to_chain(Amount.from_tokens(7), bob.chain_id)
            assert certificate.executed_block.block.height == BlockHeight(0)
            assert await bob.process_inbox() is not None
            assert await alice.query_balance() == Amount.from_tokens(93)
            assert await bob.query_balance() == Amount.from_tokens(107)
            # Every validator applied both blocks: the in-process state agrees.
            for worker in network.workers:
                chain = worker.storage.load_chain(bob.chain_id)
                assert chain.execution_state.system.balance.get() == Amount.from_tokens(107)

    run(scenario())
    network.close()


def test_errors_come_back_as_the_same_class_and_the_server_keeps_serving() -> None:
    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    service = ValidatorService(network.validator_keys[0], [network.storages[0]])
    chain_id = network.user_chain_ids[0]

    async def scenario() -> None:
        async with serving(service, max_message_size=4096) as address:
            node = RemoteValidatorNode(address, network.validator_keys[0].public_key)
            raw = httpx.AsyncClient(base_url=address)
            try:
                await errors_then_success(node, raw)
            finally:
                await raw.aclose()
                await node.aclose()

    async def errors_then_success(node: RemoteValidatorNode, raw: httpx.AsyncClient) -> None:
        # Garbage bytes: a 400 with a typed error body.
        response = await raw.post(CHAIN_INFO_PATH, content=b"\xff\x00garbage")
        assert response.status_code == 400
        error = decode(response.content, ErrorResponse)
        assert error.error_type == "edgechain.base.errors.EncodingError"

        # An oversized body: refused with 413 before it is decoded.
        response = await raw.post(CHAIN_INFO_PATH, content=b"\x00" * 10_000)
        assert response.status_code == 413
        assert decode(response.content, ErrorResponse).error_type.endswith("MessageTooLarge")
        with pytest.raises(MessageTooLarge):
            await node.upload_blob(Blob.data(b"x" * 10_000))

        # An unknown chain: the worker's error, raised again client-side as its own class.
        honest = await _signed_proposal(network)
        unknown = ChainId.root(999)
        info = (await node.handle_chain_info_query(ChainInfoQuery(unknown))).info
        assert not info.is_active  # a plain query answers; a proposal is refused
        stray_block = dataclasses.replace(honest.content.block, chain_id=unknown)
        stray = BlockProposal.new(
            dataclasses.replace(honest.content, block=stray_block), network.user_keys[0]
        )
        with pytest.raises(UnknownChain):
            await node.handle_block_proposal(stray)

        # A wrong signature: a proposal whose signature is over another value.
        forged = dataclasses.replace(honest, signature=KeyPair.generate().sign("x", b"y"))
        with pytest.raises(ChainError) as raised:
            await node.handle_block_proposal(forged)
        assert "signature" in str(raised.value)
        response = await raw.post(PROPOSAL_PATH, content=encode(forged))
        assert response.status_code == 422

        # Then a valid request succeeds.
        answer = await node.handle_chain_info_query(ChainInfoQuery(chain_id))
        assert isinstance(answer, ChainInfoResponse)
        answer.check(network.validator_keys[0].public_key)
        vote = (await node.handle_block_proposal(honest)).vote
        assert vote is not None

        metrics = (await raw.get("/metrics")).text
        assert 'edgechain_errors_total{type="EncodingError"} 1' in metrics
        assert "edgechain_votes_signed_total 1" in metrics
        assert 'edgechain_request_latency_seconds_count{method="handle_chain_info_query"}' in metrics

    run(scenario())
    network.close()


async def _signed_proposal(network: LocalNetwork) -> BlockProposal:
    """An honest proposal of a transfer on user chain 0, at height 0, in the fast round."""
    from edgechain.base.identifiers import Account, AccountOwner
    from edgechain.base.values import Timestamp
    from edgechain.chain.block import Block
    from edgechain.chain.proposal import ProposalContent
    from edgechain.chain.rounds import Fast
    from edgechain.execution.operations import Transfer

    key = network.user_keys[0]
    block = Block(
        chain_id=network.user_chain_ids[0],
        epoch=Epoch(0),
        height=BlockHeight(0),
        timestamp=Timestamp.now(),
        authenticated_signer=AccountOwner.from_public_key(key.public_key),
        previous_block_hash=None,
        incoming_bundles=[],
        operations=[Transfer(None, Account(network.admin_id), Amount.from_tokens(1))],
        published_blob_ids=[],
    )
    return BlockProposal.new(ProposalContent(block, Fast()), key)


def test_unknown_error_class_is_not_imported_on_a_peers_say_so() -> None:
    from edgechain.rpc.errors import RemoteError
    from edgechain.rpc.protocol import error_from_response

    error = error_from_response(ErrorResponse("os.system", "boom"), "http://127.0.0.1:1")
    assert isinstance(error, RemoteError)
    error = error_from_response(ErrorResponse("edgechain.core.errors.UnknownChain", "no"), "x")
    assert isinstance(error, UnknownChain) and str(error) == "no"


def test_a_dead_validator_is_offline_quickly_and_retried_after_its_cooldown() -> None:
    key = KeyPair.generate()
    node = RemoteValidatorNode("http://127.0.0.1:9", key.public_key, retries=1, backoff=0.01,
                               max_cooldown=0.2, timeout=1.0)  # fmt: skip

    async def scenario() -> None:
        with pytest.raises(ValidatorOffline):
            await node.handle_chain_info_query(ChainInfoQuery(ChainId.root(0)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ValidatorOffline, match="is down"):
            await node.handle_chain_info_query(ChainInfoQuery(ChainId.root(0)))
        assert loop.time() - started < 0.05
        await asyncio.sleep(0.25)
        with pytest.raises(ValidatorOffline, match="unreachable"):
            await node.handle_chain_info_query(ChainInfoQuery(ChainId.root(0)))
        await node.aclose()

    run(scenario())


def test_subscribers_hear_of_new_blocks() -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2)

    async def scenario() -> None:
        async with network_over_http(network) as nodes:
            alice = remote_client(network, nodes, 0)
            received = []

            async def listen() -> None:
                async for notification in nodes[2].subscribe([alice.chain_id]):
                    received.append(notification)
                    if len(received) == 2:
                        return

            listener = asyncio.ensure_future(listen())
            await asyncio.sleep(0.2)  # the subscription is in place
            first = await alice.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
            second = await alice.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
            await asyncio.wait_for(listener, 10)
            assert [n.block_hash for n in received] == [first.hash(), second.hash()]
            assert [n.height for n in received] == [BlockHeight(0), BlockHeight(1)]
            assert all(n.chain_id == alice.chain_id for n in received)

    run(scenario())
    network.close()


def test_certificate_downloads_are_bounded_and_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgechain.base.crypto import CryptoHash
    from edgechain.rpc import client as rpc_client
    from edgechain.rpc.protocol import DOWNLOAD_CERTIFICATES_PATH, MAX_CERTIFICATES_PER_REQUEST

    network = LocalNetwork.create(validator_count=4, user_chain_count=2)

    async def scenario() -> None:
        async with network_over_http(network) as nodes:
            alice = remote_client(network, nodes, 0)
            first = await alice.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
            second = await alice.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
            too_many = [CryptoHash.of_bytes(bytes([i % 256, i // 256])) for i in range(MAX_CERTIFICATES_PER_REQUEST + 1)]
            async with httpx.AsyncClient(base_url=nodes[0].address) as raw:
                response = await raw.post(DOWNLOAD_CERTIFICATES_PATH, content=encode(too_many))
            assert response.status_code == 400
            assert "at most" in decode(response.content, ErrorResponse).message
            monkeypatch.setattr(rpc_client, "MAX_CERTIFICATES_PER_REQUEST", 1)
            downloaded = await nodes[0].download_certificates([first.hash(), second.hash()])
            assert downloaded == [first, second]

    run(scenario())
    network.close()


def test_a_bug_in_a_handler_is_a_500_for_that_request_only() -> None:
    from edgechain.rpc.errors import RemoteError

    network = LocalNetwork.create(validator_count=1, user_chain_count=1)
    service = ValidatorService(network.validator_keys[0], [network.storages[0]])
    worker = service.workers[0]
    honest = worker.handle_chain_info_query
    calls = []

    def flaky(query: ChainInfoQuery) -> ChainInfoResponse:
        calls.append(query)
        if len(calls) == 1:
            raise ZeroDivisionError("a bug")
        return honest(query)

    worker.handle_chain_info_query = flaky  # type: ignore[method-assign]

    async def scenario() -> None:
        async with serving(service) as address:
            node = RemoteValidatorNode(address, network.validator_keys[0].public_key)
            with pytest.raises(RemoteError, match=r"internal error.*ZeroDivisionError"):
                await node.handle_chain_info_query(ChainInfoQuery(network.user_chain_ids[0]))
            answer = await node.handle_chain_info_query(ChainInfoQuery(network.user_chain_ids[0]))
            assert answer.info.is_active
            await node.aclose()

    run(scenario())
    network.close()
