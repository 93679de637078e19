"""Errors of the core layer: validator workers, nodes and the chain client."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class NodeError(EdgechainError):
    """A validator refused a request, or a client could not get a quorum."""


class WorkerError(NodeError):
    """A validator worker refused a proposal, certificate, query or cross-chain request."""


class InactiveChain(WorkerError):
    """The chain does not exist (yet) on this validator, or it was closed."""

    def __init__(self, chain_id: object, reason: str = "is not active on this validator") -> None:
        super().__init__(f"chain {chain_id} {reason}")
        self.chain_id = chain_id


class InvalidOwner(WorkerError):
    """A proposal signed by a key that does not own the chain."""


class InvalidProposalSignature(WorkerError):
    """A proposal whose signature does not verify for the key it names."""


class UnexpectedBlockHeight(WorkerError):
    """A proposal or certificate for a height other than the chain's next one."""

    def __init__(self, chain_id: object, expected: object, found: object) -> None:
        super().__init__(
            f"chain {chain_id}: expected a block at height {expected}, got one at height {found}"
        )
        self.chain_id = chain_id
        self.expected_height = expected
        self.found_height = found


class UnexpectedPreviousHash(WorkerError):
    """A block whose previous-block hash is not the chain's tip."""


class StaleEpoch(WorkerError):
    """A proposal or certificate for an epoch this validator does not (or no longer) accept."""


class ConflictingProposal(WorkerError):
    """A proposal for a height and round at which this validator already voted for another block."""


class BlobsNotFound(WorkerError):
    """The validator does not hold every blob the block publishes; upload them and retry."""

    def __init__(self, blob_ids: list[object]) -> None:
        super().__init__(f"missing blobs: {', '.join(str(blob_id) for blob_id in blob_ids)}")
        self.blob_ids = blob_ids


class OutcomeMismatch(WorkerError):
    """Re-executing a certified block gave another outcome than the certificate's."""


class InvalidCrossChainRequest(WorkerError):
    """A cross-chain request whose bundles do not continue what the recipient already received."""


class ValidatorOffline(NodeError):
    """The validator did not answer (it is offline or unreachable)."""


class InvalidVote(NodeError):
    """A vote that a client refuses: bad signature, another value, an outsider or a duplicate."""


class QuorumNotReached(NodeError):
    """The client could not gather votes or confirmations worth a quorum."""

    def __init__(self, message: str, errors: dict[str, Exception] | None = None) -> None:
        details = "; ".join(f"{name}: {error}" for name, error in (errors or {}).items())
        super().__init__(f"{message}" + (f" ({details})" if details else ""))
        self.errors = dict(errors or {})


class ClientError(NodeError):
    """The chain client was asked for something it cannot do (no key, unknown chain, bad state)."""
