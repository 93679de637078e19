"""Application descriptions and the per-chain registry of known applications.

An application is created from a published module by a ``CreateApplication`` operation;
its ``ApplicationId`` is the hash of its ``ApplicationDescription``. A chain knows an
application when it was created there, or when a message of it arrived there (the
description travels in every user message, so the receiver can check and register it).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import ApplicationId, BlobId, BlobType, ChainId, ModuleId
from edgechain.base.values import BlockHeight
from edgechain.views.composite_view import CompositeView
from edgechain.views.context import ViewContext


@dataclass(frozen=True, slots=True)
class ApplicationDescription:
    """Everything that identifies an application; its id is the hash of this."""

    module_id: ModuleId
    """The module (contract and service sources) it runs."""
    creator_chain_id: ChainId
    """The chain whose block created it."""
    block_height: BlockHeight
    """The height of that block."""
    operation_index: int
    """The position of the ``CreateApplication`` operation among that block's operations."""
    parameters: bytes
    """Immutable parameters, visible on every chain (encoded as the ABI's ``Parameters``)."""
    required_application_ids: list[ApplicationId]
    """Applications it may call (each known on the creator chain when it was created)."""

    def application_id(self) -> ApplicationId:
        """The id of the application: the hash of this description."""
        return ApplicationId(CryptoHash.of("ApplicationDescription", self))


def contract_blob_id(module_id: ModuleId) -> BlobId:
    """The blob holding a module's packed contract source."""
    return BlobId(BlobType.CONTRACT_BYTECODE, module_id.contract_blob_hash)


def service_blob_id(module_id: ModuleId) -> BlobId:
    """The blob holding a module's packed service source."""
    return BlobId(BlobType.SERVICE_BYTECODE, module_id.service_blob_hash)


class ApplicationStorageView(CompositeView):
    """One application's own key-value space inside the chain state (hashed with it)."""

    def __init__(self, context: ViewContext) -> None:
        super().__init__(context)
        self.entries = self.map("entries", bytes, bytes)
        """The application's keys and values, as the SDK's views lay them out."""
