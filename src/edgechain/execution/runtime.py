"""The runtime interfaces applications see: `ContractRuntime` (validators) and `ServiceRuntime` (user).

These Protocols are what ``edgechain.sdk`` re-exports; the implementations are
``edgechain.execution.user_execution.ContractRuntimeImpl`` and
``edgechain.execution.service_runtime.ServiceRuntimeImpl``. Every contract runtime call
charges fuel (and, where it reads or writes bytes, the block's byte counters) *before* it
acts. The service runtime has no write method at all.
"""

from __future__ import annotations

import mmap
from typing import Any, Protocol

from edgechain.base.identifiers import Account, AccountOwner, ApplicationId, BlobId, ChainId
from edgechain.base.values import Amount, BlockHeight, Timestamp

RUNTIME_CALL_FUEL = 10
"""Fuel of one contract runtime call, charged before it acts (bytes are charged besides)."""
BLOB_BYTES_PER_FUEL = 64
"""Bytes of a data blob that one unit of fuel pays for, when a contract reads it."""


class ContractRuntime(Protocol):
    """What a contract may ask of the validator executing it (deterministic, metered)."""

    def chain_id(self) -> ChainId:
        """The chain executing the contract."""
        ...

    def block_height(self) -> BlockHeight:
        """The height of the block being executed."""
        ...

    def system_time(self) -> Timestamp:
        """The block's timestamp (the same on every validator)."""
        ...

    def authenticated_owner(self) -> AccountOwner | None:
        """The owner who signed the block (operations) or the message (authenticated messages)."""
        ...

    def authenticated_caller_id(self) -> ApplicationId | None:
        """The application that called this one with ``authenticated=True``, if any."""
        ...

    def application_id(self) -> ApplicationId:
        """This application's id."""
        ...

    def application_creator_chain_id(self) -> ChainId:
        """The chain that created this application."""
        ...

    def application_parameters(self) -> Any:
        """The application's parameters, decoded as the ABI's ``Parameters``."""
        ...

    def check_account_permission(self, owner: AccountOwner) -> None:
        """Raise UnauthorizedOperation unless ``owner`` authenticated this call."""
        ...

    def send_message(
        self,
        destination: ChainId,
        message: Any,
        *,
        tracked: bool = False,
        authenticated: bool = False,
    ) -> None:
        """Send ``message`` (the ABI's ``Message``) to this application on ``destination``.

        ``tracked``: it bounces back if the receiver rejects it. ``authenticated``: it carries
        this call's authenticated owner.
        """
        ...

    def message_is_bouncing(self) -> bool | None:
        """While executing a message: whether it is a rejected tracked message coming back."""
        ...

    def message_origin_chain_id(self) -> ChainId | None:
        """While executing a message: the chain that sent it."""
        ...

    def call_application(
        self, application_id: ApplicationId, operation: Any, *, authenticated: bool = False
    ) -> Any:
        """Execute ``operation`` (the callee ABI's ``Operation``) in another application on this
        chain, now; return its response. An application already running may not be re-entered."""
        ...

    def read_data_blob(self, blob_id: BlobId) -> bytes:
        """The bytes of a data (or manifest) blob, charged by its size before they are read.

        A blob this validator does not store fails the whole block here (`BlobsNotFound`,
        which contract code cannot catch); the validator does not vote.
        """
        ...

    def assert_data_blob_exists(self, blob_id: BlobId) -> None:
        """Fail the block unless the data (or manifest) blob is stored here, as
        ``read_data_blob`` does (and charged as a read of it), without reading its bytes."""
        ...

    def transfer(self, source: AccountOwner | None, destination: Account, amount: Amount) -> None:
        """Move native tokens from ``source`` (an owner who authenticated this call, or None for
        the chain's balance, which needs a chain owner's signature) to ``destination``."""
        ...

    def remaining_fuel(self) -> int:
        """The fuel this transaction has left."""
        ...


class ServiceRuntime(Protocol):
    """What a service may ask of the node it runs on (read-only, un-metered)."""

    def chain_id(self) -> ChainId:
        """The chain whose state the service reads."""
        ...

    def application_id(self) -> ApplicationId:
        """This application's id."""
        ...

    def application_parameters(self) -> Any:
        """The application's parameters, decoded as the ABI's ``Parameters``."""
        ...

    def system_time(self) -> Timestamp:
        """The timestamp of the chain's latest block."""
        ...

    def next_block_height(self) -> BlockHeight:
        """The height the chain's next block will have."""
        ...

    def schedule_operation(self, operation: Any) -> None:
        """Ask for ``operation`` (the ABI's ``Operation``) to be proposed in the next block."""
        ...

    def read_data_blob(self, blob_id: BlobId) -> bytes | memoryview:
        """A data blob's bytes (a read-only memory map where the storage offers one)."""
        ...

    def open_file(self, manifest_id: BlobId) -> mmap.mmap:
        """The whole file a MANIFEST blob describes, as one read-only memory map (un-metered,
        never copied into Python bytes), verified against the manifest's length and BLAKE3."""
        ...

    def fetch_url(self, url: str) -> bytes:
        """GET ``url`` through httpx: only hosts on the allow-list, capped in size and time."""
        ...

    def query_application(self, application_id: ApplicationId, request: Any) -> Any:
        """Ask another application's service on this chain (its ``handle_query``)."""
        ...
