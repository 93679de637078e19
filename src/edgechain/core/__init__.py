"""edgechain.core: validator workers, the `ValidatorNode` seam, fault injection, the chain client, local networks.

WorkerState            handle proposals, certificates, cross-chain requests, chain-info queries
ValidatorNode          the async protocol a client talks to; LocalValidatorNode serves it in-process
FaultyValidatorNode    fault injection (FaultType: OFFLINE, SIGNS_WRONG_VALUE, EXECUTES_WRONGLY, SLOW)
ChainClient            propose, gather votes to a quorum, certify, broadcast, update lagging validators
LocalNetwork           genesis (admin chain + user chains) and N validators on memory or SQLite
"""

from __future__ import annotations

from edgechain.core.chain_info import ChainInfo, ChainInfoQuery, ChainInfoResponse
from edgechain.core.client import ChainClient, RejectedVoteRecord
from edgechain.core.cross_chain import ConfirmUpdatedRecipient, CrossChainRequest, UpdateRecipient
from edgechain.core.errors import (
    BlobsNotFound,
    ClientError,
    InvalidCrossChainRequest,
    MissingEarlierBlocks,
    NodeError,
    QuorumNotReached,
    RejectedVote,
    UnknownChain,
    ValidatorOffline,
    WorkerError,
)
from edgechain.core.faults import FaultType, FaultyValidatorNode
from edgechain.core.local_node import LocalValidatorNode
from edgechain.core.network import GenesisChain, GenesisConfig, LocalNetwork, derive_key_pair
from edgechain.core.node import ValidatorNode
from edgechain.core.worker import WorkerState

__all__ = [
    "BlobsNotFound",
    "ChainClient",
    "ChainInfo",
    "ChainInfoQuery",
    "ChainInfoResponse",
    "ClientError",
    "ConfirmUpdatedRecipient",
    "CrossChainRequest",
    "FaultType",
    "FaultyValidatorNode",
    "GenesisChain",
    "GenesisConfig",
    "InvalidCrossChainRequest",
    "LocalNetwork",
    "LocalValidatorNode",
    "MissingEarlierBlocks",
    "NodeError",
    "QuorumNotReached",
    "RejectedVote",
    "RejectedVoteRecord",
    "UnknownChain",
    "UpdateRecipient",
    "ValidatorNode",
    "ValidatorOffline",
    "WorkerError",
    "WorkerState",
    "derive_key_pair",
]
