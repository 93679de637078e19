"""The chain client: propose a block, gather votes into a certificate, broadcast it, keep validators up to date.

One `ChainClient` drives one chain for one of its owners:

1. build the block at the chain's next height and sign the proposal, in the fast round
   for a super owner, else in the chain's current multi-leader or single-leader round
   (as validators worth the validity threshold report it);
2. send it to every validator concurrently and gather their votes until votes for one
   value reach the committee's quorum by weight. A vote is refused (and recorded in
   ``rejected_votes``) when its signature does not verify, when it is for another block,
   kind or round, when its signer is outside the committee or already counted, or when
   the validator that sent it is not the signer. Votes for different outcomes of the same
   block are counted apart: only the value with a quorum is certified. Outside the fast
   round that certificate is a *validated* block: the client sends it back and gathers
   votes to *confirm* it (two phases, as in Linera);
3. broadcast the confirmed certificate to every validator;
4. whenever a validator fails because it lags (a lower next height on this chain, or a
   sender chain's messages or a published blob it lacks), send it the certificates (and
   blobs) it lacks, in height order, and retry once.

``process_inbox`` does not get stuck on a message the receiving application refuses: when
the block taking the inbox fails to execute, the client finds the first bundle that makes
it fail (on a local scratch copy of the chain when it has a `ScratchExecutor`, else by
proposing shorter prefixes of the bundle list, whose successful one is certified as a block
of its own), rejects that bundle (tracked messages bounce back, simple ones are dropped),
and proposes again, at most once per bundle, as Linera's client does. A bundle that may not
be rejected (protected or bouncing messages) is left in the inbox with the later bundles of
its origin.

A stalled round ends with ``request_leader_timeout``: a quorum of timeout votes moves
every validator to the next round. The client trusts no single validator: inbox bundles
are taken only when the sender's certificate, checked against the committee, contains
them; chain tips learnt in ``synchronize`` come with checked certificates; balances are
those that validators worth the validity threshold agree on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from edgechain.base.blobs import Blob, SplitFile
from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey
from edgechain.base.errors import EdgechainError
from edgechain.base.identifiers import Account, AccountOwner, BlobId, ChainId
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block, IncomingBundle
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Timeout, ValidatedBlock, Vote
from edgechain.chain.errors import ChainError
from edgechain.chain.execution import execute_block
from edgechain.chain.manager import first_round
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast, Round, round_order
from edgechain.core.chain_info import ChainInfo, ChainInfoQuery, ChainInfoResponse
from edgechain.core.errors import (
    BlobsNotFound,
    ClientError,
    QuorumNotReached,
    RejectedVote,
    ValidatorOffline,
)
from edgechain.core.node import ValidatorNode
from edgechain.execution.committee import Committee
from edgechain.execution.errors import ContractTimedOut, ExecutionError
from edgechain.execution.messages import CommitteeCreated, CommitteeRemoved, MessageAction
from edgechain.execution.operations import (
    ChangeOwnership,
    CreateCommittee,
    OpenChain,
    Operation,
    PublishDataBlob,
    RemoveCommittee,
    Transfer,
)
from edgechain.execution.ownership import ChainOwnership

if TYPE_CHECKING:
    from edgechain.core.follower import ChainFollower

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_SYNC_DEPTH = 4
"""How many chains deep the client follows missing sender chains when updating a validator."""


class ScratchExecutor(Protocol):
    """A local, non-voting copy of chains on which a client tries a block before proposing it."""

    async def try_block(self, block: Block) -> None:
        """Execute ``block`` on a throw-away copy of its chain's latest certified state;
        raise what executing it raises (nothing is kept either way)."""
        ...


class FollowerScratchExecutor:
    """A `ScratchExecutor` over a `ChainFollower`'s local copy of the chains.

    Each try brings the follower's copy of the block's chain to the tip the validators vouch
    for, executes the block on a scratch view of it that is never saved, and downloads the
    blobs execution asks for (checked against their ids) from the validators.
    """

    MAX_BLOB_ROUNDS = 4
    """How many times one try downloads missing blobs and executes again."""

    def __init__(self, follower: ChainFollower) -> None:
        self.follower = follower
        """The local copy of the chains (its storage is where blocks are tried)."""

    async def try_block(self, block: Block) -> None:
        await self.follower.follow(block.chain_id)
        storage = self.follower.storage
        for _round in range(self.MAX_BLOB_ROUNDS):
            scratch = storage.load_chain_scratch(block.chain_id)
            try:
                execute_block(
                    scratch, block, None, storage.missing_blobs, require_received_bundles=False
                )
            except BlobsNotFound as missing:
                await self._download_blobs(list(missing.blob_ids))
                continue
            scratch.rollback()
            return
        raise ClientError(
            f"block {block.height} of chain {block.chain_id}: could not gather its blobs locally"
        )

    async def _download_blobs(self, blob_ids: list[BlobId]) -> None:
        for blob_id in blob_ids:
            failures: dict[str, Exception] = {}
            for node in self.follower.validators:
                try:
                    blob = await node.download_blob(blob_id)
                except EdgechainError as failure:
                    failures[str(node.public_key)] = failure
                    continue
                if blob.id == blob_id:  # content-addressed: any validator's copy will do
                    self.follower.storage.write_blob(blob)
                    break
                failures[str(node.public_key)] = ClientError(f"sent blob {blob.id} for {blob_id}")
            else:
                raise QuorumNotReached(f"no validator gave blob {blob_id}", failures)


@dataclass(frozen=True, slots=True)
class RejectedVoteRecord:
    """A vote (or answer) the client refused, and why."""

    validator: PublicKey
    """The validator whose answer it was."""
    reason: str
    """Why it was refused."""


class ChainClient:
    """Proposes blocks on one chain and turns them into certificates known to every validator."""

    def __init__(
        self,
        chain_id: ChainId,
        key_pair: KeyPair | None,
        validators: Sequence[ValidatorNode],
        committees: dict[Epoch, Committee],
        epoch: Epoch,
        *,
        next_block_height: BlockHeight | None = None,
        block_hash: CryptoHash | None = None,
        timestamp: Timestamp | None = None,
        request_timeout: float = 10.0,
        clock: Callable[[], Timestamp] = Timestamp.now,
        scratch_executor: ScratchExecutor | None = None,
    ) -> None:
        if epoch not in committees:
            raise ClientError(f"no committee known for epoch {epoch}")
        self.chain_id = chain_id
        """The chain this client proposes on."""
        self.key_pair = key_pair
        """The owner's key (None: a read-only client)."""
        self.validators = list(validators)
        """The validators, in any order."""
        self.committees = dict(committees)
        """The committees the client trusts, by epoch."""
        self.epoch = epoch
        """The chain's current epoch (blocks are proposed in it)."""
        self.next_block_height = next_block_height if next_block_height is not None else BlockHeight(0)
        """The height of the next block."""
        self.block_hash = block_hash
        """The hash of the last confirmed block (None before the first)."""
        self.timestamp = timestamp if timestamp is not None else Timestamp(0)
        """The last confirmed block's timestamp."""
        self.request_timeout = request_timeout
        """Seconds to wait for one validator's answer."""
        self.clock = clock
        """Where block timestamps come from (a fixed sequence makes runs reproducible)."""
        self.ownership: ChainOwnership | None = None
        """The chain's owners and round rules, as last learnt from the validators."""
        self.pending_block: tuple[Block, list[Blob]] | None = None
        """A block proposed without reaching a quorum yet, with its blobs (retried first)."""
        self.rejected_votes: list[RejectedVoteRecord] = []
        """Every vote the client refused, for inspection."""
        self.last_state_hash: CryptoHash | None = None
        """The execution state hash after the last confirmed block."""
        self.scratch_executor = scratch_executor
        """Where ``process_inbox`` finds a failing bundle locally (None: by proposing prefixes)."""
        self.refused_bundles: list[tuple[IncomingBundle, Exception]] = []
        """Every bundle ``process_inbox`` rejected or left in the inbox, with the error it caused."""
        self._own_certificates: dict[int, Certificate] = {}
        self._known_certificates: dict[CryptoHash, Certificate] = {}

    # ------------------------------------------------------------------ facts

    @property
    def committee(self) -> Committee:
        return self.committees[self.epoch]

    @property
    def owner(self) -> AccountOwner:
        if self.key_pair is None:
            raise ClientError(f"the client of chain {self.chain_id} has no key")
        return AccountOwner.from_public_key(self.key_pair.public_key)

    def certificate_at(self, height: BlockHeight) -> Certificate | None:
        """The certificate of this chain's block at ``height``, if the client knows it."""
        return self._own_certificates.get(height.value)

    # ------------------------------------------------------------ operations

    async def transfer(
        self, amount: Amount, recipient: Account, owner: AccountOwner | None = None
    ) -> Certificate:
        """Transfer ``amount`` from the chain's balance (or ``owner``'s) to ``recipient``."""
        return await self.execute_operations([Transfer(owner, recipient, amount)])

    async def transfer_to_chain(self, amount: Amount, recipient: ChainId) -> Certificate:
        """Transfer ``amount`` from the chain's balance to another chain's balance."""
        return await self.transfer(amount, Account(recipient))

    async def open_chain(
        self, ownership: ChainOwnership, balance: Amount | None = None
    ) -> tuple[ChainId, Certificate]:
        """Open a child chain; returns its id and the certificate of the block that opened it."""
        balance = balance if balance is not None else Amount.zero()
        height = self.next_block_height
        certificate = await self.execute_operations([OpenChain(ownership, balance)])
        return ChainId.child(self.chain_id, height, 0), certificate

    async def publish_data_blob(self, content: bytes) -> tuple[BlobId, Certificate]:
        """Publish a data blob: upload it to the validators and certify a block publishing it."""
        blob = Blob.data(content)
        blob_id = blob.id
        certificate = await self.execute_operations([PublishDataBlob(blob_id)], blobs=[blob])
        return blob_id, certificate

    async def publish_split_file(
        self,
        split_file: SplitFile,
        blobs_per_block: int = 32,
        progress: Callable[[int], None] | None = None,
        resume: bool = True,
    ) -> list[Certificate]:
        """Publish every blob of a split file (chunks, then manifests bottom-up) in blocks of at
        most ``blobs_per_block`` blobs (and the policy's limit); returns their certificates.

        Only one block's blobs are held in memory at a time. The root manifest's id
        (``split_file.manifest_id``) names the whole file afterwards. With ``resume`` (the
        default), blobs that this chain's certified blocks already published -- read from
        checked certificates, so no validator can make us skip one -- are skipped: an
        interrupted publication continues where it stopped. ``progress`` is called with the
        number of blobs done (published or skipped) after each step.
        """
        limit = min(blobs_per_block, self.committee.policy.maximum_published_blobs)
        if limit < 1:
            raise ClientError(f"cannot publish blobs {limit} at a time")
        already_published = await self.published_blob_ids() if resume else set()
        certificates: list[Certificate] = []
        batch: list[Blob] = []
        for blob_id, blob in split_file.iter_blobs_with_ids():
            if blob_id in already_published:
                if progress is not None:
                    progress(1)
                continue
            batch.append(blob)
            if len(batch) == limit:
                certificates.append(await self._publish_blobs(batch))
                if progress is not None:
                    progress(len(batch))
                batch = []
        if batch:
            certificates.append(await self._publish_blobs(batch))
            if progress is not None:
                progress(len(batch))
        return certificates

    async def published_blob_ids(self) -> set[BlobId]:
        """The blobs this chain's confirmed blocks published, from checked certificates."""
        certificates = await self.certificates_of_chain(
            self.chain_id, BlockHeight(0), self.next_block_height
        )
        return {
            blob_id
            for certificate in certificates
            for blob_id in certificate.executed_block.block.published_blob_ids
        }

    async def _publish_blobs(self, blobs: list[Blob]) -> Certificate:
        operations: list[Operation] = [PublishDataBlob(blob.id) for blob in blobs]
        return await self.execute_operations(operations, blobs=blobs)

    async def execute_operations(
        self,
        operations: list[Operation],
        blobs: Sequence[Blob] = (),
        incoming_bundles: list[IncomingBundle] | None = None,
    ) -> Certificate:
        """Propose a block with these operations (and bundles), certify it, broadcast it.

        A block left pending at this height by an earlier attempt (some validators voted for
        it, not a quorum) is finished first: they would vote for no other block there.
        """
        await self.retry_pending_block()
        block = self._new_block(operations, blobs, incoming_bundles or [])
        return await self.propose_block(block, blobs)

    def _new_block(
        self, operations: list[Operation], blobs: Sequence[Blob], bundles: list[IncomingBundle]
    ) -> Block:
        """The block at the chain's next height with these contents, signed by this client's owner."""
        timestamps = [self.timestamp, self.clock()] + [b.bundle.timestamp for b in bundles]
        return Block(
            chain_id=self.chain_id,
            epoch=self.epoch,
            height=self.next_block_height,
            timestamp=max(timestamps),
            authenticated_signer=self.owner,
            previous_block_hash=self.block_hash,
            incoming_bundles=bundles,
            operations=operations,
            published_blob_ids=[blob.id for blob in blobs],
        )

    async def retry_pending_block(self) -> Certificate | None:
        """Propose again the block an earlier attempt left without a quorum, if any."""
        if self.pending_block is None:
            return None
        block, blobs = self.pending_block
        if block.height != self.next_block_height:
            self.pending_block = None
            return None
        return await self.propose_block(block, blobs)

    async def process_inbox(self) -> Certificate | None:
        """Take every pending, verified bundle into a new block; None when the inbox is empty.

        Where a bundle's message fails to execute (the application refuses it, runs out of
        fuel, ...), that bundle is rejected and the rest are accepted (see the module's
        docstring); each such bundle is recorded in ``refused_bundles``. Returns the last
        certificate made. Raises the execution error when no bundle can be taken at all.
        """
        bundles = await self.pending_bundles()
        if not bundles:
            return None
        certificate: Certificate | None = None
        for _attempt in range(len(bundles) + 1):
            try:
                return await self.execute_operations([], incoming_bundles=bundles)
            except ExecutionError as failure:
                if not _says_which_bundle_fails(failure):
                    raise
                if self.scratch_executor is not None:
                    index = await self._first_failing_bundle_locally(bundles)
                    if index is None:
                        raise failure  # the local copy does not fail: nothing to say which bundle it is
                else:
                    committed, index = await self._first_failing_bundle_by_proposing(bundles)
                    if committed is not None:
                        certificate = committed
                        bundles, index = bundles[index:], 0
                remaining = self._refuse_bundle(bundles, index, failure)
                if remaining is None:
                    if certificate is not None:
                        return certificate
                    raise failure
                bundles = remaining
        return certificate

    def _refuse_bundle(
        self, bundles: list[IncomingBundle], index: int, failure: Exception
    ) -> list[IncomingBundle] | None:
        """The bundles with ``bundles[index]`` rejected (or, where it may not be rejected, left
        in the inbox with its origin's later bundles); None when nothing is left to try."""
        culprit = bundles[index]
        if culprit.action == MessageAction.REJECT:
            return None  # the block fails with the bundle already rejected: not its messages' fault
        self.refused_bundles.append((culprit, failure))
        if all(posted.kind.may_be_rejected() for posted in culprit.bundle.messages):
            logger.warning(
                "chain %s: rejecting the bundle from %s at height %s: %r",
                self.chain_id, culprit.origin, culprit.bundle.height, failure,
            )  # fmt: skip
            rejected = dataclasses.replace(culprit, action=MessageAction.REJECT)
            return [*bundles[:index], rejected, *bundles[index + 1 :]]
        logger.warning(
            "chain %s: the bundle from %s at height %s fails (%r) and may not be rejected:"
            " it stays in the inbox, with the later bundles from that chain",
            self.chain_id, culprit.origin, culprit.bundle.height, failure,
        )  # fmt: skip
        remaining = [
            *bundles[:index],
            *(incoming for incoming in bundles[index + 1 :] if incoming.origin != culprit.origin),
        ]
        return remaining or None

    async def _first_failing_bundle_locally(self, bundles: list[IncomingBundle]) -> int | None:
        """The index of the first bundle whose execution fails, on the scratch executor's copy
        of the chain (a binary search over prefixes: a prefix that fails stays failing when it
        grows); None if the whole list executes there."""
        if self.scratch_executor is None:
            raise ClientError(f"the client of chain {self.chain_id} has no scratch executor")
        executor = self.scratch_executor

        async def fails(prefix_length: int) -> bool:
            try:
                await executor.try_block(self._new_block([], (), bundles[:prefix_length]))
            except ExecutionError as failure:
                if not _says_which_bundle_fails(failure):
                    raise
                return True
            return False

        if not await fails(len(bundles)):
            return None
        low, high = 1, len(bundles)  # the shortest failing prefix is in low..high
        while low < high:
            middle = (low + high) // 2
            if await fails(middle):
                high = middle
            else:
                low = middle + 1
        return low - 1

    async def _first_failing_bundle_by_proposing(
        self, bundles: list[IncomingBundle]
    ) -> tuple[Certificate | None, int]:
        """Without a local copy: propose ever shorter prefixes of ``bundles`` (the whole list
        failed) until one is certified; the bundle after it is the first failing one.

        A failed proposal leaves no trace on validators, a successful one is a block: the
        longest prefix that executes is certified. Returns its certificate (None if even the
        first bundle alone fails) and the failing bundle's index in ``bundles``.
        """
        for prefix_length in range(len(bundles) - 1, 0, -1):
            try:
                certificate = await self.execute_operations(
                    [], incoming_bundles=bundles[:prefix_length]
                )
            except ExecutionError as failure:
                if not _says_which_bundle_fails(failure):
                    raise
                continue
            return certificate, prefix_length
        return None, 0

    # -------------------------------------------------------------- proposing

    async def propose_block(self, block: Block, blobs: Sequence[Blob] = ()) -> Certificate:
        """Sign ``block``, gather a quorum of votes, certify and broadcast it.

        A super owner proposes in the fast round: one phase. Other owners propose in the
        chain's current multi-leader or single-leader round: a quorum of votes makes a
        validated-block certificate, which the validators then vote to confirm.
        """
        if self.key_pair is None:
            raise ClientError(f"the client of chain {self.chain_id} has no key to propose with")
        round_ = await self.current_round()
        proposal = BlockProposal.new(ProposalContent(block, round_), self.key_pair)
        blobs_by_id = {blob.id: blob for blob in blobs}
        if blobs_by_id:
            await self._for_each_validator(
                lambda node: self._upload_blobs(node, list(blobs_by_id.values()))
            )

        def proposal_request(node: ValidatorNode) -> Awaitable[ChainInfoResponse]:
            return self._retry_after_update(
                node, lambda: node.handle_block_proposal(proposal), block, blobs_by_id, depth=0
            )

        expected_kind = ConfirmedBlock if isinstance(round_, Fast) else ValidatedBlock
        self.pending_block = (block, list(blobs))
        try:
            certificate = await self._gather_votes(
                proposal_request, lambda vote: _check_block_vote(vote, block, round_, expected_kind)
            )
        except QuorumNotReached:
            raise  # some validators may have voted: keep the block pending
        except EdgechainError:
            self.pending_block = None  # honest validators refused it: it can never be certified
            raise
        if isinstance(certificate.value, ValidatedBlock):
            validated = certificate

            def confirm_request(node: ValidatorNode) -> Awaitable[ChainInfoResponse]:
                return self._retry_after_update(
                    node, lambda: node.handle_certificate(validated), block, blobs_by_id, depth=0
                )

            certificate = await self._gather_votes(
                confirm_request,
                lambda vote: _check_block_vote(vote, block, round_, ConfirmedBlock),
            )
        self._record_own_certificate(certificate)
        self.pending_block = None
        if any(isinstance(operation, ChangeOwnership) for operation in block.operations):
            self.ownership = None  # learn the new owners and rounds from the validators
        await self.broadcast_certificate(certificate, blobs_by_id)
        return certificate

    async def current_round(self) -> Round:
        """The round this client's owner proposes in at the next height.

        A super owner always uses the fast round. Otherwise the round is the highest one that
        validators worth the validity threshold have reached (so at least one honest
        validator is there: rounds only move on timeout certificates).
        """
        if self.ownership is None or not self._is_super_owner():
            infos = await self._chain_infos(ChainInfoQuery(self.chain_id))
            ownerships = [info.ownership for _, info in infos if info.ownership is not None]
            if self.ownership is None and ownerships:
                self.ownership = _most_common(ownerships)
            if self._is_super_owner():
                return Fast()
            committee = self.committee
            rounds = sorted(
                (
                    (info.current_round, committee.weight(public_key))
                    for public_key, info in infos
                    if info.current_round is not None
                    and info.next_block_height == self.next_block_height
                ),
                key=lambda item: round_order(item[0]),
                reverse=True,
            )
            weight = 0
            for round_, round_weight in rounds:
                weight += round_weight
                if weight >= committee.validity_threshold:
                    return round_
            if self.ownership is not None:
                return first_round(self.ownership)
        return Fast()

    def _is_super_owner(self) -> bool:
        return (
            self.ownership is not None
            and self.key_pair is not None
            and self.owner in self.ownership.super_owners
        )

    async def request_leader_timeout(self) -> Certificate:
        """Gather timeout votes for the current round into a certificate and broadcast it.

        Validators sign only once the round's deadline has passed on their clocks; the
        certificate moves every validator to the next round.
        """
        height, epoch = self.next_block_height, self.epoch
        query = ChainInfoQuery(self.chain_id, request_timeout_vote=True)

        def timeout_request(node: ValidatorNode) -> Awaitable[ChainInfoResponse]:
            return node.handle_chain_info_query(query)

        def check(vote: Vote) -> str | None:
            if vote.value != Timeout(self.chain_id, height, epoch):
                return "voted for something else than a timeout at this height"
            return None

        certificate = await self._gather_votes(timeout_request, check)
        await self._for_each_validator(lambda node: node.handle_certificate(certificate))
        return certificate

    async def _gather_votes(
        self,
        request: Callable[[ValidatorNode], Awaitable[ChainInfoResponse]],
        check_vote: Callable[[Vote], str | None],
    ) -> Certificate:
        """Ask every validator concurrently; return a certificate as soon as votes for one
        value in one round reach the quorum. Refused votes are recorded in ``rejected_votes``."""
        committee = self.committee
        tasks = {
            asyncio.ensure_future(self._with_timeout(request(node))): node
            for node in self.validators
        }
        votes_by_value: dict[tuple[CryptoHash, tuple[int, int]], list[Vote]] = {}
        weight_by_value: dict[tuple[CryptoHash, tuple[int, int]], int] = {}
        counted: set[PublicKey] = set()
        errors: dict[str, Exception] = {}
        certificate: Certificate | None = None
        pending = set(tasks)
        try:
            while pending and certificate is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    node = tasks[task]
                    exception = task.exception()
                    if exception is not None:
                        if not isinstance(exception, EdgechainError | TimeoutError):
                            raise exception
                        errors[str(node.public_key)] = exception
                        continue
                    try:
                        vote = self._accept_vote(node, task.result(), check_vote, counted)
                    except RejectedVote as refusal:
                        errors[str(node.public_key)] = refusal
                        continue
                    key = (vote.value.hash(), round_order(vote.round))
                    votes_by_value.setdefault(key, []).append(vote)
                    weight_by_value[key] = weight_by_value.get(key, 0) + committee.weight(
                        vote.validator
                    )
                    if certificate is None and weight_by_value[key] >= committee.quorum_threshold:
                        # Keep looking at the answers already in: bad votes among them are recorded.
                        votes = votes_by_value[key]
                        certificate = Certificate.from_votes(votes[0].value, vote.round, votes)
        finally:
            await _cancel_all(pending)
        if certificate is None:
            self._raise_for_failures("no quorum of votes", errors, committee)
            raise AssertionError("unreachable")  # _raise_for_failures always raises
        for (value_hash, _), votes in votes_by_value.items():
            if value_hash != certificate.hash():
                for vote in votes:
                    self._record_rejection(vote.validator, f"voted for another outcome {value_hash}")
        certificate.check(committee)
        return certificate

    def _accept_vote(
        self,
        node: ValidatorNode,
        response: ChainInfoResponse,
        check_vote: Callable[[Vote], str | None],
        counted: set[PublicKey],
    ) -> Vote:
        """Return the response's vote if it may be counted; raise RejectedVote otherwise."""
        vote = response.vote
        if vote is None:
            return self._reject(node.public_key, "answered without a vote")
        if vote.validator != node.public_key:
            return self._reject(node.public_key, f"sent a vote signed by {vote.validator}")
        if self.committee.weight(vote.validator) == 0:
            return self._reject(vote.validator, "is not in the committee")
        if vote.validator in counted:
            return self._reject(vote.validator, "voted twice")
        try:
            vote.check()
        except ChainError as exc:
            return self._reject(vote.validator, f"bad signature: {exc}")
        reason = check_vote(vote)
        if reason is not None:
            return self._reject(vote.validator, reason)
        counted.add(vote.validator)
        return vote

    def _record_rejection(self, validator: PublicKey, reason: str) -> None:
        self.rejected_votes.append(RejectedVoteRecord(validator, reason))
        logger.warning("chain %s: refused the vote of %s: %s", self.chain_id, validator, reason)

    def _reject(self, validator: PublicKey, reason: str) -> Vote:
        self._record_rejection(validator, reason)
        raise RejectedVote(f"vote of {validator} refused: {reason}")

    # ------------------------------------------------------------ broadcasting

    async def broadcast_certificate(
        self, certificate: Certificate, blobs_by_id: dict[BlobId, Blob] | None = None
    ) -> dict[PublicKey, Exception]:
        """Send ``certificate`` to every validator (updating lagging ones); returns the failures."""
        block = certificate.executed_block.block
        blobs = blobs_by_id or {}

        async def send(node: ValidatorNode) -> ChainInfoResponse:
            return await self._retry_after_update(
                node, lambda: node.handle_certificate(certificate), block, blobs, depth=0
            )

        results = await self._for_each_validator(send)
        failures = {key: result for key, result in results.items() if isinstance(result, Exception)}
        for public_key, failure in failures.items():
            logger.info("validator %s did not take certificate %s: %r", public_key, certificate.hash(), failure)
        return failures

    async def _retry_after_update(
        self,
        node: ValidatorNode,
        request: Callable[[], Awaitable[T]],
        block: Block,
        blobs_by_id: dict[BlobId, Blob],
        depth: int,
    ) -> T:
        """Run ``request``; if it fails because the validator lags or lacks blobs, fix that and retry once."""
        try:
            return await request()
        except BlobsNotFound as missing:
            blobs = await self._find_blobs(list(missing.blob_ids), blobs_by_id, exclude=node)
            await self._upload_blobs(node, blobs)
            return await request()
        except EdgechainError as failure:
            if depth >= MAX_SYNC_DEPTH or isinstance(failure, QuorumNotReached):
                raise
            updated = await self._update_validator_for_block(node, block, depth + 1)
            if not updated:
                raise
            return await request()

    async def _update_validator_for_block(
        self, node: ValidatorNode, block: Block, depth: int
    ) -> bool:
        """Bring ``node`` up to ``block``'s parent on its chain and to its bundles' senders."""
        updated = await self.update_validator_chain(node, block.chain_id, block.height, depth)
        targets: dict[ChainId, BlockHeight] = {}
        for incoming in block.incoming_bundles:
            height = incoming.bundle.height.next()
            if targets.get(incoming.origin, BlockHeight(0)) < height:
                targets[incoming.origin] = height
        for origin, height in targets.items():
            updated = await self.update_validator_chain(node, origin, height, depth) or updated
        return updated

    async def update_validator_chain(
        self, node: ValidatorNode, chain_id: ChainId, target_height: BlockHeight, depth: int = 0
    ) -> bool:
        """Send ``node`` the certificates of ``chain_id`` it lacks below ``target_height``, in order.

        Returns whether anything was sent.
        """
        info = (await self._with_timeout(node.handle_chain_info_query(ChainInfoQuery(chain_id)))).info
        if info.next_block_height >= target_height:
            return False
        certificates = await self.certificates_of_chain(
            chain_id, info.next_block_height, target_height, exclude=node
        )
        for certificate in certificates:
            block = certificate.executed_block.block
            await self._retry_after_update(
                node,
                lambda certificate=certificate: node.handle_certificate(certificate),  # type: ignore[misc]
                block,
                {},
                depth,
            )
        return bool(certificates)

    async def synchronize_validators(self) -> dict[PublicKey, Exception]:
        """Bring every validator to this chain's latest known height; returns the failures."""
        target = self.next_block_height

        async def update(node: ValidatorNode) -> bool:
            return await self.update_validator_chain(node, self.chain_id, target)

        results = await self._for_each_validator(update)
        return {key: result for key, result in results.items() if isinstance(result, Exception)}

    # ------------------------------------------------------------ certificates

    async def certificates_of_chain(
        self,
        chain_id: ChainId,
        start: BlockHeight,
        end: BlockHeight,
        exclude: ValidatorNode | None = None,
    ) -> list[Certificate]:
        """Checked certificates of ``chain_id`` at heights ``start`` .. ``end - 1``, in order."""
        if start >= end:
            return []
        if chain_id == self.chain_id and all(
            height in self._own_certificates for height in range(start.value, end.value)
        ):
            return [self._own_certificates[height] for height in range(start.value, end.value)]
        failures: dict[str, Exception] = {}
        for node in self.validators:
            if node is exclude:
                continue
            try:
                return await self._download_chain_certificates(node, chain_id, start, end)
            except (EdgechainError, TimeoutError) as failure:
                failures[str(node.public_key)] = failure
        raise QuorumNotReached(
            f"no validator gave the certificates of chain {chain_id} from {start} to {end}",
            failures,
        )

    async def _download_chain_certificates(
        self, node: ValidatorNode, chain_id: ChainId, start: BlockHeight, end: BlockHeight
    ) -> list[Certificate]:
        query = ChainInfoQuery(
            chain_id,
            request_sent_certificate_hashes_from=start,
            request_sent_certificate_hashes_limit=end.value - start.value,
        )
        info = (await self._with_timeout(node.handle_chain_info_query(query))).info
        hashes = info.requested_sent_certificate_hashes
        if len(hashes) < end.value - start.value:
            raise ClientError(
                f"validator {node.public_key} knows chain {chain_id} only up to"
                f" height {info.next_block_height}, not {end}"
            )
        missing = [h for h in hashes if h not in self._known_certificates]
        if missing:
            downloaded = await self._with_timeout(node.download_certificates(missing))
            for certificate in downloaded:
                self._check_certificate(certificate)
                self._known_certificates[certificate.hash()] = certificate
        certificates = [self._known_certificates[h] for h in hashes if h in self._known_certificates]
        expected_height = start
        for certificate in certificates:
            block = certificate.executed_block.block
            if block.chain_id != chain_id or block.height != expected_height:
                raise ClientError(
                    f"validator {node.public_key} sent a certificate for chain {block.chain_id}"
                    f" height {block.height} instead of chain {chain_id} height {expected_height}"
                )
            expected_height = expected_height.next()
        if len(certificates) != len(hashes):
            raise ClientError(f"validator {node.public_key} did not send every certificate asked for")
        return certificates

    def _check_certificate(self, certificate: Certificate) -> None:
        """Raise unless ``certificate`` is a confirmed block signed by a quorum of its epoch's committee."""
        if not isinstance(certificate.value, ConfirmedBlock):
            raise ClientError(f"certificate {certificate.hash()} is not of a confirmed block")
        epoch = certificate.executed_block.block.epoch
        committee = self.committees.get(epoch)
        if committee is None:
            raise ClientError(f"certificate {certificate.hash()} is of unknown epoch {epoch}")
        certificate.check(committee)

    def _record_own_certificate(self, certificate: Certificate) -> None:
        block = certificate.executed_block.block
        self._own_certificates[block.height.value] = certificate
        self._known_certificates[certificate.hash()] = certificate
        if block.height >= self.next_block_height:
            self.next_block_height = block.height.next()
            self.block_hash = certificate.hash()
            self.timestamp = block.timestamp
            self.last_state_hash = certificate.executed_block.outcome.state_hash
            self._follow_committees(block)

    def _follow_committees(self, block: Block) -> None:
        """Learn the committee changes a certified block of this chain made: committees it
        created (admin chain) or accepted from the admin chain, and removed ones."""
        changes: list[object] = list(block.operations)
        for incoming in block.incoming_bundles:
            if incoming.action == MessageAction.ACCEPT:
                changes.extend(posted.message for posted in incoming.bundle.messages)
        for change in changes:
            if isinstance(change, CreateCommittee | CommitteeCreated):
                self.committees.setdefault(change.epoch, change.committee)
                if change.epoch > self.epoch:
                    self.epoch = change.epoch
            elif isinstance(change, RemoveCommittee | CommitteeRemoved) and change.epoch != self.epoch:
                self.committees.pop(change.epoch, None)

    # ------------------------------------------------------------------ inbox

    async def pending_bundles(self) -> list[IncomingBundle]:
        """The bundles waiting in this chain's inboxes, as told by validators and checked
        against the senders' certificates; the longest list that checks out wins."""
        query = ChainInfoQuery(self.chain_id, request_pending_message_bundles=True)
        results = await self._for_each_validator(lambda node: node.handle_chain_info_query(query))
        candidates = sorted(
            (result.info for result in results.values() if isinstance(result, ChainInfoResponse)),
            key=lambda info: -len(info.requested_pending_message_bundles),
        )
        for info in candidates:
            bundles = info.requested_pending_message_bundles
            try:
                await self._verify_bundles(bundles)
            except (EdgechainError, TimeoutError) as failure:
                logger.warning("chain %s: discarded the inbox a validator reported: %r", self.chain_id, failure)
                continue
            return [IncomingBundle(b.origin, b.bundle, MessageAction.ACCEPT) for b in bundles]
        return []

    async def _verify_bundles(self, bundles: list[IncomingBundle]) -> None:
        for incoming in bundles:
            certificate_hash = incoming.bundle.certificate_hash
            certificate = self._known_certificates.get(certificate_hash)
            if certificate is None:
                certificate = await self._download_certificate(certificate_hash)
            block = certificate.executed_block.block
            if block.chain_id != incoming.origin:
                raise ClientError(f"bundle from {incoming.origin} cites a block of {block.chain_id}")
            expected = certificate.executed_block.message_bundles_for(self.chain_id, certificate_hash)
            if incoming.bundle not in expected:
                raise ClientError(
                    f"bundle from {incoming.origin} at height {incoming.bundle.height} is not"
                    f" one that certificate {certificate_hash} sent"
                )

    async def _download_certificate(self, certificate_hash: CryptoHash) -> Certificate:
        failures: dict[str, Exception] = {}
        for node in self.validators:
            try:
                (certificate,) = await self._with_timeout(node.download_certificates([certificate_hash]))
                if certificate.hash() != certificate_hash:
                    raise ClientError(f"asked for certificate {certificate_hash}, got {certificate.hash()}")
                self._check_certificate(certificate)
            except (EdgechainError, TimeoutError, ValueError) as failure:
                failures[str(node.public_key)] = failure
                continue
            self._known_certificates[certificate_hash] = certificate
            return certificate
        raise QuorumNotReached(f"no validator gave certificate {certificate_hash}", failures)

    # ------------------------------------------------------------------ sync

    async def synchronize(self) -> ChainInfo:
        """Learn the chain's latest checked tip from the validators, then update lagging ones.

        Returns the chain info of a validator at that tip.
        """
        query = ChainInfoQuery(self.chain_id)
        results = await self._for_each_validator(lambda node: node.handle_chain_info_query(query))
        infos = {
            key: result.info for key, result in results.items() if isinstance(result, ChainInfoResponse)
        }
        if not infos:
            self._raise_for_failures(
                f"no validator answered about chain {self.chain_id}",
                {str(k): v for k, v in results.items() if isinstance(v, Exception)},
                self.committee,
            )
        highest = max(info.next_block_height for info in infos.values())
        if highest > self.next_block_height:
            certificates = await self.certificates_of_chain(
                self.chain_id, self.next_block_height, highest
            )
            for certificate in certificates:
                self._check_continues_chain(certificate)
                self._record_own_certificate(certificate)
        await self.synchronize_validators()
        for info in infos.values():
            if info.next_block_height == self.next_block_height and info.block_hash == self.block_hash:
                return info
        return (await self.query_chain_info())

    def _check_continues_chain(self, certificate: Certificate) -> None:
        block = certificate.executed_block.block
        if block.height != self.next_block_height or block.previous_block_hash != self.block_hash:
            raise ClientError(
                f"certificate at height {block.height} does not continue chain {self.chain_id}"
                f" at height {self.next_block_height}"
            )

    async def _chain_infos(self, query: ChainInfoQuery) -> list[tuple[PublicKey, ChainInfo]]:
        """The chain infos of the validators that answered with a valid signature."""
        results = await self._for_each_validator(lambda node: node.handle_chain_info_query(query))
        infos: list[tuple[PublicKey, ChainInfo]] = []
        for public_key, result in results.items():
            if not isinstance(result, ChainInfoResponse):
                continue
            try:
                result.check(public_key)
            except EdgechainError:
                continue
            infos.append((public_key, result.info))
        return infos

    async def query_chain_info(self) -> ChainInfo:
        """The chain's info, as told by validators worth at least the validity threshold.

        Responses are grouped by (next height, block hash, state hash, balance); the group
        at the highest height whose validators weigh at least ``validity_threshold`` wins,
        so at least one honest validator vouches for it.
        """
        committee = self.committee
        query = ChainInfoQuery(self.chain_id)
        results = await self._for_each_validator(lambda node: node.handle_chain_info_query(query))
        groups: dict[tuple[int, CryptoHash | None, CryptoHash, Amount], list[ChainInfo]] = {}
        weights: dict[tuple[int, CryptoHash | None, CryptoHash, Amount], int] = {}
        for public_key, result in results.items():
            if not isinstance(result, ChainInfoResponse):
                continue
            try:
                result.check(public_key)
            except EdgechainError:
                continue
            info = result.info
            key = (info.next_block_height.value, info.block_hash, info.state_hash, info.chain_balance)
            groups.setdefault(key, []).append(info)
            weights[key] = weights.get(key, 0) + committee.weight(public_key)
        trusted = [key for key, weight in weights.items() if weight >= committee.validity_threshold]
        if not trusted:
            raise QuorumNotReached(
                f"validators do not agree enough about chain {self.chain_id}",
                {str(k): v for k, v in results.items() if isinstance(v, Exception)},
            )
        return groups[max(trusted, key=lambda key: key[0])][0]

    async def query_balance(self) -> Amount:
        """The chain's balance, as vouched for by at least one honest validator."""
        return (await self.query_chain_info()).chain_balance

    # --------------------------------------------------------------- plumbing

    async def _upload_blobs(self, node: ValidatorNode, blobs: list[Blob]) -> None:
        for blob in blobs:
            await self._with_timeout(node.upload_blob(blob))

    async def _find_blobs(
        self, blob_ids: list[BlobId], blobs_by_id: dict[BlobId, Blob], exclude: ValidatorNode
    ) -> list[Blob]:
        """The blobs with these ids: from the caller, else downloaded (and checked) from validators."""
        found: list[Blob] = []
        for blob_id in blob_ids:
            blob = blobs_by_id.get(blob_id)
            if blob is None:
                blob = await self._download_blob(blob_id, exclude)
            found.append(blob)
        return found

    async def _download_blob(self, blob_id: BlobId, exclude: ValidatorNode) -> Blob:
        failures: dict[str, Exception] = {}
        for node in self.validators:
            if node is exclude:
                continue
            try:
                blob = await self._with_timeout(node.download_blob(blob_id))
            except (EdgechainError, TimeoutError) as failure:
                failures[str(node.public_key)] = failure
                continue
            if blob.id == blob_id:
                return blob
            failures[str(node.public_key)] = ClientError(f"sent blob {blob.id} for {blob_id}")
        raise QuorumNotReached(f"no validator gave blob {blob_id}", failures)

    async def _with_timeout(self, awaitable: Awaitable[T]) -> T:
        return await asyncio.wait_for(awaitable, self.request_timeout)

    async def _for_each_validator(
        self, request: Callable[[ValidatorNode], Awaitable[T]]
    ) -> dict[PublicKey, T | Exception]:
        """Run ``request`` against every validator concurrently; failures become values."""

        async def guarded(node: ValidatorNode) -> T | Exception:
            try:
                return await self._with_timeout(request(node))
            except (EdgechainError, TimeoutError) as failure:
                return failure

        results = await asyncio.gather(*(guarded(node) for node in self.validators))
        return {node.public_key: result for node, result in zip(self.validators, results, strict=True)}

    def _raise_for_failures(
        self, message: str, errors: dict[str, Exception], committee: Committee
    ) -> None:
        """Raise the validators' common error if enough of them agree on it, else QuorumNotReached.

        When validators worth the validity threshold fail with the same error type, at least
        one honest validator found the request wrong: that error is the answer. Being offline,
        slow or sending a bad vote is no verdict on the request.
        """
        weights_by_type: dict[type[Exception], int] = {}
        first_by_type: dict[type[Exception], Exception] = {}
        key_by_text = {str(public_key): public_key for public_key in committee.validators}
        for key_text, error in errors.items():
            public_key = key_by_text.get(key_text)
            weight = committee.weight(public_key) if public_key is not None else 0
            weights_by_type[type(error)] = weights_by_type.get(type(error), 0) + weight
            first_by_type.setdefault(type(error), error)
        for error_type, weight in weights_by_type.items():
            if weight >= committee.validity_threshold and not isinstance(
                first_by_type[error_type], RejectedVote | TimeoutError | ValidatorOffline
            ):
                raise first_by_type[error_type]
        raise QuorumNotReached(f"chain {self.chain_id}: {message}", errors)


