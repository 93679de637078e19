"""`ValidatorService`: worker shards partition chains by id; cross-chain messages cross shards."""

from __future__ import annotations

import asyncio

from edgechain.base.values import Amount, Epoch
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.client import ChainClient
from edgechain.core.network import LocalNetwork
from edgechain.rpc import ValidatorService, shard_of
from edgechain.storage.db_storage import DbStorage

SHARDS = 3


def test_transfers_between_chains_on_different_shards() -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=4)
    services = [
        ValidatorService(key, [DbStorage(storage.store) for _ in range(SHARDS)])
        for key, storage in zip(network.validator_keys, network.storages, strict=True)
    ]
    chain_ids = network.user_chain_ids
    assert len({shard_of(chain_id, SHARDS) for chain_id in chain_ids}) > 1

    def client(index: int) -> ChainClient:
        return ChainClient(
            chain_ids[index], network.user_keys[index], services,
            {Epoch(0): network.committee}, Epoch(0),
        )  # fmt: skip

    async def scenario() -> None:
        clients = [client(index) for index in range(4)]
        for index, sender in enumerate(clients):
            await sender.transfer_to_chain(Amount.from_tokens(index + 1), chain_ids[(index + 1) % 4])
        for receiver in clients:
            assert await receiver.process_inbox() is not None
        expected = [100 - 1 + 4, 100 - 2 + 1, 100 - 3 + 2, 100 - 4 + 3]
        for service in services:
            for chain_id, tokens in zip(chain_ids, expected, strict=True):
                info = (await service.handle_chain_info_query(ChainInfoQuery(chain_id))).info
                assert info.chain_balance == Amount.from_tokens(tokens)
        # Each chain's state lives in its own shard's cache; every shard reads the shared store.
        for service in services:
            assert service.metrics.blocks_confirmed == 8
        # A quorum (3 of 4) voted for each of the 8 blocks; the client may stop listening
        # to the last validator, whose vote is still signed and counted.
        await asyncio.sleep(0.1)
        assert sum(service.metrics.votes_signed for service in services) >= 8 * 3
        for service in services:
            for chain_id in chain_ids:
                owner = service.workers[shard_of(chain_id, SHARDS)]
                assert owner.storage.load_chain(chain_id).is_active()

    asyncio.run(scenario())
    for service in services:
        service.close()
