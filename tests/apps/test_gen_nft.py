"""The gen_nft application on a local network: mint, content, transfer across chains, bounce, claim."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import Account, AccountOwner, ApplicationId
from edgechain.execution.errors import ContractFailed, ExecutionError
from edgechain.execution.messages import MessageAction
from edgechain.ml import SamplingParams, load_model
from edgechain.testing import ApplicationTester, import_application

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_llm import publish_model_file, write_tiny_model  # noqa: E402

GEN_NFT_DIRECTORY = ROOT / "apps" / "gen_nft"
GEN_NFT = import_application(GEN_NFT_DIRECTORY)
abi = GEN_NFT.abi
SETTINGS = abi.ContentSettings(max_tokens=10, temperature_milli=700, top_p_milli=900, top_k=40)

NFT_FIELDS = "tokenId owner name minter prompt maxTokens temperature topP content"


def owner_of(tester: ApplicationTester, user: int) -> AccountOwner:
    return AccountOwner.from_public_key(tester.network.user_keys[user].public_key)


def run(scenario: Callable[[ApplicationTester, Path], Awaitable[None]], tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, seed=21)
    tester = ApplicationTester.create(validators=4, users=2)
    try:
        asyncio.run(scenario(tester, path))
    finally:
        tester.close()


async def create_gen_nft(tester: ApplicationTester, path: Path) -> ApplicationId:
    manifest_id = await publish_model_file(tester, path, chunk_size=32_768)
    module_id = await tester.publish_module(GEN_NFT_DIRECTORY)
    parameters = abi.GenNftParameters(abi.PinnedModel("tiny", str(manifest_id), None, None))
    return await tester.create_application(module_id, abi=abi.GenNftAbi, parameters=parameters)


async def operate(
    tester: ApplicationTester, app: ApplicationId, operation: Any, user: int = 0
) -> Any:
    return await tester.execute_operation(app, operation, abi=abi.GenNftAbi, user=user)


def data_of(response: dict[str, Any]) -> Any:
    assert "errors" not in response, response
    return response["data"]


def owned(
    tester: ApplicationTester, app: ApplicationId, owner: AccountOwner, user: int
) -> list[Any]:
    query = f'query {{ ownedNfts(owner: "{owner}") {{ {NFT_FIELDS} }} }}'
    return list(data_of(tester.query(app, query, user=user))["ownedNfts"])


def expected_content(path: Path, prompt: str, token_id: str) -> str:
    model = load_model(path, exact=True)
    tokens = model.chat(
        [{"role": "user", "content": prompt}],
        SETTINGS.max_tokens,
        SamplingParams(temperature=0.7, top_p=0.9, top_k=40),
        bytes.fromhex(token_id),
    )
    return "".join(token.text for token in tokens)


def test_mint_gives_the_previewed_token_id_and_reproducible_content(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice = owner_of(tester, 0)
        preview = data_of(
            tester.query(
                app,
                f'query {{ preview(minter: "{alice}", prompt: "A red fox", maxTokens: 10) '
                "{ tokenId content } }",
            )
        )["preview"]
        response, certificate = await tester.mutate(
            app,
            f'mutation {{ mint(minter: "{alice}", name: "Fox", prompt: "A red fox", maxTokens: 10) }}',
        )
        assert data_of(response) == {"mint": True} and certificate is not None
        (nft,) = owned(tester, app, alice, user=0)
        source = abi.TokenIdSource(tester.chain_id(0), app, "A red fox", alice, 0)
        assert nft["tokenId"] == CryptoHash.of(abi.TOKEN_ID_TAG, source).hex() == preview["tokenId"]
        assert nft["owner"] == nft["minter"] == str(alice)
        assert nft["content"] == preview["content"]
        assert nft["content"] == expected_content(path, "A red fox", nft["tokenId"])
        assert nft["content"], "the tiny model generates some text"
        # Every validator's copy gives the same bytes; the same prompt minted again is a new token.
        assert owned(tester, app, alice, user=0) == [nft]
        for validator in (1, 3):
            query = f'query {{ nft(tokenId: "{nft["tokenId"]}") {{ content }} }}'
            assert (
                data_of(tester.query(app, query, validator=validator))["nft"]["content"]
                == nft["content"]
            )
        await operate(tester, app, abi.Mint(alice, "Fox 2", "A red fox", SETTINGS))
        ids = data_of(tester.query(app, f'query {{ ownedTokenIds(owner: "{alice}") }}'))[
            "ownedTokenIds"
        ]
        assert len(ids) == 2 and ids[0] == nft["tokenId"] and ids[1] != ids[0]
        model = data_of(tester.query(app, "query { model { name sizeBytes onChainSinceBlock } }"))
        assert model["model"]["name"] == "tiny"
        assert model["model"]["sizeBytes"] == float(path.stat().st_size)
        assert model["model"]["onChainSinceBlock"] is not None

    run(scenario, tmp_path)


def test_only_the_owner_mints_and_transfers(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice, bob = owner_of(tester, 0), owner_of(tester, 1)
        with pytest.raises(ExecutionError):
            await operate(tester, app, abi.Mint(bob, "Not mine", "p", SETTINGS))
        token_id = (await mint(tester, app, alice, "Owl")).token_id
        with pytest.raises(ExecutionError, match="did not authenticate"):
            await operate(
                tester, app, abi.Transfer(bob, token_id, Account(tester.chain_id(0), bob))
            )
        unknown = CryptoHash.of_bytes(b"no such token")
        with pytest.raises(ContractFailed, match="not on this chain"):
            await operate(
                tester, app, abi.Transfer(alice, unknown, Account(tester.chain_id(1), bob))
            )
        with pytest.raises(ContractFailed, match="between 1"):
            await operate(
                tester,
                app,
                abi.Mint(alice, "Big", "p", dataclasses.replace(SETTINGS, max_tokens=0)),
            )

    run(scenario, tmp_path)


async def mint(
    tester: ApplicationTester, app: ApplicationId, minter: AccountOwner, name: str
) -> Any:
    before = {nft["tokenId"] for nft in owned(tester, app, minter, user=0)}
    await operate(tester, app, abi.Mint(minter, name, f"A story about {name}", SETTINGS))
    (new,) = [nft for nft in owned(tester, app, minter, user=0) if nft["tokenId"] not in before]
    return abi.Nft(
        CryptoHash.from_hex(new["tokenId"]), minter, name, minter, new["prompt"], SETTINGS
    )


def test_transfer_to_another_chain_keeps_the_content(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice, bob = owner_of(tester, 0), owner_of(tester, 1)
        await mint(tester, app, alice, "Owl")
        (before,) = owned(tester, app, alice, user=0)
        _, certificate = await tester.mutate(
            app,
            f'mutation {{ transfer(sourceOwner: "{alice}", tokenId: "{before["tokenId"]}",'
            f' targetChainId: "{tester.chain_id(1)}", targetOwner: "{bob}") }}',
        )
        assert certificate is not None
        assert owned(tester, app, alice, user=0) == []
        await tester.process_inbox(user=1)
        (after,) = owned(tester, app, bob, user=1)
        assert after == dict(before, owner=str(bob)), "same NFT, same content, new owner"
        assert data_of(tester.query(app, "query { nfts { tokenId } }", user=0))["nfts"] == []

    run(scenario, tmp_path)


def test_a_rejected_transfer_bounces_back_to_its_owner(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice, bob = owner_of(tester, 0), owner_of(tester, 1)
        nft = await mint(tester, app, alice, "Owl")
        await operate(
            tester, app, abi.Transfer(alice, nft.token_id, Account(tester.chain_id(1), bob))
        )
        assert owned(tester, app, alice, user=0) == []
        receiver = tester.clients[1]
        bundles = await receiver.pending_bundles()
        rejected = [dataclasses.replace(bundle, action=MessageAction.REJECT) for bundle in bundles]
        await receiver.execute_operations([], incoming_bundles=rejected)
        assert not tester.chain_state(1).execution_state.applications.contains(app)
        await tester.process_inbox(user=0)
        (back,) = owned(tester, app, alice, user=0)
        assert back["tokenId"] == nft.token_id.hex() and back["owner"] == str(alice)

    run(scenario, tmp_path)


def test_claim_brings_an_nft_back_from_another_chain(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice = owner_of(tester, 0)
        nft = await mint(tester, app, alice, "Owl")
        # Alice sends it to her own account on Bob's chain (she cannot sign blocks there).
        await operate(
            tester, app, abi.Transfer(alice, nft.token_id, Account(tester.chain_id(1), alice))
        )
        await tester.process_inbox(user=1)
        assert [n["tokenId"] for n in owned(tester, app, alice, user=1)] == [nft.token_id.hex()]
        # Her authenticated claim from her chain makes Bob's chain send it back.
        claim = abi.Claim(
            Account(tester.chain_id(1), alice), nft.token_id, Account(tester.chain_id(0), alice)
        )
        await operate(tester, app, claim)
        await tester.process_inbox(user=1)
        assert owned(tester, app, alice, user=1) == []
        await tester.process_inbox(user=0)
        assert [n["tokenId"] for n in owned(tester, app, alice, user=0)] == [nft.token_id.hex()]

    run(scenario, tmp_path)


def test_a_claim_by_someone_else_fails_on_the_holding_chain(tmp_path: Path) -> None:
    async def scenario(tester: ApplicationTester, path: Path) -> None:
        app = await create_gen_nft(tester, path)
        alice, bob = owner_of(tester, 0), owner_of(tester, 1)
        nft = await mint(tester, app, alice, "Owl")
        gift = await mint(tester, app, alice, "Gift")  # so that Bob's chain learns the app
        await operate(
            tester, app, abi.Transfer(alice, gift.token_id, Account(tester.chain_id(1), bob))
        )
        await tester.process_inbox(user=1)
        # Bob claims Alice's NFT from his chain: his message is authenticated as Bob, not Alice.
        claim = abi.Claim(
            Account(tester.chain_id(0), bob), nft.token_id, Account(tester.chain_id(1), bob)
        )
        await operate(tester, app, claim, user=1)
        # Alice's chain takes its inbox: the claim fails there ("not owned"), so the client
        # rejects that bundle and the tracked claim bounces back to Bob's chain, moving nothing.
        await tester.process_inbox(user=0)
        assert [n["owner"] for n in owned(tester, app, alice, user=0)] == [str(alice)]
        await tester.process_inbox(user=1)
        assert [n["name"] for n in owned(tester, app, bob, user=1)] == ["Gift"]
        assert owned(tester, app, alice, user=1) == []

    run(scenario, tmp_path)
