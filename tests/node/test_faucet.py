"""The faucet's HTTP application: genesis, claims, and refusals of malformed claims."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.testclient import TestClient

from edgechain.base.crypto import KeyPair
from edgechain.base.encoding import decode
from edgechain.base.identifiers import ChainId
from edgechain.base.values import Amount, Epoch
from edgechain.core.client import ChainClient
from edgechain.core.network import GenesisConfig, LocalNetwork
from edgechain.core.wallet import Wallet
from edgechain.node.faucet import Faucet, build_faucet_app


def test_faucet_gives_a_chain_and_refuses_garbage(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=1)
    wallet = Wallet.create(tmp_path / "faucet.json", network.genesis)
    wallet.add_chain(network.user_chain_ids[0], network.user_keys[0])
    faucet = Faucet(wallet, wallet.client(network.user_chain_ids[0], network.nodes), Amount.from_tokens(7))
    claimant = KeyPair.generate()
    with TestClient(build_faucet_app(faucet)) as http:
        assert decode(http.get("/genesis").content, GenesisConfig) == network.genesis
        assert http.post("/claim", content=b"\xff").status_code == 400
        assert http.post("/claim", json={"public_key": "zz"}).status_code == 400
        assert http.post("/claim", content=b"x" * 10_000).status_code == 413
        answer = http.post("/claim", json={"public_key": claimant.public_key.hex()}).json()
    chain_id = ChainId.from_hex(answer["chain_id"])
    assert answer["amount"] == "7."
    assert Wallet.load(wallet.path).chains[network.user_chain_ids[0]].next_block_height == 1

    async def open_it() -> Amount:
        client = ChainClient(chain_id, claimant, network.nodes, {Epoch(0): network.committee}, Epoch(0))
        assert await client.process_inbox() is not None
        return await client.query_balance()

    assert asyncio.run(open_it()) == Amount.from_tokens(7)
