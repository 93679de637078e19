"""A network of validator processes for tests: genesis and configs written here, processes
started with ``edgechain validator run``, each in its own process group, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from edgechain.base.crypto import KeyPair
from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount, Epoch
from edgechain.core.client import ChainClient
from edgechain.core.network import GenesisConfig, derive_key_pair
from edgechain.core.network_config import build_genesis, write_genesis
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.rpc import RemoteValidatorNode, ValidatorConfig


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ProcessNetwork:
    """N validator processes on loopback, their genesis, and the user chains' keys."""

    def __init__(
        self,
        directory: Path,
        validator_count: int,
        user_chain_count: int,
        storage: str,
        shards: int = 1,
        balance: Amount | None = None,
        seed: int = 7,
    ) -> None:
        self.directory = directory
        self.validator_keys = [derive_key_pair(seed, "validator", i) for i in range(validator_count)]
        self.user_keys = [derive_key_pair(seed, "user", i) for i in range(user_chain_count)]
        self.ports = [free_port() for _ in self.validator_keys]
        self.addresses = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.genesis: GenesisConfig = build_genesis(
            self.validator_keys,
            self.addresses,
            AccountOwner.from_public_key(derive_key_pair(seed, "admin", 0).public_key),
            [AccountOwner.from_public_key(key.public_key) for key in self.user_keys],
            [balance or Amount.from_tokens(1000)] * user_chain_count,
            ResourceControlPolicy.no_fees(),
        )
        write_genesis(directory / "genesis.cbor", self.genesis)
        tag = os.urandom(4).hex()
        self.config_paths: list[Path] = []
        for index, (key, port) in enumerate(zip(self.validator_keys, self.ports, strict=True)):
            home = directory / f"validator-{index}"
            url = f"sqlite:{home / 'state.sqlite'}" if storage == "sqlite" else storage
            config = ValidatorConfig(
                name=f"validator-{index}", key_seed=key.seed().hex(), host="127.0.0.1",
                port=port, storage=url, namespace=f"t{tag}_{index}", blob_dir=str(home / "blobs"),
                shards=shards, genesis=str(directory / "genesis.cbor"),
            )  # fmt: skip
            config.save(home / "config.json")
            self.config_paths.append(home / "config.json")
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * validator_count

    @property
    def user_chain_ids(self) -> list[ChainId]:
        return [chain.chain_id for chain in self.genesis.chains[1:]]

    def start(self, index: int) -> None:
        log = open(self.directory / f"validator-{index}" / "log.txt", "ab")  # noqa: SIM115
        command = [sys.executable, "-m", "edgechain.cli.main", "validator", "run",
                   "--config", str(self.config_paths[index])]  # fmt: skip
        self.processes[index] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def wait_ready(self, index: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[index]
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                if process is not None and process.poll() is not None:
                    log = (self.directory / f"validator-{index}" / "log.txt").read_text()
                    raise RuntimeError(f"validator {index} exited: {log}")
                try:
                    if client.get(self.addresses[index] + "/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"validator {index} did not come up")
                time.sleep(0.05)

    def start_all(self) -> None:
        for index in range(len(self.processes)):
            self.start(index)
        for index in range(len(self.processes)):
            self.wait_ready(index)

    def kill(self, index: int, signal_number: int = signal.SIGKILL) -> None:
        process = self.processes[index]
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal_number)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.processes[index] = None

    def stop_all(self) -> None:
        for index in range(len(self.processes)):
            self.kill(index, signal.SIGTERM)

    def nodes(self, **options: float) -> list[RemoteValidatorNode]:
        return [
            RemoteValidatorNode(address, key.public_key, **options)  # type: ignore[arg-type]
            for address, key in zip(self.addresses, self.validator_keys, strict=True)
        ]

    def client(self, user_index: int, nodes: list[RemoteValidatorNode]) -> ChainClient:
        return ChainClient(
            self.user_chain_ids[user_index], self.user_keys[user_index], nodes,
            {Epoch(0): self.genesis.committee}, Epoch(0), request_timeout=10.0,
        )  # fmt: skip


__all__ = ["KeyPair", "ProcessNetwork", "free_port"]
