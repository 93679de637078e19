"""Fault injection for tests: a `ValidatorNode` wrapper that goes offline, lies or dawdles.

    OFFLINE             every call raises `ValidatorOffline`
    SIGNS_WRONG_VALUE   votes carry the real value but a signature over another value
    EXECUTES_WRONGLY    votes are for the block with a wrong outcome (another state hash),
                        correctly signed, as a validator whose execution diverged would send
    SLOW                every call waits ``delay`` seconds first

Only votes are corrupted: the wrapped validator's own state stays what an honest
validator's would be, so tests can still compare it. The fault can be changed at any
time (``node.fault = None`` brings an offline validator back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash, KeyPair, PublicKey
from edgechain.base.identifiers import BlobId
from edgechain.chain.block import ExecutedBlock
from edgechain.chain.certificate import Certificate, ConfirmedBlock, ValidatedBlock, Vote
from edgechain.chain.proposal import BlockProposal
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.errors import ValidatorOffline
from edgechain.core.node import ValidatorNode


class FaultType(enum.Enum):
    """How a faulty validator misbehaves."""

    OFFLINE = "offline"
    SIGNS_WRONG_VALUE = "signs_wrong_value"
    EXECUTES_WRONGLY = "executes_wrongly"
    SLOW = "slow"


class FaultyValidatorNode:
    """Wraps a `ValidatorNode` and misbehaves as ``fault`` says (None: behaves honestly)."""

    def __init__(
        self,
        inner: ValidatorNode,
        key_pair: KeyPair,
        fault: FaultType | None = None,
        delay: float = 0.05,
    ) -> None:
        self.inner = inner
        """The honest node underneath."""
        self.key_pair = key_pair
        """The validator's key, used to sign corrupted votes."""
        self.fault = fault
        """The current fault, or None."""
        self.delay = delay
        """Seconds a SLOW node waits before each call."""

    @property
    def public_key(self) -> PublicKey:
        return self.inner.public_key

    async def _before_call(self) -> None:
        if self.fault is FaultType.OFFLINE:
            raise ValidatorOffline(f"validator {self.public_key} is offline (injected fault)")
        if self.fault is FaultType.SLOW:
            await asyncio.sleep(self.delay)

    async def handle_block_proposal(self, proposal: BlockProposal) -> ChainInfoResponse:
        await self._before_call()
        response = await self.inner.handle_block_proposal(proposal)
        if response.vote is None or not isinstance(response.vote.value, ConfirmedBlock | ValidatedBlock):
            return response
        if self.fault is FaultType.SIGNS_WRONG_VALUE:
            wrong_vote = Vote.new(_corrupt_value(response.vote.value), response.vote.round, self.key_pair)
            vote = Vote(response.vote.value, response.vote.round, self.public_key, wrong_vote.signature)
            return ChainInfoResponse.new(response.info, self.key_pair, vote)
        if self.fault is FaultType.EXECUTES_WRONGLY:
            vote = Vote.new(_corrupt_value(response.vote.value), response.vote.round, self.key_pair)
            return ChainInfoResponse.new(response.info, self.key_pair, vote)
        return response

    async def handle_certificate(self, certificate: Certificate) -> ChainInfoResponse:
        await self._before_call()
        return await self.inner.handle_certificate(certificate)

    async def handle_chain_info_query(self, query: ChainInfoQuery) -> ChainInfoResponse:
        await self._before_call()
        return await self.inner.handle_chain_info_query(query)

    async def upload_blob(self, blob: Blob) -> BlobId:
        await self._before_call()
        return await self.inner.upload_blob(blob)

    async def download_blob(self, blob_id: BlobId) -> Blob:
        await self._before_call()
        return await self.inner.download_blob(blob_id)

    async def download_certificates(self, hashes: list[CryptoHash]) -> list[Certificate]:
        await self._before_call()
        return await self.inner.download_certificates(hashes)

    def __repr__(self) -> str:
        return f"FaultyValidatorNode({self.public_key!r}, fault={self.fault})"


def _corrupt_value(value: ConfirmedBlock | ValidatedBlock) -> ConfirmedBlock | ValidatedBlock:
    """The same block with an outcome whose state hash is wrong."""
    executed = value.executed_block
    wrong_state_hash = CryptoHash.of("WrongExecution", executed.outcome.state_hash)
    wrong_outcome = dataclasses.replace(executed.outcome, state_hash=wrong_state_hash)
    wrong_executed = ExecutedBlock(executed.block, wrong_outcome)
    return type(value)(wrong_executed)
