"""Canonical encoding round trips of every protocol type of the chain and execution layers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_helpers import chain, key_pair, make_ledger, owner_of

from edgechain.base import (
    Account,
    AccountOwner,
    Amount,
    ApplicationId,
    BlobId,
    BlobType,
    BlockHeight,
    ChainId,
    CryptoHash,
    EncodingError,
    Epoch,
    Timestamp,
    decode,
    encode,
)
from edgechain.chain import (
    Block,
    BlockProposal,
    Certificate,
    ChainTipState,
    ConfirmedBlock,
    Cursor,
    ExecutedBlock,
    Fast,
    IncomingBundle,
    MessageAction,
    MessageBundle,
    MultiLeader,
    Operation,
    ProposalContent,
    Round,
    SingleLeader,
    ValidatedBlock,
    Vote,
)
from edgechain.chain.block import Event
from edgechain.chain.certificate import Timeout
from edgechain.execution import (
    ChainOwnership,
    ChangeOwnership,
    ChildChain,
    Claim,
    CloseChain,
    Committee,
    CommitteeCreated,
    CommitteeRemoved,
    CreateCommittee,
    Credit,
    InitialChainConfig,
    Message,
    OpenChain,
    OpenChainMessage,
    PublishDataBlob,
    RemoveCommittee,
    ResourceControlPolicy,
    RootChain,
    Subscribe,
    TimeoutConfig,
    Transfer,
    UserMessage,
    UserOperation,
    ValidatorState,
    Withdraw,
)

hashes = st.binary(min_size=32, max_size=32).map(CryptoHash)
chain_ids = hashes.map(ChainId)
owners = hashes.map(AccountOwner)
amounts = st.integers(min_value=0, max_value=(1 << 128) - 1).map(Amount)
accounts = st.builds(Account, chain_ids, st.none() | owners)
blob_ids = st.builds(BlobId, st.sampled_from(list(BlobType)), hashes)
epochs = st.integers(min_value=0, max_value=1000).map(Epoch)
ownerships = st.one_of(
    owners.map(ChainOwnership.single),
    st.dictionaries(owners, st.integers(min_value=1, max_value=100), min_size=1, max_size=3).map(
        ChainOwnership.multiple
    ),
)
committee = Committee.of_equal_weights(
    [key_pair(i).public_key for i in range(3)], ResourceControlPolicy.testnet()
)
operations: st.SearchStrategy[Operation] = st.one_of(
    st.builds(Transfer, st.none() | owners, accounts, amounts),
    st.builds(Claim, owners, chain_ids, accounts, amounts),
    st.builds(OpenChain, ownerships, amounts),
    st.builds(ChangeOwnership, ownerships),
    st.just(CloseChain()),
    st.builds(PublishDataBlob, blob_ids),
    st.builds(CreateCommittee, epochs, st.just(committee)),
    st.builds(RemoveCommittee, epochs),
    st.builds(UserOperation, hashes.map(ApplicationId), st.binary(max_size=40)),
)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Credit, st.none() | owners, amounts, st.none() | owners),
    st.builds(Withdraw, owners, amounts, accounts),
    st.builds(CommitteeCreated, epochs, st.just(committee)),
    st.builds(CommitteeRemoved, epochs),
    st.builds(Subscribe, chain_ids),
    st.builds(UserMessage, hashes.map(ApplicationId), st.binary(max_size=40)),
)
rounds: st.SearchStrategy[Round] = st.one_of(
    st.just(Fast()),
    st.integers(min_value=0, max_value=10**6).map(MultiLeader),
    st.integers(min_value=0, max_value=10**6).map(SingleLeader),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(operations, max_size=4))
def test_operations_round_trip(values: list[Operation]) -> None:
    assert decode(encode(values, list[Operation]), list[Operation]) == values


@settings(max_examples=60, deadline=None)
@given(st.lists(messages, max_size=4))
def test_messages_round_trip(values: list[Message]) -> None:
    assert decode(encode(values, list[Message]), list[Message]) == values


@settings(max_examples=40, deadline=None)
@given(rounds)
def test_rounds_round_trip(round_: Round) -> None:
    assert decode(encode(round_, Round), Round) == round_


@settings(max_examples=30, deadline=None)
@given(
    chain_ids,
    st.integers(min_value=0, max_value=1 << 40),
    st.none() | hashes,
    st.lists(operations, max_size=3),
    st.lists(blob_ids, max_size=2),
)
def test_blocks_round_trip(
    chain_id: ChainId,
    height: int,
    previous: CryptoHash | None,
    block_operations: list[Operation],
    published: list[BlobId],
) -> None:
    bundle = MessageBundle(BlockHeight(1), Timestamp(5), CryptoHash.of_bytes(b"c"), 2, [])
    block = Block(
        chain_id,
        Epoch(3),
        BlockHeight(height),
        Timestamp(height),
        None,
        previous,
        [IncomingBundle(chain_id, bundle, MessageAction.REJECT)],
        block_operations,
        published,
    )
    assert decode(encode(block), Block) == block


def test_executed_blocks_votes_certificates_and_proposals_round_trip() -> None:
    ledger = make_ledger([100, 100])
    pair = key_pair(1)
    owner = owner_of(pair)
    executed = ledger.transfer(chain(1), chain(2), Amount(5))
    received = ledger.receive_all(chain(2))
    for value in (executed, received):
        assert decode(encode(value), ExecutedBlock) == value
    confirmed = ConfirmedBlock(executed)
    votes = [Vote.new(confirmed, Fast(), key_pair(1000 + i)) for i in range(3)]
    certificate = Certificate.from_votes(confirmed, Fast(), votes)
    validated_certificate = Certificate.from_votes(
        ValidatedBlock(executed),
        MultiLeader(0),
        [Vote.new(ValidatedBlock(executed), MultiLeader(0), key_pair(1000))],
    )
    proposal = BlockProposal.new(
        ProposalContent(executed.block, SingleLeader(3)), pair, validated_certificate
    )
    samples: list[tuple[Any, Any]] = [
        (votes[0], Vote),
        (certificate, Certificate),
        (validated_certificate, Certificate),
        (proposal, BlockProposal),
        (ChainTipState(confirmed.hash(), BlockHeight(1)), ChainTipState),
        (Cursor(BlockHeight(3), 1), Cursor),
        (ChainOwnership.multiple({owner: 2}, 3, TimeoutConfig(5, 6, 7, 8)), ChainOwnership),
        (committee, Committee),
        (ResourceControlPolicy.testnet(), ResourceControlPolicy),
        (
            OpenChainMessage(
                ChildChain(chain(1), BlockHeight(2), 0),
                InitialChainConfig(
                    ChainOwnership.single(owner),
                    Epoch(0),
                    chain(0),
                    {Epoch(0): committee},
                    Amount(3),
                    Timestamp(9),
                ),
            ),
            OpenChainMessage,
        ),
        (RootChain(4), RootChain),
        (Timeout(chain(1), BlockHeight(2), Epoch(3)), Timeout),
        (Event(b"stream", 4, b"value"), Event),
        (ValidatorState(3, "tcp:127.0.0.1:9000"), ValidatorState),
    ]
    for value, value_type in samples:
        assert decode(encode(value), value_type) == value, value_type
    assert decode(encode(certificate), Certificate).hash() == certificate.hash()


def test_a_confirmed_certificate_does_not_decode_as_validated() -> None:
    ledger = make_ledger([100, 100])
    executed = ledger.transfer(chain(1), chain(2), Amount(5))
    encoded = encode(ConfirmedBlock(executed))
    decoded = decode(encoded, ConfirmedBlock)
    assert isinstance(decoded, ConfirmedBlock)
    tagged = encode(ConfirmedBlock(executed), ConfirmedBlock | ValidatedBlock)
    assert isinstance(decode(tagged, ConfirmedBlock | ValidatedBlock), ConfirmedBlock)


def test_malformed_and_non_canonical_bytes_are_refused() -> None:
    block = Block(chain(1), Epoch(0), BlockHeight(0), Timestamp(1), None, None, [], [], [])
    encoded = encode(block)
    with pytest.raises(EncodingError):
        decode(encoded[:-1], Block)
    with pytest.raises(EncodingError):
        decode(encoded + b"\x00", Block)
    with pytest.raises(EncodingError):
        decode(encode(["NotAnOperation", []]), Operation)
    with pytest.raises(EncodingError):  # a committee without validators is not a committee
        decode(encode([{}, ResourceControlPolicy.no_fees()]), Committee)