def _check_block_vote(
    vote: Vote, block: Block, round_: Round, kind: type[ConfirmedBlock] | type[ValidatedBlock]
) -> str | None:
    """Why ``vote`` is not a vote of ``kind`` for ``block`` in ``round_`` (None if it is)."""
    if not isinstance(vote.value, kind) or vote.round != round_:
        return f"voted for another kind of value or round ({type(vote.value).__name__}, {vote.round})"
    if vote.value.executed_block.block != block:
        return "voted for another block"
    return None


def _most_common(values: list[T]) -> T:
    """The value that occurs most often (the first of them on a tie)."""
    counts: list[tuple[T, int]] = []
    for value in values:
        for index, (seen, count) in enumerate(counts):
            if seen == value:
                counts[index] = (seen, count + 1)
                break
        else:
            counts.append((value, 1))
    return max(counts, key=lambda item: item[1])[0]


async def _cancel_all(tasks: set[asyncio.Task[T]]) -> None:
    """Cancel unfinished tasks and wait for them, so none is left pending."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _says_which_bundle_fails(failure: ExecutionError) -> bool:
    """Whether an execution error is the chain's deterministic verdict on the block's content,
    so that rejecting the bundle that causes it is right. Missing blobs depend on the node
    (fetch and retry instead) and a wall-clock backstop is not deterministic: neither says
    anything about the messages, so neither may get a bundle rejected."""
    return not isinstance(failure, (BlobsNotFound, ContractTimedOut))
