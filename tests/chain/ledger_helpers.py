"""A small in-memory ledger for chain tests: an admin chain and user chains, moved by hand.

Each chain is a `ChainStateView` on its own `MemoryStore`. `Ledger.execute` runs a block
with `execute_block` and saves it; `Ledger.deliver` moves its outgoing messages into the
recipients' inboxes, as the validators' workers would after certification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from edgechain.base import (
    Account,
    AccountOwner,
    Amount,
    BlobId,
    BlockHeight,
    ChainId,
    Epoch,
    KeyPair,
    Timestamp,
)
from edgechain.chain import (
    Block,
    BlockExecutionOutcome,
    ChainStateView,
    ConfirmedBlock,
    ExecutedBlock,
    IncomingBundle,
    MessageAction,
    execute_block,
)
from edgechain.execution import (
    ChainOwnership,
    Committee,
    InitialChainConfig,
    Operation,
    ResourceControlPolicy,
    RootChain,
    Transfer,
)
from edgechain.views import MemoryStore, ViewContext

ADMIN_INDEX = 0
START_TIME = 1_000_000


def key_pair(index: int) -> KeyPair:
    """A deterministic key pair for tests."""
    return KeyPair.from_seed(index.to_bytes(32, "big"))


def owner_of(pair: KeyPair) -> AccountOwner:
    return AccountOwner.from_public_key(pair.public_key)


def all_blobs_available(blob_ids: Sequence[BlobId]) -> Sequence[BlobId]:
    return []


def new_chain_state(chain_id: ChainId, store: MemoryStore | None = None) -> ChainStateView:
    return ChainStateView(ViewContext(store if store is not None else MemoryStore()), chain_id)


@dataclass
class Ledger:
    """Chains of one committee, each with one owner, and the blocks executed so far."""

    committee: Committee
    stores: dict[ChainId, MemoryStore] = field(default_factory=dict)
    chains: dict[ChainId, ChainStateView] = field(default_factory=dict)
    owners: dict[ChainId, KeyPair] = field(default_factory=dict)
    clock: int = START_TIME
    blocks: list[ExecutedBlock] = field(default_factory=list)
    last_delivered: dict[tuple[ChainId, ChainId], BlockHeight] = field(default_factory=dict)
    """Per (sender, recipient): the height of the last block delivered, the next one's predecessor."""

    @property
    def admin_id(self) -> ChainId:
        return ChainId.root(ADMIN_INDEX)

    def add_root_chain(self, index: int, balance: Amount, pair: KeyPair) -> ChainId:
        chain_id = ChainId.root(index)
        store = MemoryStore()
        state = new_chain_state(chain_id, store)
        state.initialize(
            RootChain(index),
            InitialChainConfig(
                ownership=ChainOwnership.single(owner_of(pair)),
                epoch=Epoch(0),
                admin_id=self.admin_id,
                committees={Epoch(0): self.committee},
                balance=balance,
                timestamp=Timestamp(START_TIME),
            ),
        )
        if index == ADMIN_INDEX:
            for other in self.chains:
                state.execution_state.system.subscribers.insert(other)
        elif self.admin_id in self.chains:
            admin = self.chains[self.admin_id]
            admin.execution_state.system.subscribers.insert(chain_id)
            admin.save()
        state.save()
        self.stores[chain_id] = store
        self.chains[chain_id] = state
        self.owners[chain_id] = pair
        return chain_id

    def add_chain(self, chain_id: ChainId, pair: KeyPair) -> ChainStateView:
        """Track a chain that is not open yet (a child chain)."""
        store = MemoryStore()
        state = new_chain_state(chain_id, store)
        self.stores[chain_id] = store
        self.chains[chain_id] = state
        self.owners[chain_id] = pair
        return state

    def tick(self) -> Timestamp:
        self.clock += 1_000
        return Timestamp(self.clock)

    def make_block(
        self,
        chain_id: ChainId,
        operations: list[Operation] | None = None,
        incoming: list[IncomingBundle] | None = None,
        published_blob_ids: list[BlobId] | None = None,
        signer: AccountOwner | str | None = "owner",
        timestamp: Timestamp | None = None,
    ) -> Block:
        state = self.chains[chain_id]
        tip = state.tip_state.get()
        system = state.execution_state.system
        epoch = system.epoch.get() if system.is_active() else Epoch(0)
        return Block(
            chain_id=chain_id,
            epoch=epoch,
            height=tip.next_block_height,
            timestamp=timestamp if timestamp is not None else self.tick(),
            authenticated_signer=owner_of(self.owners[chain_id]) if signer == "owner" else signer,  # type: ignore[arg-type]
            previous_block_hash=tip.block_hash,
            incoming_bundles=incoming if incoming is not None else [],
            operations=operations if operations is not None else [],
            published_blob_ids=published_blob_ids if published_blob_ids is not None else [],
        )

    def execute(self, block: Block, local_time: Timestamp | None = None) -> ExecutedBlock:
        state = self.chains[block.chain_id]
        outcome: BlockExecutionOutcome = execute_block(
            state,
            block,
            local_time if local_time is not None else Timestamp(self.clock + 10_000_000),
            all_blobs_available,
        )
        state.save()
        executed = ExecutedBlock(block, outcome)
        self.blocks.append(executed)
        return executed

    def deliver(self, executed: ExecutedBlock) -> None:
        """Put the block's outgoing messages into the recipients' inboxes (tracked chains only)."""
        certificate_hash = ConfirmedBlock(executed).hash()
        for recipient in executed.recipients():
            if recipient not in self.chains:
                continue
            state = self.chains[recipient]
            bundles = executed.message_bundles_for(recipient, certificate_hash)
            link = (executed.block.chain_id, recipient)
            state.receive_bundles(executed.block.chain_id, bundles, self.last_delivered.get(link))
            state.save()
            self.last_delivered[link] = executed.block.height

    def run(self, block: Block) -> ExecutedBlock:
        """Execute and deliver."""
        executed = self.execute(block)
        self.deliver(executed)
        return executed

    def pending(
        self, chain_id: ChainId, action: MessageAction = MessageAction.ACCEPT
    ) -> list[IncomingBundle]:
        """Every received bundle not yet taken (protected ones accepted), in inbox order."""
        return self.chains[chain_id].pending_incoming_bundles(action)

    def transfer(
        self, sender: ChainId, recipient: ChainId, amount: Amount, owner: AccountOwner | None = None
    ) -> ExecutedBlock:
        return self.run(self.make_block(sender, [Transfer(owner, Account(recipient), amount)]))

    def receive_all(self, chain_id: ChainId) -> ExecutedBlock:
        return self.run(self.make_block(chain_id, incoming=self.pending(chain_id)))

    def balance(self, chain_id: ChainId, owner: AccountOwner | None = None) -> Amount:
        return self.chains[chain_id].execution_state.system.owner_balance(owner)


def make_ledger(
    balances: Sequence[int],
    policy: ResourceControlPolicy | None = None,
    validators: int = 4,
    admin_balance: int = 0,
) -> Ledger:
    """An admin chain (index 0) and one chain per balance (indices 1..), each with its owner."""
    committee = Committee.of_equal_weights(
        [key_pair(1000 + index).public_key for index in range(validators)],
        policy if policy is not None else ResourceControlPolicy.no_fees(),
    )
    ledger = Ledger(committee)
    ledger.add_root_chain(ADMIN_INDEX, Amount(admin_balance), key_pair(0))
    for index, balance in enumerate(balances, start=1):
        ledger.add_root_chain(index, Amount(balance), key_pair(index))
    return ledger


def chain(index: int) -> ChainId:
    return ChainId.root(index)


def state_snapshot(state: ChainStateView) -> tuple[object, ...]:
    """Everything a failed block must leave unchanged."""
    return (
        state.execution_state.hash(),
        state.tip_state.get(),
        state.inboxes.hash(),
        state.outboxes.hash(),
        state.confirmed_log.count(),
        state.has_pending_changes(),
    )
