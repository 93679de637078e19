"""WorkerState trusts only committees it already knows: never one named inside a certificate."""

from __future__ import annotations

import pytest
from core_helpers import run, tokens

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import AccountOwner
from edgechain.base.values import Amount, BlockHeight, Epoch, Timestamp
from edgechain.chain.block import Block, ExecutedBlock, IncomingBundle, MessageBundle, PostedMessage
from edgechain.chain.certificate import Certificate, ConfirmedBlock, Vote
from edgechain.chain.errors import ChainError
from edgechain.chain.execution import execute_block
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast
from edgechain.chain.state import ChainStateView
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.errors import UnknownChain
from edgechain.core.network import LocalNetwork, derive_key_pair
from edgechain.execution.committee import Committee
from edgechain.execution.description import ChildChain, InitialChainConfig
from edgechain.execution.messages import MessageAction, MessageKind, OpenChainMessage
from edgechain.execution.ownership import ChainOwnership
from edgechain.views.context import ViewContext
from edgechain.views.memory_store import MemoryStore


def forged_child_certificate(network: LocalNetwork) -> Certificate:
    """A certificate for the first block of a child chain that the parent never opened,
    signed by a committee the attacker invented and named in the block's own OpenChain message."""
    parent = network.user_chain_ids[0]
    attackers = [derive_key_pair(99, "evil", index) for index in range(1)]
    evil_committee = Committee.of_equal_weights([key.public_key for key in attackers])
    owner = AccountOwner.from_public_key(attackers[0].public_key)
    description = ChildChain(parent, BlockHeight(7), 0)  # a chain the parent may open later
    child = description.chain_id()
    config = InitialChainConfig(
        ChainOwnership.single(owner),
        Epoch(0),
        network.admin_id,
        {Epoch(0): evil_committee},
        Amount.from_tokens(1_000_000),
        Timestamp(0),
    )
    bundle = MessageBundle(
        BlockHeight(7),
        Timestamp(0),
        CryptoHash.of("x", 1),
        0,
        [PostedMessage(None, Amount.zero(), None, MessageKind.PROTECTED, 0, OpenChainMessage(description, config))],
    )
    block = Block(
        child, Epoch(0), BlockHeight(0), Timestamp(1), owner, None,
        [IncomingBundle(parent, bundle, MessageAction.ACCEPT)], [], [],
    )
    scratch = ChainStateView(ViewContext(MemoryStore()), child)
    outcome = execute_block(scratch, block, None, lambda ids: [], require_received_bundles=False)
    value = ConfirmedBlock(ExecutedBlock(block, outcome))
    return Certificate.from_votes(value, Fast(), [Vote.new(value, Fast(), key) for key in attackers])


def test_forged_certificate_cannot_open_a_child_chain(network: LocalNetwork) -> None:
    certificate = forged_child_certificate(network)
    child = certificate.executed_block.block.chain_id
    with pytest.raises(ChainError):
        network.workers[0].handle_certificate(certificate)
    chain = network.storages[0].load_chain(child)
    assert not chain.is_active()
    assert chain.execution_state.system.balance.get() == Amount.zero()
    assert chain.next_block_height() == BlockHeight(0)


def test_genuine_child_chain_opens_with_the_admin_committee(network: LocalNetwork) -> None:
    client = network.client(0)
    owner_key = derive_key_pair(5, "child-owner", 0)
    owner = AccountOwner.from_public_key(owner_key.public_key)
    child_id, _ = run(client.open_chain(ChainOwnership.single(owner), tokens(10)))
    child_client = network.client_for(child_id, owner_key)
    assert run(child_client.process_inbox()) is not None
    for storage in network.storages:
        assert storage.load_chain(child_id).is_active()



def test_a_proposal_or_timeout_request_for_an_unknown_chain_is_refused(network: LocalNetwork) -> None:
    certificate = forged_child_certificate(network)
    block = certificate.executed_block.block
    worker = network.workers[0]
    key = derive_key_pair(99, "evil", 0)
    with pytest.raises(UnknownChain):
        worker.handle_block_proposal(BlockProposal.new(ProposalContent(block, Fast()), key))
    with pytest.raises(UnknownChain):
        worker.handle_chain_info_query(ChainInfoQuery(block.chain_id, request_timeout_vote=True))
    info = worker.handle_chain_info_query(ChainInfoQuery(block.chain_id)).info
    assert not info.is_active and info.next_block_height == BlockHeight(0)
