"""Errors of the core layer: validator workers, nodes and the chain client."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError
from edgechain.execution.errors import BlobsNotFound as BlobsNotFound  # one class for missing blobs


class NodeError(EdgechainError):
    """A validator refused a request, or a client could not get a quorum."""


class WorkerError(NodeError):
    """A validator worker refused a proposal, certificate, query or cross-chain request.

    Checks that belong to the chain's rules (height, previous hash, owner, epoch, inbox)
    raise the chain layer's errors (`edgechain.chain.errors`); these are the worker's own.
    """


class UnknownChain(WorkerError):
    """A proposal or timeout request for a chain this validator holds nothing of (not active,
    no block, nothing delivered to it); plain chain-info queries still answer (height 0)."""


class MissingEarlierBlocks(WorkerError):
    """A certificate for a height above the chain's next one: the earlier ones must come first."""

    def __init__(self, chain_id: object, next_height: object, found_height: object) -> None:
        super().__init__(
            f"chain {chain_id}: next height is {next_height}, got a certificate at {found_height}"
        )
        self.chain_id = chain_id
        self.next_height = next_height
        self.found_height = found_height



class InvalidCrossChainRequest(WorkerError):
    """A cross-chain request whose bundles are not backed by the sender's certificates."""


class ValidatorOffline(NodeError):
    """The validator did not answer (it is offline or unreachable)."""


class RejectedVote(NodeError):
    """A vote a client refuses: bad signature, another block, an outsider or a duplicate."""


class QuorumNotReached(NodeError):
    """The client could not gather votes or confirmations worth a quorum."""

    def __init__(self, message: str, errors: dict[str, Exception] | None = None) -> None:
        details = "; ".join(f"{name}: {error!r}" for name, error in (errors or {}).items())
        super().__init__(message + (f" ({details})" if details else ""))
        self.errors = dict(errors or {})


class ClientError(NodeError):
    """The chain client was asked for something it cannot do (no key, unknown chain, bad state)."""


class JsonArgumentError(ClientError, ValueError):
    """A JSON value (an application's parameters, argument or operation) that cannot be read as
    the declared type; ``path`` names the bad element (``$.accounts["ab…"]``)."""

    def __init__(self, path: str, reason: str, what: str = "") -> None:
        super().__init__(f"{what + ' ' if what else ''}{path}: {reason}")
        self.path = path
        """Where in the JSON value: ``$`` is the whole value, then ``.field``, ``[index]``, ``["key"]``."""
        self.reason = reason
        """What is wrong there."""
