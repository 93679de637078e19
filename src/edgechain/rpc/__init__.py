"""edgechain.rpc: the wire between clients and validators.

ValidatorService       one validator's worker shards as a `ValidatorNode` (chains partitioned by id)
build_app/make_server  the service on HTTP with canonical-CBOR bodies, /metrics, websocket notifications
RemoteValidatorNode    a `ValidatorNode` across the network: bounded, timed, retried, typed errors
ValidatorConfig        a validator process's configuration file; run_validator starts one
"""

from __future__ import annotations

from edgechain.rpc.client import RemoteValidatorNode, close_nodes, remote_nodes
from edgechain.rpc.config import (
    InvalidValidatorConfig,
    ValidatorConfig,
    open_validator_service,
    run_validator,
)
from edgechain.rpc.errors import (
    AddressNotAllowed,
    MalformedMessage,
    MessageTooLarge,
    RemoteError,
    RpcError,
)
from edgechain.rpc.protocol import ErrorResponse, NewBlock, Subscription
from edgechain.rpc.server import build_app, make_server
from edgechain.rpc.service import ValidatorService, shard_of

__all__ = [
    "AddressNotAllowed",
    "ErrorResponse",
    "InvalidValidatorConfig",
    "MalformedMessage",
    "MessageTooLarge",
    "NewBlock",
    "RemoteError",
    "RemoteValidatorNode",
    "RpcError",
    "Subscription",
    "ValidatorConfig",
    "ValidatorService",
    "build_app",
    "close_nodes",
    "make_server",
    "open_validator_service",
    "remote_nodes",
    "run_validator",
    "shard_of",
]
