"""Cross-chain delivery: outboxes re-send until confirmed, inboxes refuse gaps, and a delivery
is believed only as far as the validator's own stored certificates vouch for it."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import chain_state, next_block, run, tokens
from test_worker import certify, propose, transfer_to

from edgechain.base.crypto import CryptoHash
from edgechain.base.values import BlockHeight
from edgechain.chain.certificate import Certificate
from edgechain.chain.errors import MissingEarlierBundles
from edgechain.core.chain_info import ChainInfoQuery
from edgechain.core.cross_chain import UpdateRecipient
from edgechain.core.errors import InvalidCrossChainRequest
from edgechain.core.local_node import LocalValidatorNode
from edgechain.core.network import LocalNetwork
from edgechain.execution.messages import Credit


def two_transfers_to_bob(network: LocalNetwork) -> tuple[Certificate, Certificate]:
    """Alice's blocks 0 and 1, each sending Bob tokens; certified, applied nowhere yet."""
    first = certify(network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 5)])))
    for worker in network.workers:
        worker.handle_certificate(first)  # applied, its delivery dropped
    second = certify(
        network, propose(network, 0, next_block(network, 0, [transfer_to(network, 1, 7)], first))
    )
    return first, second


def inbox_heights(network: LocalNetwork, validator: int) -> list[BlockHeight]:
    inbox = chain_state(network, validator, 1).inboxes.try_load_entry(network.user_chain_ids[0])
    return [] if inbox is None else [bundle.height for bundle in inbox.added_bundles.elements()]


def test_a_lost_delivery_is_sent_again_with_the_next_block(network: LocalNetwork) -> None:
    _, second = two_transfers_to_bob(network)
    assert inbox_heights(network, 0) == []
    for worker in network.workers:
        node = LocalValidatorNode(worker)
        _, requests = worker.handle_certificate(second)
        (update,) = requests
        assert isinstance(update, UpdateRecipient) and update.previous_height is None
        assert [bundle.height for bundle in update.bundles] == [BlockHeight(0), BlockHeight(1)]
        node.deliver(requests)
    for validator in range(4):
        assert inbox_heights(network, validator) == [BlockHeight(0), BlockHeight(1)]
        assert chain_state(network, validator, 0).unconfirmed_outboxes() == []
    bob = network.client(1)
    assert run(bob.process_inbox()) is not None
    assert run(bob.query_balance()) == tokens(112)


def test_an_already_applied_certificate_sends_its_lost_delivery_again(network: LocalNetwork) -> None:
    first, _ = two_transfers_to_bob(network)
    worker = network.workers[0]
    _, requests = worker.handle_certificate(first)
    (update,) = requests
    assert isinstance(update, UpdateRecipient)
    assert [bundle.height for bundle in update.bundles] == [BlockHeight(0)]
    LocalValidatorNode(worker).deliver(requests)
    assert inbox_heights(network, 0) == [BlockHeight(0)]
    # Confirmed: nothing more to send.
    assert worker.handle_certificate(first)[1] == []


def test_a_chain_info_query_repairs_a_lost_delivery(network: LocalNetwork) -> None:
    two_transfers_to_bob(network)
    node = LocalValidatorNode(network.workers[2])
    run(node.handle_chain_info_query(ChainInfoQuery(network.user_chain_ids[0])))
    assert inbox_heights(network, 2) == [BlockHeight(0)]
    assert chain_state(network, 2, 0).unconfirmed_outboxes() == []


def test_a_delivery_that_skips_a_block_is_refused_without_change(network: LocalNetwork) -> None:
    first, second = two_transfers_to_bob(network)
    worker = network.workers[0]
    worker.handle_certificate(second)
    alice, bob = network.user_chain_ids[0], network.user_chain_ids[1]
    (bundle,) = second.executed_block.message_bundles_for(bob, second.hash())
    with pytest.raises(MissingEarlierBundles):
        worker.handle_cross_chain_request(UpdateRecipient(alice, bob, BlockHeight(0), [bundle]))
    assert inbox_heights(network, 0) == []
    # In order, it is taken.
    (earlier,) = first.executed_block.message_bundles_for(bob, first.hash())
    worker.handle_cross_chain_request(UpdateRecipient(alice, bob, None, [earlier]))
    worker.handle_cross_chain_request(UpdateRecipient(alice, bob, BlockHeight(0), [bundle]))
    assert inbox_heights(network, 0) == [BlockHeight(0), BlockHeight(1)]


def test_a_delivery_not_backed_by_a_stored_certificate_is_refused(network: LocalNetwork) -> None:
    first, _ = two_transfers_to_bob(network)
    worker = network.workers[0]
    alice, bob = network.user_chain_ids[0], network.user_chain_ids[1]
    (bundle,) = first.executed_block.message_bundles_for(bob, first.hash())
    (posted,) = bundle.messages
    assert isinstance(posted.message, Credit)
    inflated = dataclasses.replace(
        bundle,
        messages=[dataclasses.replace(posted, message=dataclasses.replace(posted.message, amount=tokens(1_000_000)))],
    )
    unknown = dataclasses.replace(bundle, certificate_hash=CryptoHash.of_bytes(b"no such block"))
    for forged in (inflated, unknown):
        with pytest.raises(InvalidCrossChainRequest):
            worker.handle_cross_chain_request(UpdateRecipient(alice, bob, None, [forged]))
    # Claiming to come from another chain than the certificate's is refused too.
    with pytest.raises(InvalidCrossChainRequest):
        worker.handle_cross_chain_request(
            UpdateRecipient(network.user_chain_ids[2], bob, None, [bundle])
        )
    assert inbox_heights(network, 0) == []
