"""Genesis and `LocalNetwork`: an admin chain, N user chains, a committee of validators, in one process.

Keys are derived from a seed (``derive_key_pair(seed, role, index)``), so tests and
demos are reproducible. Validators keep their state in memory, or in SQLite files (and
content-addressed blob stores) under a directory, which can be closed and reopened:
genesis is written only into empty stores.

    network = LocalNetwork.create(validator_count=4, user_chain_count=3, directory=tmp)
    client = network.client(0)                       # the owner of user chain 0
    await client.transfer_to_chain(Amount.from_tokens(5), network.user_chain_ids[1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import blake3

from edgechain.base.crypto import KeyPair
from edgechain.base.identifiers import AccountOwner, ChainId
from edgechain.base.values import Amount, Epoch, Timestamp
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.faults import FaultyValidatorNode
from edgechain.core.local_node import LocalValidatorNode
from edgechain.core.worker import WorkerState
from edgechain.execution.committee import Committee
from edgechain.execution.description import InitialChainConfig, RootChain
from edgechain.execution.ownership import ChainOwnership
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.storage.blob_store import BlobStore
from edgechain.storage.db_storage import DbStorage
from edgechain.storage.storage import Storage
from edgechain.views.memory_store import MemoryStore
from edgechain.views.sqlite_store import SqliteStore

GENESIS_TIMESTAMP = Timestamp(0)
"""The creation time of the genesis chains (any later block timestamp is valid)."""


def derive_key_pair(seed: int, role: str, index: int) -> KeyPair:
    """A deterministic key pair for ``role`` number ``index`` of a network built from ``seed``."""
    material = blake3.blake3(f"edgechain-genesis/{seed}/{role}/{index}".encode()).digest()
    return KeyPair.from_seed(material)


@dataclass(frozen=True, slots=True)
class GenesisChain:
    """One chain created at genesis."""

    description: RootChain
    """Its description (its id is the hash of it)."""
    config: InitialChainConfig
    """Its owner, epoch, committees and balance."""

    @property
    def chain_id(self) -> ChainId:
        return self.description.chain_id()


@dataclass(frozen=True, slots=True)
class GenesisConfig:
    """Everything every validator starts from: the committee and the root chains."""

    committee: Committee
    """The committee of epoch 0."""
    admin_id: ChainId
    """The admin chain (root chain 0)."""
    chains: list[GenesisChain]
    """The admin chain first, then the user chains."""

    @classmethod
    def new(
        cls,
        committee: Committee,
        admin_owner: AccountOwner,
        user_owners: Sequence[AccountOwner],
        balances: Sequence[Amount],
    ) -> GenesisConfig:
        """An admin chain owned by ``admin_owner`` and one user chain per owner, with balances."""
        if len(user_owners) != len(balances):
            raise ClientError(f"{len(user_owners)} owners but {len(balances)} balances")
        admin_id = RootChain(0).chain_id()
        committees = {Epoch(0): committee}

        def chain(index: int, owner: AccountOwner, balance: Amount) -> GenesisChain:
            config = InitialChainConfig(
                ownership=ChainOwnership.single(owner),
                epoch=Epoch(0),
                admin_id=admin_id,
                committees=committees,
                balance=balance,
                timestamp=GENESIS_TIMESTAMP,
            )
            return GenesisChain(RootChain(index), config)

        chains = [chain(0, admin_owner, Amount.zero())]
        chains += [
            chain(index + 1, owner, balance)
            for index, (owner, balance) in enumerate(zip(user_owners, balances, strict=True))
        ]
        return cls(committee, admin_id, chains)

    def initialize(self, storage: Storage) -> None:
        """Write the genesis chains into ``storage`` unless they are there already.

        Every other genesis chain is subscribed to the admin chain, so that it hears of new
        and removed committees.
        """
        for genesis_chain in self.chains:
            chain = storage.load_chain(genesis_chain.chain_id)
            if chain.is_active():
                continue
            chain.initialize(genesis_chain.description, genesis_chain.config)
            if genesis_chain.chain_id == self.admin_id:
                for subscriber in self.chains:
                    if subscriber.chain_id != self.admin_id:
                        chain.execution_state.system.subscribers.insert(subscriber.chain_id)
            chain.save()


class LocalNetwork:
    """Validators, genesis chains and their owners' keys, all in this process."""

    def __init__(
        self,
        genesis: GenesisConfig,
        validator_keys: list[KeyPair],
        admin_key: KeyPair,
        user_keys: list[KeyPair],
        storages: list[DbStorage],
    ) -> None:
        self.genesis = genesis
        """The committee and the genesis chains."""
        self.validator_keys = validator_keys
        """One key per validator, in committee order."""
        self.admin_key = admin_key
        """The admin chain owner's key."""
        self.user_keys = user_keys
        """The owner's key of each user chain."""
        self.storages = storages
        """Each validator's storage."""
        self.workers = [
            WorkerState(storage, key) for storage, key in zip(storages, validator_keys, strict=True)
        ]
        """Each validator's worker (all its chains)."""
        self.local_nodes = [LocalValidatorNode(worker) for worker in self.workers]
        """Each validator served in-process, without faults."""
        self.nodes = [
            FaultyValidatorNode(node, key)
            for node, key in zip(self.local_nodes, validator_keys, strict=True)
        ]
        """What clients talk to: each validator behind a fault injector (no fault by default)."""

    @classmethod
    def create(
        cls,
        validator_count: int = 4,
        user_chain_count: int = 3,
        initial_balance: Amount | None = None,
        directory: Path | str | None = None,
        seed: int = 0,
        policy: ResourceControlPolicy | None = None,
    ) -> LocalNetwork:
        """Build (or, with a ``directory`` holding one, reopen) a network.

        With ``directory`` each validator keeps ``validator-<i>.sqlite`` and a blob store
        ``validator-<i>-blobs/`` there; without, everything is in memory.
        """
        if validator_count < 1 or user_chain_count < 0:
            raise ClientError("a network needs at least one validator and no negative chain count")
        balance = initial_balance if initial_balance is not None else Amount.from_tokens(100)
        validator_keys = [derive_key_pair(seed, "validator", i) for i in range(validator_count)]
        admin_key = derive_key_pair(seed, "admin", 0)
        user_keys = [derive_key_pair(seed, "user", i) for i in range(user_chain_count)]
        committee = Committee.of_equal_weights([key.public_key for key in validator_keys], policy)
        genesis = GenesisConfig.new(
            committee,
            AccountOwner.from_public_key(admin_key.public_key),
            [AccountOwner.from_public_key(key.public_key) for key in user_keys],
            [balance] * user_chain_count,
        )
        storages = [_open_storage(directory, index) for index in range(validator_count)]
        for storage in storages:
            genesis.initialize(storage)
        return cls(genesis, validator_keys, admin_key, user_keys, storages)

    @property
    def admin_id(self) -> ChainId:
        return self.genesis.admin_id

    @property
    def user_chain_ids(self) -> list[ChainId]:
        return [chain.chain_id for chain in self.genesis.chains[1:]]

    @property
    def committee(self) -> Committee:
        return self.genesis.committee

    def client(self, user_index: int, request_timeout: float = 10.0) -> ChainClient:
        """A client for user chain ``user_index``, holding its owner's key.

        It starts from genesis; call ``synchronize()`` to catch up with an existing chain.
        """
        return self.client_for(
            self.user_chain_ids[user_index], self.user_keys[user_index], request_timeout
        )

    def admin_client(self, request_timeout: float = 10.0) -> ChainClient:
        return self.client_for(self.admin_id, self.admin_key, request_timeout)

    def client_for(
        self, chain_id: ChainId, key_pair: KeyPair | None, request_timeout: float = 10.0
    ) -> ChainClient:
        """A client for any chain (a child chain, say) with the given owner key."""
        return ChainClient(
            chain_id,
            key_pair,
            self.nodes,
            {Epoch(0): self.committee},
            Epoch(0),
            request_timeout=request_timeout,
        )

    def close(self) -> None:
        """Close every validator's storage (SQLite files can then be reopened)."""
        for storage in self.storages:
            storage.close()

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_storage(directory: Path | str | None, index: int) -> DbStorage:
    if directory is None:
        return DbStorage(MemoryStore())
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(root / f"validator-{index}.sqlite")
    # The committee's policy limits blob sizes when blocks execute; the store takes what it allowed.
    return DbStorage(store, BlobStore(root / f"validator-{index}-blobs", max_blob_size=None))
