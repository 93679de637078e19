"""Executing system operations and system messages on one chain's `SystemExecutionStateView`.

`SystemExecution` lives for one block: it knows the block's chain, height, timestamp and
authenticated signer, counts the chains the block opens, and returns the outgoing
messages of each operation or message it executes. Every check happens before the
change it guards; the caller (``chain.execute_block``) rolls back the whole block on error.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgechain.base.identifiers import Account, AccountOwner, BlobId, ChainId
from edgechain.base.values import Amount, BlockHeight, Timestamp
from edgechain.execution.description import ChildChain, InitialChainConfig
from edgechain.execution.errors import (
    BlobNotListed,
    ChainClosed,
    ChainNotActive,
    InvalidCommitteeEpoch,
    InvalidOwnership,
    InvalidTransferAmount,
    NotAdminChain,
    UnauthorizedOperation,
    UnexpectedMessageOrigin,
    UnknownSystemOperation,
)
from edgechain.execution.messages import (
    CommitteeCreated,
    CommitteeRemoved,
    Credit,
    MessageKind,
    OpenChainMessage,
    OutgoingMessage,
    Subscribe,
    SystemMessage,
    Withdraw,
)
from edgechain.execution.operations import (
    ChangeOwnership,
    Claim,
    CloseChain,
    CreateCommittee,
    OpenChain,
    PublishDataBlob,
    RemoveCommittee,
    SystemOperation,
    Transfer,
)
from edgechain.execution.ownership import ChainOwnership
from edgechain.execution.system_state import SystemExecutionStateView


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What an operation or message may know about the block executing it."""

    chain_id: ChainId
    """The executing chain."""
    height: BlockHeight
    """The block's height."""
    timestamp: Timestamp
    """The block's timestamp."""
    authenticated_signer: AccountOwner | None
    """The block's authenticated signer."""
    published_blob_ids: list[BlobId]
    """The blobs the block publishes."""


def _message(
    destination: ChainId,
    message: SystemMessage,
    kind: MessageKind,
    authenticated_signer: AccountOwner | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        destination=destination,
        authenticated_signer=authenticated_signer,
        grant=Amount.zero(),
        refund_grant_to=None,
        kind=kind,
        message=message,
    )


