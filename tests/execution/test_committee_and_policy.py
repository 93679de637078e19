"""Committees (weights, thresholds, validation), the resource-control policy, chain ownership."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgechain.base import AccountOwner, CryptoHash, KeyPair, decode, encode
from edgechain.execution import (
    ChainOwnership,
    Committee,
    InvalidCommittee,
    InvalidOwnership,
    PolicyLimitExceeded,
    ResourceControlPolicy,
    TimeoutConfig,
    ValidatorState,
)


def public_key(index: int):  # type: ignore[no-untyped-def]
    return KeyPair.from_seed(index.to_bytes(32, "big")).public_key


def owner(index: int) -> AccountOwner:
    return AccountOwner(CryptoHash.of_bytes(bytes([index])))


@given(st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=12))
def test_two_quorums_always_share_a_validity_weight(weights: list[int]) -> None:
    committee = Committee(
        {public_key(i): ValidatorState(w, f"local:{i}") for i, w in enumerate(weights)},
        ResourceControlPolicy.no_fees(),
    )
    total = committee.total_weight
    assert total == sum(weights)
    # any two quorums overlap in at least validity_threshold of weight...
    assert 2 * committee.quorum_threshold - total >= committee.validity_threshold
    # ...and the honest validators alone (all but a third) can always form one
    assert committee.quorum_threshold <= total - (committee.validity_threshold - 1)
    assert 0 < committee.validity_threshold <= committee.quorum_threshold <= total


def test_committee_validation() -> None:
    with pytest.raises(InvalidCommittee):
        Committee({}, ResourceControlPolicy.no_fees())
    with pytest.raises(InvalidCommittee):
        Committee({public_key(1): ValidatorState(0, "x")}, ResourceControlPolicy.no_fees())
    committee = Committee.of_equal_weights([public_key(1), public_key(2)])
    assert committee.weight(public_key(1)) == 1
    assert committee.weight(public_key(3)) == 0
    assert committee.validators[public_key(2)].network_address == "local:1"


def test_policies_are_frozen_data_with_presets() -> None:
    free = ResourceControlPolicy.no_fees()
    testnet = ResourceControlPolicy.testnet()
    assert free.no_prices()
    assert not testnet.no_prices()
    assert testnet.maximum_blob_size == 1_000_000
    assert testnet.maximum_published_blobs == 10
    assert decode(encode(testnet), ResourceControlPolicy) == testnet
    with pytest.raises(AttributeError):
        testnet.maximum_blob_size = 5  # type: ignore[misc]
    testnet.check_blob_size(1_000_000)
    with pytest.raises(PolicyLimitExceeded):
        testnet.check_blob_size(1_000_001)
    with pytest.raises(PolicyLimitExceeded):
        testnet.check_bytecode_size(2_000_000)
    free.check_blob_size(10**12)


def test_fees_add_up_per_item_and_byte() -> None:
    policy = ResourceControlPolicy.testnet()
    none = policy.block_fees(operation_sizes=[], message_sizes=[], published_blob_count=0)
    assert none == policy.block
    some = policy.block_fees(
        operation_sizes=[10, 20],
        message_sizes=[5],
        published_blob_count=1,
        published_blob_bytes=100,
    )
    expected = (
        policy.block.atto
        + 2 * policy.operation.atto
        + 30 * policy.operation_byte.atto
        + policy.message.atto
        + 5 * policy.message_byte.atto
        + policy.blob_published.atto
        + 100 * policy.blob_byte_published.atto
    )
    assert some.atto == expected
    assert (
        ResourceControlPolicy.no_fees()
        .block_fees(operation_sizes=[10**6], message_sizes=[10**6], published_blob_count=5)
        .atto
        == 0
    )


def test_ownership_kinds() -> None:
    single = ChainOwnership.single(owner(1))
    assert single.is_single_owner()
    assert single.is_owner(owner(1)) and not single.is_owner(owner(2))
    multi = ChainOwnership.multiple({owner(3): 2, owner(2): 1}, multi_leader_rounds=3)
    assert not multi.is_single_owner()
    assert list(multi.owners) == sorted(multi.owners), "owners are kept in canonical order"
    assert multi.all_owners() == sorted([owner(2), owner(3)])
    assert multi.timeout_config == TimeoutConfig()
    assert ChainOwnership(super_owners=[], owners={}).is_empty()
    with pytest.raises(InvalidOwnership):
        ChainOwnership.multiple({})
    with pytest.raises(InvalidOwnership):
        ChainOwnership.multiple({owner(1): 0})
    with pytest.raises(InvalidOwnership):
        ChainOwnership(super_owners=[owner(2), owner(1)], owners={})
    assert decode(encode(multi), ChainOwnership) == multi
