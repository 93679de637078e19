"""Errors of the rpc layer: the wire between clients and validators.

    NodeError (edgechain.core)
    └── RpcError                    something went wrong on the wire
        ├── MessageTooLarge         a request or response body above the size limit
        ├── MalformedMessage        bytes that are not the expected message
        ├── RemoteError             the validator failed with an error this client cannot name
        ├── AddressNotAllowed       a listening or connecting address outside loopback
        └── WrongShard              a request for a chain that another shard process holds
"""

from __future__ import annotations

from edgechain.core.errors import NodeError


class RpcError(NodeError):
    """A failure of the wire protocol between a client and a validator."""


class MessageTooLarge(RpcError):
    """A request or response body above the configured size limit."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class MalformedMessage(RpcError):
    """Bytes that do not decode as the message the endpoint expects."""


class RemoteError(RpcError):
    """The validator answered with an error whose type is not one of edgechain's."""


class AddressNotAllowed(RpcError):
    """An address outside the loopback interface (only loopback is served or dialled)."""


class WrongShard(RpcError):
    """A request for a chain that another shard process of this validator holds."""
