"""Errors of the execution layer: system operations, policy limits, contracts, the sandbox."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import BlobId
from edgechain.base.values import Amount


class ExecutionError(EdgechainError):
    """An operation or message could not be executed; the block that carries it fails."""


class InsufficientFunding(ExecutionError):
    """A debit larger than the balance of the account it is taken from."""

    def __init__(self, account: str, balance: Amount, amount: Amount) -> None:
        super().__init__(f"insufficient funding in {account}: balance {balance}, needed {amount}")
        self.account = account
        self.balance = balance
        self.amount = amount


class UnauthorizedOperation(ExecutionError):
    """An operation or message whose authenticated signer may not do what it asks."""


class ChainClosed(ExecutionError):
    """An operation on a chain that has been closed."""


class ChainNotActive(ExecutionError):
    """A chain that has not been opened (no description, ownership or committee yet)."""


class InvalidTransferAmount(ExecutionError):
    """A transfer or claim of a zero amount."""


class InvalidOwnership(ExecutionError):
    """Ownership data that cannot work: no owner, a zero weight, or bad round settings."""


class NotAdminChain(ExecutionError):
    """A committee operation on a chain that is not the admin chain."""


class InvalidCommitteeEpoch(ExecutionError):
    """A committee created for an epoch other than the next one, or removal of an unknown or the current epoch."""


class UnexpectedMessageOrigin(ExecutionError):
    """A system message received from a chain that may not send it (e.g. committees not from the admin chain)."""


class BlobsNotFound(ExecutionError):
    """Blobs a block publishes or reads that this node does not hold (or cannot read intact).

    It depends on the node, not on the chain: the block fails on this node, which does not
    vote (contract code cannot catch it); the client uploads the blobs and asks again.
    """

    def __init__(self, blob_ids: list[BlobId]) -> None:
        shown = ", ".join(str(blob_id) for blob_id in blob_ids)
        super().__init__(f"{len(blob_ids)} blob(s) not found: {shown}")
        self.blob_ids = blob_ids


class BlobNotListed(ExecutionError):
    """A PublishDataBlob operation whose blob id is missing from the block's published blob ids."""


class PolicyLimitExceeded(ExecutionError):
    """A block, blob or message beyond a limit of the resource-control policy."""


class InsufficientFundingForFees(ExecutionError):
    """A chain whose balance cannot pay the fees of its block."""


class UnsupportedApplication(ExecutionError):
    """A user operation or message for an application that this node cannot execute."""


class InvalidCommittee(ExecutionError):
    """A committee without validators or with a non-positive weight."""


class SandboxViolation(ExecutionError):
    """Contract code that breaks a rule of the sandbox, refused at compilation or when it runs."""

    def __init__(
        self, construct: str, filename: str | None = None, line: int | None = None
    ) -> None:
        where = (
            f"{filename or '<contract>'}:{line}" if line is not None else (filename or "<contract>")
        )
        super().__init__(f"sandbox violation at {where}: {construct}")
        self.construct = construct
        self.filename = filename
        self.line = line


class OutOfFuel(ExecutionError):
    """Contract execution that needed more fuel than its meter had left; its effects roll back."""

    def __init__(self, limit: int, used: int, requested: int) -> None:
        super().__init__(f"out of fuel: needed {requested} more with {used} of {limit} used")
        self.limit = limit
        self.used = used
        self.requested = requested


class ContractFailed(ExecutionError):
    """A contract raised an exception of its own; the operation fails and its effects roll back."""


class UnknownSystemOperation(ExecutionError):
    """A value passed as a system operation or message that is none of their variants."""


class InvalidModule(ExecutionError):
    """An application module whose blobs are not a valid pack of its sources."""


class UnknownApplication(UnsupportedApplication):
    """An operation, message or call for an application this chain does not know."""


class ApplicationReentrancy(ExecutionError):
    """A contract call into an application that is already running in this transaction."""


class ServiceWriteAttempt(ExecutionError):
    """A service (read-only) tried to change application state."""


class FetchRefused(ExecutionError):
    """A service's ``fetch_url`` that the configuration does not allow, or that failed."""


class InvalidApplicationData(ExecutionError):
    """Operation, message, parameter or argument bytes that do not decode as the ABI says."""


class ContractTimedOut(ExecutionError):
    """Contract code ran past the validator's wall-clock backstop. Unlike `OutOfFuel` this is
    not deterministic: a validator that sees it should not vote for the block, not record it."""


class ModuleNotPublished(ExecutionError):
    """A CreateApplication for a module that no block of this chain has published (PublishModule)."""


class FileNotOpened(ExecutionError):
    """A service's ``open_file`` whose manifest or chunks the node cannot serve as one verified file."""


class PinnedFileMismatch(ExecutionError):
    """A file whose BLAKE3 is not the one an application pinned; nothing was parsed or kept."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(f"{what}: BLAKE3 is {actual}, but {expected} was pinned")
        self.what = what
        self.expected = expected
        self.actual = actual
