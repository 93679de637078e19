"""edgechain.execution: the system application, committees, the resource-control policy.

Public API: committees (`Committee`, `ValidatorState`), `ResourceControlPolicy`,
ownership (`ChainOwnership`, `TimeoutConfig`), chain descriptions, system operations and
messages, and the execution state views.
"""

from edgechain.execution.blobs import BlobChecker, check_blobs_available
from edgechain.execution.committee import Committee, ValidatorState
from edgechain.execution.description import (
    ChainDescription,
    ChildChain,
    InitialChainConfig,
    RootChain,
)
from edgechain.execution.errors import (
    BlobNotListed,
    BlobsNotFound,
    ChainClosed,
    ChainNotActive,
    ExecutionError,
    InsufficientFunding,
    InsufficientFundingForFees,
    InvalidCommittee,
    InvalidCommitteeEpoch,
    InvalidOwnership,
    InvalidTransferAmount,
    NotAdminChain,
    PolicyLimitExceeded,
    UnauthorizedOperation,
    UnexpectedMessageOrigin,
    UnsupportedApplication,
)
from edgechain.execution.messages import (
    CommitteeCreated,
    CommitteeRemoved,
    Credit,
    Message,
    MessageAction,
    MessageKind,
    OpenChainMessage,
    OutgoingMessage,
    Subscribe,
    SystemMessage,
    UserMessage,
    Withdraw,
)
from edgechain.execution.operations import (
    ChangeOwnership,
    Claim,
    CloseChain,
    CreateCommittee,
    OpenChain,
    Operation,
    PublishDataBlob,
    RemoveCommittee,
    SystemOperation,
    Transfer,
    UserOperation,
)
from edgechain.execution.ownership import ChainOwnership, TimeoutConfig
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.state import BlockExecutor, ExecutionStateView
from edgechain.execution.system import BlockContext, SystemExecution
from edgechain.execution.system_state import SystemExecutionStateView

__all__ = [
    "BlobChecker",
    "BlobNotListed",
    "BlobsNotFound",
    "BlockContext",
    "BlockExecutor",
    "ChainClosed",
    "ChainDescription",
    "ChainNotActive",
    "ChainOwnership",
    "ChangeOwnership",
    "ChildChain",
    "Claim",
    "CloseChain",
    "Committee",
    "CommitteeCreated",
    "CommitteeRemoved",
    "CreateCommittee",
    "Credit",
    "ExecutionError",
    "ExecutionStateView",
    "InitialChainConfig",
    "InsufficientFunding",
    "InsufficientFundingForFees",
    "InvalidCommittee",
    "InvalidCommitteeEpoch",
    "InvalidOwnership",
    "InvalidTransferAmount",
    "Message",
    "MessageAction",
    "MessageKind",
    "NotAdminChain",
    "OpenChain",
    "OpenChainMessage",
    "Operation",
    "OutgoingMessage",
    "PolicyLimitExceeded",
    "PublishDataBlob",
    "RemoveCommittee",
    "ResourceControlPolicy",
    "RootChain",
    "Subscribe",
    "SystemExecution",
    "SystemExecutionStateView",
    "SystemMessage",
    "SystemOperation",
    "TimeoutConfig",
    "Transfer",
    "UnauthorizedOperation",
    "UnexpectedMessageOrigin",
    "UnsupportedApplication",
    "UserMessage",
    "UserOperation",
    "ValidatorState",
    "Withdraw",
    "check_blobs_available",
]