class SystemExecution:
    """Executes the system application's operations and messages for one block."""

    def __init__(self, state: SystemExecutionStateView, block: BlockContext) -> None:
        self.state = state
        self.block = block
        self.opened_chains = 0

    # Operations -------------------------------------------------------------------------

    def check_open(self) -> None:
        """Raise ChainClosed if the chain is closed (it executes no more operations)."""
        if self.state.closed.get():
            raise ChainClosed(f"chain {self.block.chain_id} is closed")

    def execute_operation(self, operation: SystemOperation) -> list[OutgoingMessage]:
        """Execute one system operation; return the messages it sends."""
        self.check_open()
        match operation:
            case Transfer(owner=owner, recipient=recipient, amount=amount):
                self._check_amount(amount, "transfer")
                self._check_may_spend(owner)
                self.state.debit(owner, amount, self.block.chain_id)
                return self._send_tokens(owner, recipient, amount)
            case Claim(owner=owner, target_id=target_id, recipient=recipient, amount=amount):
                self._check_amount(amount, "claim")
                self._check_signer_is(owner, "claim from")
                if target_id == self.block.chain_id:
                    self.state.debit(owner, amount, self.block.chain_id)
                    return self._send_tokens(owner, recipient, amount)
                withdraw = Withdraw(owner=owner, amount=amount, recipient=recipient)
                return [_message(target_id, withdraw, MessageKind.SIMPLE, owner)]
            case OpenChain(ownership=ownership, balance=balance):
                return self._open_chain(checked_ownership(ownership), balance)
            case ChangeOwnership(ownership=ownership):
                self.state.ownership.set(checked_ownership(ownership))
                return []
            case CloseChain():
                self.state.closed.set(True)
                return []
            case PublishDataBlob(blob_id=blob_id):
                if blob_id not in self.block.published_blob_ids:
                    raise BlobNotListed(
                        f"PublishDataBlob({blob_id}) on chain {self.block.chain_id} at height"
                        f" {self.block.height}: the blob is not in the block's published blob ids"
                    )
                self.state.published_blobs.insert(blob_id)
                return []
            case CreateCommittee(epoch=epoch, committee=committee):
                self._check_admin_chain("CreateCommittee")
                expected = self.state.epoch.get().next()
                if epoch != expected:
                    raise InvalidCommitteeEpoch(
                        f"CreateCommittee for epoch {epoch}; the next epoch is {expected}"
                    )
                self.state.committees.insert(epoch, committee)
                self.state.epoch.set(epoch)
                created = CommitteeCreated(epoch=epoch, committee=committee)
                return [
                    _message(subscriber, created, MessageKind.PROTECTED)
                    for subscriber in self.state.subscribers.elements()
                ]
            case RemoveCommittee(epoch=epoch):
                self._check_admin_chain("RemoveCommittee")
                if epoch == self.state.epoch.get() or not self.state.committees.contains(epoch):
                    raise InvalidCommitteeEpoch(
                        f"cannot remove epoch {epoch}: it is the current one or unknown"
                    )
                self.state.committees.remove(epoch)
                removed = CommitteeRemoved(epoch=epoch)
                return [
                    _message(subscriber, removed, MessageKind.PROTECTED)
                    for subscriber in self.state.subscribers.elements()
                ]
        raise UnknownSystemOperation(f"unknown system operation {type(operation).__name__}")

    def _open_chain(self, ownership: ChainOwnership, balance: Amount) -> list[OutgoingMessage]:
        admin_id = self.state.admin_id.get()
        if admin_id is None:  # set when a chain is opened: this one never was
            raise ChainNotActive(
                f"OpenChain on chain {self.block.chain_id}: it knows no admin chain (not opened)"
            )
        self.state.debit(None, balance, self.block.chain_id)
        description = ChildChain(self.block.chain_id, self.block.height, self.opened_chains)
        self.opened_chains += 1
        child_id = description.chain_id()
        config = InitialChainConfig(
            ownership=ownership,
            epoch=self.state.epoch.get(),
            admin_id=admin_id,
            committees=dict(self.state.committees.items()),
            balance=balance,
            timestamp=self.block.timestamp,
        )
        messages = [
            _message(
                child_id,
                OpenChainMessage(description=description, config=config),
                MessageKind.PROTECTED,
            )
        ]
        if admin_id == self.block.chain_id:
            self.state.subscribers.insert(child_id)
        else:
            messages.append(
                _message(admin_id, Subscribe(subscriber=child_id), MessageKind.PROTECTED)
            )
        return messages

    def _send_tokens(
        self, source: AccountOwner | None, recipient: Account, amount: Amount
    ) -> list[OutgoingMessage]:
        if recipient.chain_id == self.block.chain_id:
            self.state.credit(recipient.owner, amount)
            return []
        credit = Credit(target=recipient.owner, amount=amount, source=source)
        return [_message(recipient.chain_id, credit, MessageKind.TRACKED)]

    def _check_amount(self, amount: Amount, what: str) -> None:
        if amount == Amount.zero():
            raise InvalidTransferAmount(
                f"{what} of zero on chain {self.block.chain_id} at height {self.block.height}"
            )

    def _check_may_spend(self, owner: AccountOwner | None) -> None:
        signer = self.block.authenticated_signer
        if owner is None:
            if signer is None or not self.state.ownership.get().is_owner(signer):
                raise UnauthorizedOperation(
                    f"only an owner of chain {self.block.chain_id} may spend its balance"
                )
        else:
            self._check_signer_is(owner, "spend from")

    def _check_signer_is(self, owner: AccountOwner, what: str) -> None:
        if self.block.authenticated_signer != owner:
            raise UnauthorizedOperation(
                f"signer {self.block.authenticated_signer} may not {what} account {owner}"
                f" on chain {self.block.chain_id}"
            )

    def _check_admin_chain(self, what: str) -> None:
        if self.state.admin_id.get() != self.block.chain_id:
            raise NotAdminChain(f"{what} on chain {self.block.chain_id}, not the admin chain")

    # Messages ---------------------------------------------------------------------------

    def execute_message(
        self,
        origin: ChainId,
        authenticated_signer: AccountOwner | None,
        is_bouncing: bool,
        message: SystemMessage,
    ) -> list[OutgoingMessage]:
        """Execute one accepted system message from ``origin``; return the messages it sends."""
        match message:
            case Credit(target=target, amount=amount, source=source):
                self.state.credit(source if is_bouncing else target, amount)
                return []
            case _ if is_bouncing:
                return []  # only credits carry value back; other bounced messages do nothing
            case Withdraw(owner=owner, amount=amount, recipient=recipient):
                if authenticated_signer != owner:
                    raise UnauthorizedOperation(
                        f"withdrawal from {owner} on chain {self.block.chain_id} is signed by"
                        f" {authenticated_signer}"
                    )
                self.state.debit(owner, amount, self.block.chain_id)
                return self._send_tokens(owner, recipient, amount)
            case OpenChainMessage(description=description, config=config):
                if self.state.is_active():
                    raise UnexpectedMessageOrigin(f"chain {self.block.chain_id} is already open")
                if description.chain_id() != self.block.chain_id or description.parent != origin:
                    raise UnexpectedMessageOrigin(
                        f"OpenChain from {origin} for {description.chain_id()} received by"
                        f" {self.block.chain_id}"
                    )
                self.state.initialize(description, config)
                return []
            case CommitteeCreated(epoch=epoch, committee=committee):
                self._check_from_admin(origin, "CommitteeCreated")
                if not self.state.committees.contains(epoch):
                    self.state.committees.insert(epoch, committee)
                if epoch > self.state.epoch.get():
                    self.state.epoch.set(epoch)
                return []
            case CommitteeRemoved(epoch=epoch):
                self._check_from_admin(origin, "CommitteeRemoved")
                self.state.committees.remove(epoch)
                return []
            case Subscribe(subscriber=subscriber):
                if self.state.admin_id.get() != self.block.chain_id:
                    raise NotAdminChain(
                        f"Subscribe from {origin} received by {self.block.chain_id},"
                        " not the admin chain"
                    )
                self.state.subscribers.insert(subscriber)
                current_epoch = self.state.epoch.get()
                current_committee = self.state.committees.get(current_epoch)
                if current_committee is None:
                    return []
                announcement = CommitteeCreated(epoch=current_epoch, committee=current_committee)
                return [_message(subscriber, announcement, MessageKind.PROTECTED)]
        raise UnknownSystemOperation(f"unknown system message {type(message).__name__}")

    def _check_from_admin(self, origin: ChainId, what: str) -> None:
        if origin != self.state.admin_id.get():
            raise UnexpectedMessageOrigin(
                f"{what} from {origin}, which is not the admin chain of {self.block.chain_id}"
            )


def checked_ownership(ownership: ChainOwnership) -> ChainOwnership:
    """Return ``ownership`` if someone may propose blocks under it; raise InvalidOwnership otherwise."""
    if ownership.is_empty():
        raise InvalidOwnership("the new ownership has no owner (use CloseChain to stop a chain)")
    return ownership
