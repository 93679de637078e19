"""Operations: what a block's owner asks the chain to do (system operations or user operations).

Each system operation is a frozen dataclass; ``SystemOperation`` is their union, which the
canonical encoding tags with the class name. ``UserOperation`` carries an application's own
serialized operation, executed by that application's contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.identifiers import (
    Account,
    AccountOwner,
    ApplicationId,
    BlobId,
    ChainId,
    ModuleId,
)
from edgechain.base.values import Amount, Epoch
from edgechain.execution.committee import Committee
from edgechain.execution.ownership import ChainOwnership


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move tokens from this chain (its balance or an owner's) to an account here or elsewhere."""

    owner: AccountOwner | None
    """Whose balance is debited: an owner on this chain, or None for the chain's own balance."""
    recipient: Account
    """Where the tokens go (a different chain receives them through a ``Credit`` message)."""
    amount: Amount
    """How much (more than zero)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """Withdraw tokens that ``owner`` holds on another chain, to an account of its choice."""

    owner: AccountOwner
    """The owner of the account on ``target_id`` (must be the block's authenticated signer)."""
    target_id: ChainId
    """The chain holding the owner's tokens."""
    recipient: Account
    """Where the tokens go."""
    amount: Amount
    """How much (more than zero)."""


@dataclass(frozen=True, slots=True)
class OpenChain:
    """Open a child chain with the given owners and a balance taken from this chain's balance."""

    ownership: ChainOwnership
    """Who will own the new chain."""
    balance: Amount
    """Tokens moved from this chain's balance to the new chain's."""


@dataclass(frozen=True, slots=True)
class ChangeOwnership:
    """Replace the owners of this chain and the rules of its rounds."""

    ownership: ChainOwnership
    """The new ownership (not empty: use ``CloseChain`` to stop a chain)."""


@dataclass(frozen=True, slots=True)
class CloseChain:
    """Close this chain: it will execute no more operations and accept no more messages."""


@dataclass(frozen=True, slots=True)
class PublishDataBlob:
    """Publish a data blob whose bytes travel beside the block (listed in ``published_blob_ids``)."""

    blob_id: BlobId
    """The content address of the blob."""


@dataclass(frozen=True, slots=True)
class CreateCommittee:
    """(Admin chain only.) Start a new epoch with a new committee, announced to every subscriber."""

    epoch: Epoch
    """The new epoch: exactly one more than the current one."""
    committee: Committee
    """Its validators and policy."""


@dataclass(frozen=True, slots=True)
class RemoveCommittee:
    """(Admin chain only.) Stop trusting the committee of an old epoch."""

    epoch: Epoch
    """The epoch to remove (not the current one)."""


@dataclass(frozen=True, slots=True)
class PublishModule:
    """Publish an application module: its contract and service bytecode blobs travel beside the block.

    Both blobs (``BlobType.CONTRACT_BYTECODE`` and ``BlobType.SERVICE_BYTECODE``) must be in
    the block's ``published_blob_ids``; the contract is checked by the sandbox's policy here,
    so a module whose contract breaks a rule is refused at publication.
    """

    module_id: ModuleId
    """The hashes of the packed contract and service sources."""


@dataclass(frozen=True, slots=True)
class CreateApplication:
    """Create an application from a published module; its contract's ``instantiate`` runs now."""

    module_id: ModuleId
    """The module (published on this chain by a ``PublishModule`` of this or an earlier block)."""
    parameters: bytes
    """Immutable parameters, visible on every chain (encoded as the ABI's ``Parameters``)."""
    instantiation_argument: bytes
    """The argument of ``instantiate``, seen only on this chain (the ABI's ``InstantiationArgument``)."""
    required_application_ids: list[ApplicationId]
    """Applications this one calls; each must already be known on this chain."""


SystemOperation = (
    Transfer
    | Claim
    | OpenChain
    | ChangeOwnership
    | CloseChain
    | PublishDataBlob
    | CreateCommittee
    | RemoveCommittee
    | PublishModule
    | CreateApplication
)
"""An operation of the system application."""

SYSTEM_OPERATION_TYPES: tuple[type, ...] = (
    Transfer,
    Claim,
    OpenChain,
    ChangeOwnership,
    CloseChain,
    PublishDataBlob,
    CreateCommittee,
    RemoveCommittee,
    PublishModule,
    CreateApplication,
)
"""The classes of ``SystemOperation``, for isinstance checks."""


@dataclass(frozen=True, slots=True)
class UserOperation:
    """An operation for a user application, executed by its contract."""

    application_id: ApplicationId
    """The application that executes it."""
    payload: bytes
    """The operation, serialized as the application's ABI says."""


Operation = SystemOperation | UserOperation
"""Anything a block may carry as an operation."""
