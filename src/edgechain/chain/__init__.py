"""edgechain.chain: blocks, proposals, votes, certificates, inboxes, outboxes, chain state.

`execute_block(chain_state, block, local_time, blob_checker)` is the one state-transition
function; `ChainStateView.apply_confirmed_block` re-executes a certified block and checks
its outcome.
"""

from edgechain.chain.block import (
    Block,
    BlockExecutionOutcome,
    Event,
    ExecutedBlock,
    IncomingBundle,
    MessageBundle,
    PostedMessage,
)
from edgechain.chain.certificate import (
    Certificate,
    CertificateValue,
    ConfirmedBlock,
    ValidatedBlock,
    Vote,
    VoteContent,
)
from edgechain.chain.errors import (
    BundleOutOfOrder,
    ChainError,
    ClosedChain,
    DuplicateSigner,
    InactiveChain,
    InboxError,
    IncorrectBundle,
    InsufficientQuorum,
    InvalidBlock,
    InvalidCertificate,
    InvalidCertificateSignature,
    InvalidEpoch,
    InvalidProposal,
    InvalidTimestamp,
    InvalidVote,
    MissingCrossChainUpdate,
    OutcomeMismatch,
    PendingChanges,
    PolicyViolation,
    ProtectedMessageRejected,
    SignerNotInCommittee,
    StaleEpoch,
    UnauthorizedBlockProposer,
    UnexpectedBlockHeight,
    WrongChain,
    WrongPreviousBlockHash,
)
from edgechain.chain.execution import execute_block, validate_block
from edgechain.chain.inbox import Cursor, InboxStateView, OutboxStateView
from edgechain.chain.manager import ChainManager
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast, MultiLeader, Round, SingleLeader, round_order
from edgechain.chain.state import ChainStateView
from edgechain.chain.tip import ChainTipState
from edgechain.execution.blobs import BlobChecker
from edgechain.execution.messages import MessageAction, MessageKind, OutgoingMessage
from edgechain.execution.operations import Operation, SystemOperation, UserOperation

__all__ = [
    "BlobChecker",
    "Block",
    "BlockExecutionOutcome",
    "BlockProposal",
    "BundleOutOfOrder",
    "Certificate",
    "CertificateValue",
    "ChainError",
    "ChainManager",
    "ChainStateView",
    "ChainTipState",
    "ClosedChain",
    "ConfirmedBlock",
    "Cursor",
    "DuplicateSigner",
    "Event",
    "ExecutedBlock",
    "Fast",
    "InactiveChain",
    "InboxError",
    "InboxStateView",
    "IncomingBundle",
    "IncorrectBundle",
    "InsufficientQuorum",
    "InvalidBlock",
    "InvalidCertificate",
    "InvalidCertificateSignature",
    "InvalidEpoch",
    "InvalidProposal",
    "InvalidTimestamp",
    "InvalidVote",
    "MessageAction",
    "MessageBundle",
    "MessageKind",
    "MissingCrossChainUpdate",
    "MultiLeader",
    "Operation",
    "OutboxStateView",
    "OutcomeMismatch",
    "OutgoingMessage",
    "PendingChanges",
    "PolicyViolation",
    "PostedMessage",
    "ProposalContent",
    "ProtectedMessageRejected",
    "Round",
    "SignerNotInCommittee",
    "SingleLeader",
    "StaleEpoch",
    "SystemOperation",
    "UnauthorizedBlockProposer",
    "UnexpectedBlockHeight",
    "UserOperation",
    "ValidatedBlock",
    "Vote",
    "VoteContent",
    "WrongChain",
    "WrongPreviousBlockHash",
    "execute_block",
    "round_order",
    "validate_block",
]
