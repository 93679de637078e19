"""Errors of the chain layer: blocks, proposals, votes, certificates, inboxes."""

from __future__ import annotations

from edgechain.base.errors import EdgechainError


class ChainError(EdgechainError):
    """A block, proposal, vote or certificate that the chain's rules reject."""


class InvalidCertificate(ChainError):
    """A certificate that does not prove a quorum of the committee signed its value."""


class InvalidCertificateSignature(InvalidCertificate):
    """A certificate signature that does not verify over the certificate's value and round."""


class DuplicateSigner(InvalidCertificate):
    """A certificate that counts one validator's signature more than once."""


class SignerNotInCommittee(InvalidCertificate):
    """A certificate signed by a key outside the committee."""


class InsufficientQuorum(InvalidCertificate):
    """A certificate whose signers weigh less than the committee's quorum."""


class InvalidVote(ChainError):
    """A vote whose signature does not verify, or that is for another value or round."""


class InvalidProposal(ChainError):
    """A block proposal whose signature does not verify or whose signer is not the block's signer."""


class InvalidBlock(ChainError):
    """A block that the chain's rules refuse before anything is executed."""


class WrongChain(InvalidBlock):
    """A block for another chain than the one it is executed on."""


class InactiveChain(InvalidBlock):
    """A block for a chain that has not been opened yet (and does not open it)."""


class ClosedChain(InvalidBlock):
    """A block with operations, or accepting messages, on a closed chain."""


class InvalidEpoch(InvalidBlock):
    """A block whose epoch is not the chain's current epoch."""


class StaleEpoch(InvalidEpoch):
    """A block in an epoch that is older than the chain's, or whose committee was removed."""


class UnexpectedBlockHeight(InvalidBlock):
    """A block whose height is not the chain's next height."""


class WrongPreviousBlockHash(InvalidBlock):
    """A block whose previous block hash is not the hash of the chain's tip."""


class UnauthorizedBlockProposer(InvalidBlock):
    """A block whose authenticated signer is not an owner of the chain."""


class InvalidTimestamp(InvalidBlock):
    """A block earlier than the previous one, or later than the local clock."""


class PolicyViolation(InvalidBlock):
    """A block beyond a limit of the committee's resource-control policy."""


class InboxError(InvalidBlock):
    """An incoming bundle taken out of order, altered, not yet received, or wrongly rejected."""


class BundleOutOfOrder(InboxError):
    """A bundle taken while an earlier bundle from the same origin is still pending."""


class IncorrectBundle(InboxError):
    """A bundle that differs from the one delivered at the same place in the inbox."""


class MissingCrossChainUpdate(InboxError):
    """A proposal taking a bundle that this validator has not received yet."""


class ProtectedMessageRejected(InboxError):
    """A rejected bundle containing a protected or bouncing message (those must be accepted)."""


class PendingChanges(ChainError):
    """A chain state with unsaved changes handed to ``execute_block`` (save or roll back first)."""


class OutcomeMismatch(ChainError):
    """A certified block whose re-execution gives another outcome than the certificate's."""


class RoundError(ChainError):
    """A proposal, vote or certificate that does not fit the chain's current consensus round."""


class WrongRound(RoundError):
    """A proposal for a round other than the chain's current round."""


class NotRoundLeader(RoundError):
    """A proposal by an owner who may not propose in that round (not a super owner, not an owner, not the leader)."""


class ConflictingProposal(RoundError):
    """A proposal for another block in a round where this validator already voted."""


class LockedBlockConflict(RoundError):
    """A proposal that ignores the validated block the chain is locked on, without a later validated certificate."""


class RoundNotTimedOut(RoundError):
    """A timeout asked for before the current round's deadline."""


class WrongCertificateKind(ChainError):
    """A certificate of one kind (validated, confirmed, timeout) where another kind is needed."""


class MissingEarlierBundles(InboxError):
    """A delivery that follows a sending block of the same origin not yet received: a gap.

    The sender must deliver again, in order, from its earliest unconfirmed block.
    """
