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
