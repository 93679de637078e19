"""One chain's execution state in memory, executed block by block without a network (tests here).

`Chain` keeps an `ExecutionStateView` over a `MemoryStore`; `Chain.block(blobs)` gives a
`BlockExecutor` for its next height that reads blobs from `blobs` (a validator's store), so
a test can run the same block against validators that hold different blobs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from probe_app import SOURCES

from edgechain.base import AccountOwner, Amount, BlockHeight, ChainId, Epoch, KeyPair, Timestamp
from edgechain.base.blobs import Blob
from edgechain.base.encoding import encode
from edgechain.base.identifiers import ApplicationId, BlobId
from edgechain.execution import (
    ApplicationDescription,
    BlockContext,
    BlockExecutor,
    ChainOwnership,
    Committee,
    CreateApplication,
    ExecutionStateView,
    InitialChainConfig,
    RootChain,
)
from edgechain.execution.modules import ApplicationModule, pack_application_sources
from edgechain.execution.operations import PublishModule, UserOperation
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.service_runtime import import_application_sources
from edgechain.views import MemoryStore, ViewContext

PROBE = import_application_sources(SOURCES).abi
PROBE_MODULE = pack_application_sources(SOURCES)

CATCHER_CONTRACT = textwrap.dedent(
    """\
    from __future__ import annotations

    from edgechain.sdk import Contract

    from .abi import Add, Call, Note, ProbeAbi, ReadBlob, Send
    from .state import ProbeState


    class CatcherContract(Contract):
        abi = ProbeAbi
        State = ProbeState

        def instantiate(self, argument: int) -> None:
            self.state.total.set(argument)
            if argument < 0:
                raise ValueError("negative start")

        def execute_operation(self, operation):
            if isinstance(operation, ReadBlob):
                try:
                    self.runtime.read_data_blob(operation.blob_id)
                    self.state.total.set(1)
                except Exception:
                    self.state.total.set(-1)
                return self.state.total.get()
            if isinstance(operation, Call):
                try:
                    return self.runtime.call_application(operation.target, Add(operation.value))
                except Exception:
                    self.state.total.set(-2)
                    return -2
            if isinstance(operation, Send):
                self.runtime.send_message(operation.destination, Note(operation.value))
                return 0
            if isinstance(operation, Add):
                raise ValueError("the catcher adds nothing")
            return 0

        def execute_message(self, message) -> None:
            raise ValueError("no messages")
    """
)
"""A contract that catches every error of its runtime calls (the attack on determinism)."""

CATCHER_MODULE = pack_application_sources(SOURCES | {"contract": CATCHER_CONTRACT})

HERE = ChainId.root(1)
SIGNER = AccountOwner.from_public_key(KeyPair.from_seed(bytes(31) + b"\x01").public_key)
COMMITTEE = Committee.of_equal_weights([KeyPair.from_seed(bytes(32)).public_key])


class MemoryBlobs:
    """A validator's blob store in memory; it records every blob whose bytes are read."""

    def __init__(self, blobs: Iterable[Blob] = ()) -> None:
        self.blobs = {blob.id: blob for blob in blobs}
        self.reads: list[BlobId] = []

    def without(self, *blob_ids: BlobId) -> MemoryBlobs:
        """Another validator's store: the same blobs except ``blob_ids``."""
        return type(self)(blob for blob_id, blob in self.blobs.items() if blob_id not in blob_ids)

    def missing_blobs(self, blob_ids: Sequence[BlobId]) -> list[BlobId]:
        return [blob_id for blob_id in blob_ids if blob_id not in self.blobs]

    def read_blob(self, blob_id: BlobId) -> Blob:
        self.reads.append(blob_id)
        return self.blobs[blob_id]


class SizedMemoryBlobs(MemoryBlobs):
    """A store that can tell a blob's size without reading it."""

    def blob_size(self, blob_id: BlobId) -> int:
        return self.blobs[blob_id].size


class VerifyingBlobs(SizedMemoryBlobs):
    """A store like `DbStorage` over a `BlobStore`: its checker reads (hashes) the blobs it
    checks, ``contains_blob`` only looks."""

    def missing_blobs(self, blob_ids: Sequence[BlobId]) -> list[BlobId]:
        self.reads.extend(blob_id for blob_id in blob_ids if blob_id in self.blobs)
        return super().missing_blobs(blob_ids)

    def contains_blob(self, blob_id: BlobId) -> bool:
        return blob_id in self.blobs


class Chain:
    """One chain's execution state, and executors for its blocks."""

    def __init__(self, policy: ResourceControlPolicy | None = None) -> None:
        self.policy = policy or ResourceControlPolicy.no_fees()
        self.state = ExecutionStateView(ViewContext(MemoryStore()))
        self.state.system.initialize(
            RootChain(1),
            InitialChainConfig(
                ChainOwnership.single(SIGNER),
                Epoch(0),
                ChainId.root(0),
                {Epoch(0): COMMITTEE},
                Amount.from_tokens(100),
                Timestamp(0),
            ),
        )
        self.height = 0

    def block(self, blobs: MemoryBlobs, published: Sequence[BlobId] = ()) -> BlockExecutor:
        """An executor for the next block, reading blobs from ``blobs``."""
        self.height += 1
        context = BlockContext(
            HERE, BlockHeight(self.height), Timestamp(self.height), SIGNER, list(published)
        )
        return self.state.block_executor(context, self.policy, blobs.missing_blobs, blobs)

    def publish(self, module: ApplicationModule, blobs: MemoryBlobs) -> None:
        """Publish ``module`` in a block of its own."""
        executor = self.block(blobs, [blob.id for blob in module.blobs])
        try:
            executor.execute_operation(PublishModule(module.module_id))
        finally:
            executor.close()

    def create(
        self, module: ApplicationModule, blobs: MemoryBlobs, start: int = 0
    ) -> ApplicationId:
        """Create an application of ``module`` (probe ABI: int parameters and argument)."""
        executor = self.block(blobs)
        try:
            executor.execute_operation(create_operation(module, start))
        finally:
            executor.close()
        return ApplicationDescription(
            module.module_id, HERE, BlockHeight(self.height), 0, encode(0, int), []
        ).application_id()

    def total(self, application_id: ApplicationId) -> Any:
        """The probe state's ``total`` register, as stored (None if never written)."""
        from edgechain.execution.storage_access import ApplicationStorage, ReadOnlyAccountant

        view = self.state.application_states.try_load_entry(application_id)
        if view is None:
            return None
        storage = ApplicationStorage(view, ReadOnlyAccountant("test"))
        return PROBE_STATE(storage).total.get()


def create_operation(module: ApplicationModule, start: int) -> CreateApplication:
    return CreateApplication(module.module_id, encode(0, int), encode(start, int), [])


def probe_operation(application_id: ApplicationId, operation: Any) -> UserOperation:
    return UserOperation(application_id, encode(operation, PROBE.ProbeAbi.Operation))


PROBE_STATE = import_application_sources(SOURCES).state.ProbeState
