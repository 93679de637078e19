"""The wallet file: round trip, chain lookup, resuming a client from the saved tip."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from edgechain.base.values import Amount, BlockHeight
from edgechain.core.network import LocalNetwork
from edgechain.core.network_config import read_genesis, validator_addresses, write_genesis
from edgechain.core.wallet import Wallet, WalletError


def test_round_trip_is_private_and_resolves_prefixes(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2)
    path = tmp_path / "wallet.json"
    wallet = Wallet.create(path, network.genesis)
    first, second = network.user_chain_ids
    wallet.add_chain(first, network.user_keys[0])
    wallet.add_chain(second, None)
    wallet.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Wallet.load(path)
    assert loaded.genesis == network.genesis
    assert loaded.default == first
    assert loaded.chains[first].key_pair is not None
    assert loaded.chains[first].key_pair.public_key == network.user_keys[0].public_key
    assert loaded.chains[second].key_pair is None
    assert loaded.resolve(second.hash.hex()[:10]) == second
    assert loaded.resolve(None) == first
    with pytest.raises(WalletError):
        loaded.set_default(network.admin_id)
    with pytest.raises(WalletError, match="already exists"):
        Wallet.create(path, network.genesis)
    with pytest.raises(WalletError, match="no wallet"):
        Wallet.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(WalletError, match="malformed"):
        Wallet.load(tmp_path / "bad.json")


def test_client_resumes_from_the_saved_tip(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=4, user_chain_count=2)
    wallet = Wallet.create(tmp_path / "wallet.json", network.genesis)
    chain_id = network.user_chain_ids[0]
    wallet.add_chain(chain_id, network.user_keys[0])

    async def two_sessions() -> None:
        client = wallet.client(chain_id, network.nodes)
        await client.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
        wallet.update_from_client(client)
        wallet.save()
        resumed = Wallet.load(wallet.path).client(chain_id, network.nodes)
        assert resumed.next_block_height == BlockHeight(1)
        assert resumed.block_hash == client.block_hash
        # No synchronisation needed: the next block builds on the saved tip.
        await resumed.transfer_to_chain(Amount.from_tokens(1), network.user_chain_ids[1])
        assert await resumed.query_balance() == Amount.from_tokens(98)

    asyncio.run(two_sessions())


def test_genesis_file_round_trip(tmp_path: Path) -> None:
    network = LocalNetwork.create(validator_count=3, user_chain_count=1)
    write_genesis(tmp_path / "genesis.cbor", network.genesis)
    assert read_genesis(tmp_path / "genesis.cbor") == network.genesis
    assert [address for _, address in validator_addresses(network.genesis)] == [
        "local:0", "local:1", "local:2"
    ]  # fmt: skip
