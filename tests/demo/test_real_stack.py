"""The showcase through the real stack (slow): validator processes, two wallets, two node services.

``net up`` starts 4 validator processes on SQLite; the network's wallet publishes SmolLM2
as blobs (``publish-model``) and creates ``llm`` and ``gen_nft`` pinned to it
(``publish-and-create … --parameters JSON``); its node service tells a story and mints an
NFT; a second wallet (from the faucet) runs its own node service process, which reads the
same NFT's content, then receives the NFT on its own chain: byte-identical everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgechain.base.identifiers import AccountOwner
from edgechain.core.wallet import Wallet

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "apps"))
from showcase_demo import smollm2_path  # noqa: E402

pytestmark = pytest.mark.slow


def edgechain(*arguments: str, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "edgechain.cli.main", *arguments],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(
            f"edgechain {' '.join(arguments)} failed: {result.stderr}{result.stdout}"
        )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def node_service(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "edgechain.cli.main", "service", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                httpx.get(base + "/", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the node service did not come up"
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def ask(base: str, chain: str, app: str, query: str, **variables: Any) -> dict[str, Any]:
    url = f"{base}/chains/{chain}/applications/{app}"
    body = httpx.post(
        url, json={"query": query, "variables": variables}, timeout=300, trust_env=False
    )
    answer: dict[str, Any] = body.json()
    assert "errors" not in answer, answer
    return answer


def default_owner(wallet_path: Path) -> tuple[str, str]:
    wallet = Wallet.load(wallet_path)
    chain_id = wallet.resolve(None)
    entry = wallet.chains.get(chain_id)
    key_pair = None if entry is None else entry.key_pair
    if key_pair is not None:
        return str(chain_id), str(AccountOwner.from_public_key(key_pair.public_key))
    raise AssertionError(f"the wallet {wallet_path} holds no key for its default chain")


@pytest.fixture
def network_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "net"
    yield directory
    processes_file = directory / "processes.json"
    if processes_file.exists():
        for pid in json.loads(processes_file.read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


OWNED = "query($o: String!) { ownedNfts(owner: $o) { tokenId name content } }"


def test_story_and_nft_through_validator_processes_and_two_node_services(
    tmp_path: Path, network_dir: Path
) -> None:
    try:
        model = smollm2_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    base_env = {k: v for k, v in os.environ.items() if k != "EDGECHAIN_STORAGE"}
    up = edgechain(
        "net", "up", "--with-faucet", "--detach", "--dir", str(network_dir), env=base_env
    )
    faucet = re.search(r"faucet\s+(http://127\.0\.0\.1:\d+)", up)
    assert faucet is not None, up
    env_a = {**base_env, "EDGECHAIN_WALLET": str(network_dir / "wallet.json")}
    env_b = {**base_env, "EDGECHAIN_WALLET": str(tmp_path / "b" / "wallet.json")}
    edgechain("wallet", "init", "--faucet", faucet.group(1), env=env_b)
    edgechain("wallet", "request-chain", "--faucet", faucet.group(1), env=env_b)
    chain_a, owner_a = default_owner(network_dir / "wallet.json")
    chain_b, owner_b = default_owner(tmp_path / "b" / "wallet.json")

    manifest = edgechain("publish-model", str(model), env=env_a)
    assert re.fullmatch(r"manifest:[0-9a-f]{64}", manifest), manifest
    pinned = {"name": "SmolLM2", "manifest_id": manifest, "url": None, "content_hash": None}
    llm = edgechain(
        "publish-and-create",
        str(ROOT / "apps" / "llm"),
        "--parameters",
        json.dumps(pinned),
        env=env_a,
    )
    gen_nft = edgechain(
        "publish-and-create",
        str(ROOT / "apps" / "gen_nft"),
        "--parameters",
        json.dumps({"model": pinned}),
        env=env_a,
    )

    with node_service(env_a) as node_a:
        story = ask(
            node_a, chain_a, llm,
            'query { chat(messages: [{role: "user", content: "Tell me a story about a kind robot."}],'
            ' maxTokens: 48, temperature: 0.7, seed: "demo") }',
        )["data"]["chat"]  # fmt: skip
        assert len(story.split()) >= 10, story
        minted = ask(
            node_a, chain_a, gen_nft,
            'mutation($m: String!) { mint(minter: $m, name: "Robot", prompt: "Describe a kind robot.") }',
            m=owner_a,
        )  # fmt: skip
        assert len(minted["blockHash"]) == 64
        (nft,) = ask(node_a, chain_a, gen_nft, OWNED, o=owner_a)["data"]["ownedNfts"]
        assert nft["content"].strip()

        with node_service(env_b) as node_b:
            # Another user, another process, another model load: the same bytes.
            seen_by_b = ask(
                node_b,
                chain_a,
                gen_nft,
                "query($t: String!) { nft(tokenId: $t) { content } }",
                t=nft["tokenId"],
            )["data"]["nft"]["content"]
            assert seen_by_b == nft["content"]

            transferred = ask(
                node_a, chain_a, gen_nft,
                "mutation($s: String!, $t: String!, $c: String!, $o: String!) {"
                " transfer(sourceOwner: $s, tokenId: $t, targetChainId: $c, targetOwner: $o) }",
                s=owner_a, t=nft["tokenId"], c=chain_b, o=owner_b,
            )  # fmt: skip
            assert len(transferred["blockHash"]) == 64
            assert ask(node_a, chain_a, gen_nft, OWNED, o=owner_a)["data"]["ownedNfts"] == []
            deadline = time.monotonic() + 120
            while True:  # node B takes the NFT from its inbox by itself
                with contextlib.suppress(AssertionError):
                    received = ask(node_b, chain_b, gen_nft, OWNED, o=owner_b)["data"]["ownedNfts"]
                    if received:
                        break
                assert time.monotonic() < deadline, "the NFT did not reach chain B"
                time.sleep(1)
            assert received == [nft], "same token, same name, byte-identical content"

    edgechain("net", "down", "--dir", str(network_dir), env=base_env)
