"""Amounts, heights and epochs: checked arithmetic, exact parsing, text forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgechain.base import (
    Account,
    AccountOwner,
    Amount,
    ArithmeticOverflow,
    BlockHeight,
    ChainId,
    CryptoError,
    Epoch,
)

U128 = (1 << 128) - 1


def test_amounts_parse_exactly_without_floats() -> None:
    assert Amount.from_tokens("1.25").atto == 1_250_000_000_000_000_000
    assert Amount.from_tokens(3).atto == 3 * 10**18
    assert Amount.from_tokens("0.000000000000000001").atto == 1
    assert str(Amount.from_tokens("1.25")) == "1.25"
    assert str(Amount.from_tokens(2)) == "2."


def test_large_amounts_parse_without_rounding() -> None:
    assert Amount.from_tokens("10000000000.000000000000000001").atto == 10**28 + 1
    assert (
        Amount.from_tokens(Decimal("12345678901234567890.5")).atto
        == 12345678901234567890 * 10**18 + 5 * 10**17
    )


@given(st.integers(0, (1 << 128) - 1))
def test_text_form_parses_back_exactly(atto: int) -> None:
    assert Amount.from_tokens(str(Amount(atto))).atto == atto


@pytest.mark.parametrize(
    "text", ["abc", "1e400", "0.0000000000000000001", "-1", "1.5.5", "", " . ", "1,5", "inf"]
)
def test_bad_token_amounts_are_refused(text: str) -> None:
    with pytest.raises(ArithmeticOverflow):
        Amount.from_tokens(text)


@given(st.integers(0, U128), st.integers(0, U128))
def test_checked_arithmetic_never_leaves_the_range(a: int, b: int) -> None:
    x, y = Amount(a), Amount(b)
    if a + b <= U128:
        assert x.try_add(y).atto == a + b
    else:
        with pytest.raises(ArithmeticOverflow):
            x.try_add(y)
    if b <= a:
        assert x.try_sub(y).atto == a - b
    else:
        with pytest.raises(ArithmeticOverflow):
            x.try_sub(y)
    assert x.saturating_sub(y).atto == max(0, a - b)


def test_heights_and_epochs_are_bounded() -> None:
    assert BlockHeight(0).next() == BlockHeight(1)
    with pytest.raises(ArithmeticOverflow):
        BlockHeight((1 << 64) - 1).next()
    with pytest.raises(ArithmeticOverflow):
        Epoch(-1)
    with pytest.raises(ArithmeticOverflow):
        BlockHeight(True)


def test_accounts_parse_their_text_form() -> None:
    chain = ChainId.root(3)
    owner = AccountOwner.from_hex("11" * 32)
    assert Account.parse(str(Account(chain, owner))) == Account(chain, owner)
    assert Account.parse(str(chain)) == Account(chain)
    with pytest.raises(CryptoError):
        Account.parse("nonsense@alsononsense")


def test_root_and_child_chain_ids_are_distinct() -> None:
    assert ChainId.root(0) != ChainId.root(1)
    child = ChainId.child(ChainId.root(0), BlockHeight(0), 0)
    assert child not in {ChainId.root(0), ChainId.root(1)}
    assert ChainId.child(ChainId.root(0), BlockHeight(0), 1) != child
