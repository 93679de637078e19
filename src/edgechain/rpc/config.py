"""A validator process's configuration file, and starting a validator from it.

The file is JSON (written by ``edgechain net up``, readable and editable by hand):

    {"name": "validator-0", "key_seed": "<64 hex digits>", "host": "127.0.0.1",
     "port": 13100, "storage": "sqlite:/net/validator-0/state.sqlite",
     "namespace": "validator_0", "blob_dir": "/net/validator-0/blobs", "shards": 1,
     "genesis": "/net/genesis.cbor", "max_message_size": 67108864}

``storage`` is a store URL (``sqlite:PATH`` or ``postgresql://…``); ``namespace`` picks
the table in it, so several validators can share one PostgreSQL database while the
shards of one validator share one table. ``genesis`` is the canonical encoding of a
`GenesisConfig`, written into an empty store on first start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgechain.base.crypto import KeyPair
from edgechain.base.encoding import decode
from edgechain.core.network import GenesisConfig
from edgechain.rpc.client import RemoteValidatorNode
from edgechain.rpc.errors import RpcError
from edgechain.rpc.protocol import DEFAULT_MAX_MESSAGE_SIZE, check_loopback_host
from edgechain.rpc.proxy import ValidatorProxy
from edgechain.rpc.server import make_server
from edgechain.rpc.service import CrossChainPeer, ValidatorService
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.db_storage import DbStorage
from edgechain.views.open_store import open_store


class InvalidValidatorConfig(RpcError):
    """A validator configuration file that is missing, unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class ValidatorConfig:
    """Everything one validator process needs to start."""

    name: str
    """A name for logs and files (``validator-0``)."""
    key_seed: str
    """Hex of the 32-byte seed of the validator's signing key."""
    host: str
    """The loopback address to listen on."""
    port: int
    """The TCP port to listen on."""
    storage: str
    """The key-value store URL (``sqlite:PATH`` or ``postgresql://…``)."""
    namespace: str
    """The table inside the store."""
    blob_dir: str
    """The content-addressed blob store's directory."""
    shards: int
    """How many worker shards (chains are partitioned among them by id)."""
    genesis: str
    """Path of the genesis file (canonical CBOR of a `GenesisConfig`)."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Largest request body accepted, in bytes."""
    shard_ports: list[int] = field(default_factory=list)
    """Empty: the ``shards`` run as threads of one process. Else one port per shard: each
    shard is its own process (``validator run --shard I``) on that port, and ``port`` is a
    proxy routing requests to them."""

    @property
    def key_pair(self) -> KeyPair:
        return KeyPair.from_seed(bytes.fromhex(self.key_seed))

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    def save(self, path: Path) -> None:
        """Write the file, readable by its owner only (it holds the validator's key seed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(self), file, indent=2)

    @classmethod
    def load(cls, path: Path) -> ValidatorConfig:
        try:
            raw = json.loads(Path(path).read_text())
            config = cls(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidValidatorConfig(f"cannot read validator config {path}: {exc}") from exc
        if config.shards < 1:
            raise InvalidValidatorConfig(f"{path}: shards must be at least 1, not {config.shards}")
        try:
            bytes.fromhex(config.key_seed)
        except ValueError as exc:
            raise InvalidValidatorConfig(f"{path}: key_seed is not hex") from exc
        check_loopback_host(config.host)
        if config.shard_ports and len(config.shard_ports) != config.shards:
            raise InvalidValidatorConfig(
                f"{path}: {len(config.shard_ports)} shard ports for {config.shards} shards"
            )
        return config

    def shard_address(self, shard: int) -> str:
        return f"http://{self.host}:{self.shard_ports[shard]}"


def open_validator_service(config: ValidatorConfig, shard: int | None = None) -> ValidatorService:
    """Open the validator's store and blob store, write genesis if the store is empty, and
    return its service: all ``config.shards`` shards as threads, or with ``shard`` given, that
    one shard of a validator whose shards are processes."""
    try:
        genesis: GenesisConfig = decode(Path(config.genesis).read_bytes(), GenesisConfig)
    except OSError as exc:
        raise InvalidValidatorConfig(f"cannot read genesis file {config.genesis}: {exc}") from exc
    key_pair = config.key_pair
    if key_pair.public_key not in genesis.committee.validators:
        raise InvalidValidatorConfig(
            f"{config.name}: key {key_pair.public_key} is not in the genesis committee"
        )
    store = open_store(config.storage, config.namespace)
    blob_store = BlobStore(config.blob_dir)
    genesis.initialize(DbStorage(store, blob_store))
    if shard is None:
        storages = [DbStorage(store, blob_store) for _ in range(config.shards)]
        return ValidatorService(key_pair, storages)
    peers: dict[int, CrossChainPeer] = {
        index: RemoteValidatorNode(config.shard_address(index), key_pair.public_key)
        for index in range(config.shards)
        if index != shard
    }
    return ValidatorService(
        key_pair, [DbStorage(store, blob_store)], process_shard=(shard, config.shards), peers=peers
    )


def run_validator(config: ValidatorConfig, shard: int | None = None) -> None:
    """Serve the validator (or, with ``shard``, one of its shard processes) until SIGINT/SIGTERM.

    A validator whose shards are processes is served by a proxy on ``config.port``."""
    if shard is not None and not 0 <= shard < len(config.shard_ports):
        raise InvalidValidatorConfig(
            f"{config.name}: no shard {shard} (the config lists {len(config.shard_ports)} shard ports)"
        )
    if config.shard_ports and shard is None:
        proxy = ValidatorProxy(
            config.key_pair.public_key,
            [RemoteValidatorNode(config.shard_address(i), config.key_pair.public_key)
             for i in range(config.shards)],
        )  # fmt: skip
        make_server(proxy, config.host, config.port, config.max_message_size).run()
        return
    service = open_validator_service(config, shard)
    port = config.port if shard is None else config.shard_ports[shard]
    server = make_server(service, config.host, port, config.max_message_size)
    try:
        server.run()  # uvicorn's loop: uvloop and httptools when installed
    finally:
        service.close()
