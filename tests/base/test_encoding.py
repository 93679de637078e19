"""Canonical encoding: round trips, canonical-only decoding, tagged unions, malformed input."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgechain.base import (
    Account,
    AccountOwner,
    Amount,
    BlobId,
    BlobType,
    BlockHeight,
    ChainId,
    CryptoHash,
    EncodingError,
    decode,
    encode,
)


@dataclass(frozen=True, slots=True)
class Credit:
    target: Account
    amount: Amount


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    height: BlockHeight
    items: list[Credit | Note]
    memo: Note | None
    pairs: dict[str, int]
    fixed: tuple[int, str]
    blobs: tuple[BlobId, ...]


hashes = st.binary(min_size=32, max_size=32).map(CryptoHash)
chains = hashes.map(ChainId)
owners = st.none() | hashes.map(AccountOwner)
accounts = st.builds(Account, chains, owners)
amounts = st.integers(min_value=0, max_value=(1 << 128) - 1).map(Amount)
credits = st.builds(Credit, accounts, amounts)
notes = st.builds(Note, st.text(max_size=20), st.binary(max_size=20))
envelopes = st.builds(
    Envelope,
    st.integers(0, (1 << 64) - 1).map(BlockHeight),
    st.lists(credits | notes, max_size=5),
    st.none() | notes,
    st.dictionaries(st.text(max_size=5), st.integers(-(2**70), 2**70), max_size=5),
    st.tuples(st.integers(-5, 5), st.text(max_size=3)),
    st.lists(st.builds(BlobId, st.sampled_from(BlobType), hashes), max_size=3).map(tuple),
)


@given(envelopes)
def test_round_trip_is_identity(envelope: Envelope) -> None:
    assert decode(encode(envelope), Envelope) == envelope


@given(envelopes)
def test_encoding_is_canonical_and_stable(envelope: Envelope) -> None:
    data = encode(envelope)
    assert encode(decode(data, Envelope)) == data


def test_union_members_are_tagged_by_class_name() -> None:
    envelope = Envelope(BlockHeight(1), [Note("a", b"")], None, {}, (1, "x"), ())
    raw = cbor2.loads(encode(envelope))
    assert raw[1] == [["Note", ["a", b""]]]


def test_transparent_wrappers_encode_as_their_field() -> None:
    assert cbor2.loads(encode(BlockHeight(7))) == 7
    digest = bytes(range(32))
    assert cbor2.loads(encode(ChainId(CryptoHash(digest)))) == digest


def test_map_keys_in_any_order_give_the_same_bytes() -> None:
    first = Envelope(BlockHeight(0), [], None, {"b": 1, "a": 2}, (0, ""), ())
    second = Envelope(BlockHeight(0), [], None, {"a": 2, "b": 1}, (0, ""), ())
    assert encode(first) == encode(second)


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"\xff",  # a lone break code
        bytes.fromhex("1801"),  # 1 encoded in two bytes: not the shortest form
        bytes.fromhex("a2616201616102"),  # map {"b": 1, "a": 2}: keys out of canonical order
        bytes.fromhex("9fff"),  # indefinite-length array
        bytes.fromhex("f93c00"),  # a float
        bytes.fromhex("c0"),  # a tag without content
        bytes.fromhex("9b00000000ffffffff"),  # an array claiming 2^32 - 1 items
    ],
)
def test_malformed_or_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode(data, Envelope)


def test_trailing_bytes_are_refused() -> None:
    data = encode(BlockHeight(3))
    with pytest.raises(EncodingError):
        decode(data + b"\x00", BlockHeight)


def test_wrong_shape_is_refused_with_the_type_named() -> None:
    with pytest.raises(EncodingError, match="Credit"):
        decode(cbor2.dumps([1, 2, 3], canonical=True), Credit)
    with pytest.raises(EncodingError):
        decode(encode("text"), BlockHeight)
    with pytest.raises(EncodingError, match="variant"):
        decode(cbor2.dumps(["Nope", 1], canonical=True), Credit | Note)


def test_out_of_range_values_are_refused_on_decode() -> None:
    with pytest.raises(EncodingError):
        decode(encode(-1), Amount)
    with pytest.raises(EncodingError):
        decode(encode(b"short"), CryptoHash)


def test_fixed_length_tuples_of_the_wrong_length_cannot_be_encoded() -> None:
    with pytest.raises(EncodingError, match="tuple of 2"):
        encode((1, 2, 3), tuple[int, int])


def test_floats_cannot_be_encoded() -> None:
    with pytest.raises(EncodingError):
        encode(1.5)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_encoding_error(data: bytes) -> None:
    with contextlib.suppress(EncodingError):
        decode(data, Envelope)


def test_classes_created_at_run_time_are_not_kept_alive_by_the_encoder() -> None:
    # Contract classes are created anew for every block; the encoder must not hoard them.
    import gc
    import weakref

    namespace: dict[str, object] = {}
    exec(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True, slots=True)\n"
        "class Ephemeral:\n"
        "    value: int\n",
        namespace,
    )
    ephemeral = namespace["Ephemeral"]
    assert isinstance(ephemeral, type)
    assert decode(encode(ephemeral(5)), ephemeral) == ephemeral(5)
    reference = weakref.ref(ephemeral)
    del ephemeral, namespace
    gc.collect()
    assert reference() is None
