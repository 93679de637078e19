"""Chain info, queries and cross-chain requests: canonical encodings round-trip (for the wire),
and a response's signature binds the validator to the info."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import next_block, tokens

from edgechain.base.encoding import decode, encode
from edgechain.base.identifiers import Account
from edgechain.base.values import BlockHeight
from edgechain.chain.certificate import Certificate
from edgechain.chain.proposal import BlockProposal, ProposalContent
from edgechain.chain.rounds import Fast
from edgechain.core.chain_info import ChainInfoQuery, ChainInfoResponse
from edgechain.core.cross_chain import ConfirmUpdatedRecipient, CrossChainRequest, UpdateRecipient
from edgechain.core.errors import WorkerError
from edgechain.core.network import LocalNetwork
from edgechain.execution.operations import Transfer


def test_query_response_and_requests_round_trip(network: LocalNetwork) -> None:
    worker = network.workers[0]
    block = next_block(network, 0, [Transfer(None, Account(network.user_chain_ids[1]), tokens(5))])
    proposal = BlockProposal.new(ProposalContent(block, Fast()), network.user_keys[0])
    voted = worker.handle_block_proposal(proposal)
    assert decode(encode(voted), ChainInfoResponse) == voted
    assert decode(encode(proposal), BlockProposal) == proposal

    votes = [w.handle_block_proposal(proposal).vote for w in network.workers[:3]]
    certificate = Certificate.from_votes(votes[0].value, Fast(), votes)  # type: ignore[union-attr,arg-type]
    _, requests = worker.handle_certificate(certificate)
    for request in requests:
        assert decode(encode(request, CrossChainRequest), CrossChainRequest) == request
    confirmation = ConfirmUpdatedRecipient(block.chain_id, network.user_chain_ids[1], BlockHeight(0))
    assert decode(encode(confirmation, CrossChainRequest), CrossChainRequest) == confirmation
    assert isinstance(requests[0], UpdateRecipient)

    query = ChainInfoQuery(
        network.user_chain_ids[1],
        request_pending_message_bundles=True,
        request_sent_certificate_hashes_from=BlockHeight(0),
    )
    assert decode(encode(query), ChainInfoQuery) == query
    worker.handle_cross_chain_request(requests[0])
    answered = worker.handle_chain_info_query(query)
    assert len(answered.info.requested_pending_message_bundles) == 1
    assert decode(encode(answered), ChainInfoResponse) == answered


def test_response_signature_binds_the_validator(network: LocalNetwork) -> None:
    response = network.workers[1].handle_chain_info_query(ChainInfoQuery(network.user_chain_ids[0]))
    response.check(network.validator_keys[1].public_key)
    with pytest.raises(WorkerError):
        response.check(network.validator_keys[0].public_key)
    altered = dataclasses.replace(
        response, info=dataclasses.replace(response.info, chain_balance=tokens(1_000_000))
    )
    with pytest.raises(WorkerError):
        altered.check(network.validator_keys[1].public_key)


def test_pending_bundles_of_a_new_child_chain_start_with_its_opening(network: LocalNetwork) -> None:
    """An origin that sorts before the parent must not come first: the child's first block
    has to begin with the parent's OpenChain bundle."""
    from core_helpers import run

    from edgechain.base.identifiers import AccountOwner
    from edgechain.core.network import derive_key_pair
    from edgechain.execution.messages import OpenChainMessage
    from edgechain.execution.ownership import ChainOwnership

    by_key = sorted(range(3), key=lambda index: encode(network.user_chain_ids[index]))
    sender_index, parent_index = by_key[0], by_key[-1]
    owner_key = derive_key_pair(6, "child-owner", 0)
    owner = AccountOwner.from_public_key(owner_key.public_key)
    child_id, _ = run(network.client(parent_index).open_chain(ChainOwnership.single(owner), tokens(3)))
    run(network.client(sender_index).transfer_to_chain(tokens(2), child_id))
    assert encode(network.user_chain_ids[sender_index]) < encode(network.user_chain_ids[parent_index])
    pending = network.workers[0].handle_chain_info_query(
        ChainInfoQuery(child_id, request_pending_message_bundles=True)
    ).info.requested_pending_message_bundles
    assert [incoming.origin for incoming in pending] == [
        network.user_chain_ids[parent_index],
        network.user_chain_ids[sender_index],
    ]
    assert isinstance(pending[0].bundle.messages[0].message, OpenChainMessage)
    child = network.client_for(child_id, owner_key)
    assert run(child.process_inbox()) is not None
    assert run(child.query_balance()) == tokens(5)
