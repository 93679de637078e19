"""JSON arguments read as an ABI's declared types (`value_from_json`, `encode_json`), and
`publish_and_create` (the code path of ``edgechain publish-and-create``) with them."""

from __future__ import annotations

import asyncio
import enum
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode
from edgechain.base.identifiers import Account, AccountOwner, BlobId, BlobType, ChainId, ModuleId
from edgechain.base.values import U128_MAX, Amount, BlockHeight
from edgechain.core.applications_client import (
    application_abi,
    encode_json,
    publish_and_create,
    value_from_json,
)
from edgechain.core.errors import ClientError, JsonArgumentError
from edgechain.testing import ApplicationTester

FUNGIBLE = Path(__file__).resolve().parents[2] / "apps" / "fungible"
ABI = application_abi(FUNGIBLE)
InitialState = ABI.InstantiationArgument
Transfer = sys.modules[ABI.__module__].Transfer

ALICE = AccountOwner(CryptoHash.of_bytes(b"alice"))
BOB = AccountOwner(CryptoHash.of_bytes(b"bob"))
CHAIN = ChainId(CryptoHash.of_bytes(b"chain"))


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass(frozen=True)
class Inner:
    """A nested record."""

    blob: BlobId
    height: BlockHeight
    color: Color


@dataclass(frozen=True)
class Everything:
    """One field of each kind the converter reads."""

    payload: bytes
    pair: tuple[int, str]
    many: tuple[Amount, ...]
    inners: list[Inner]
    maybe_owner: AccountOwner | None
    module: ModuleId
    flag: bool
    number_or_text: int | str
    by_account: dict[Account, int] = field(default_factory=dict)


def error_of(value: Any, value_type: Any) -> JsonArgumentError:
    with pytest.raises(JsonArgumentError) as caught:
        value_from_json(value, value_type)
    return caught.value


def test_fungible_initial_state_from_json_is_exact() -> None:
    value = {"accounts": {str(ALICE): "1.5", str(BOB): 7}}

    state = value_from_json(value, ABI.InstantiationArgument)

    assert state == InitialState(
        {ALICE: Amount(1_500_000_000_000_000_000), BOB: Amount.from_tokens(7)}
    )
    assert (
        decode(encode_json(value, ABI.InstantiationArgument, "argument"), ABI.InstantiationArgument)
        == state
    )


def test_an_operation_is_a_variant_object_with_camel_case_fields() -> None:
    as_text = {
        "Transfer": {"owner": str(ALICE), "amount": "0.25", "targetAccount": f"{BOB}@{CHAIN}"}
    }
    as_object = {
        "Transfer": {
            "owner": str(ALICE),
            "amount": "0.25",
            "target_account": {"chainId": str(CHAIN), "owner": str(BOB)},
        }
    }

    expected = Transfer(ALICE, Amount.from_tokens("0.25"), Account(CHAIN, BOB))

    assert value_from_json(as_text, ABI.Operation) == expected
    assert value_from_json(as_object, ABI.Operation) == expected


def test_every_kind_of_field() -> None:
    blob_id = BlobId(BlobType.DATA, CryptoHash.of_bytes(b"blob"))
    module_id = ModuleId(CryptoHash.of_bytes(b"c"), CryptoHash.of_bytes(b"s"))
    value = {
        "payload": "0x00ff",
        "pair": ["12", "twelve"],
        "many": ["1", "2.5"],
        "inners": [
            {"blob": str(blob_id), "height": 3, "color": "GREEN"},
            {"blob": blob_id.hash.hex(), "height": {"value": 4}, "color": "red"},
        ],
        "maybeOwner": None,
        "module": f"{module_id.contract_blob_hash}:{module_id.service_blob_hash}",
        "flag": True,
        "numberOrText": "not a number",
        "byAccount": {f"{ALICE}@{CHAIN}": 1, str(CHAIN): 2},
    }

    result = value_from_json(value, Everything)

    assert result == Everything(
        payload=b"\x00\xff",
        pair=(12, "twelve"),
        many=(Amount.from_tokens(1), Amount.from_tokens("2.5")),
        inners=[
            Inner(blob_id, BlockHeight(3), Color.GREEN),
            Inner(blob_id, BlockHeight(4), Color.RED),
        ],
        maybe_owner=None,
        module=module_id,
        flag=True,
        number_or_text="not a number",
        by_account={Account(CHAIN, ALICE): 1, Account(CHAIN): 2},
    )


@given(st.integers(min_value=0, max_value=U128_MAX))
def test_amount_text_reads_back_exactly(atto: int) -> None:
    amount = Amount(atto)
    assert value_from_json(str(amount), Amount) == amount


@pytest.mark.parametrize(
    ("value", "value_type", "path", "reason"),
    [
        (
            {"accounts": {str(ALICE): "1.5.0"}},
            "InitialState",
            f'$.accounts["{ALICE}"]',
            "not an amount",
        ),
        (
            {"accounts": {str(ALICE): 1.5}},
            "InitialState",
            f'$.accounts["{ALICE}"]',
            "floats are not exact",
        ),
        (
            {"accounts": {str(ALICE): "-1"}},
            "InitialState",
            f'$.accounts["{ALICE}"]',
            "not an amount",
        ),
        (
            {"accounts": {"ab12": "1"}},
            "InitialState",
            '$.accounts["ab12"]',
            "key not a AccountOwner",
        ),
        ({"accounts": []}, "InitialState", "$.accounts", "expected an object"),
        ({"acounts": {}}, "InitialState", "$.acounts", "no such field"),
        ({}, "InitialState", "$.accounts", "missing"),
        ([], "InitialState", "$", "expected an object"),
        ("7", "InitialState", "$", "expected an object"),
        (
            {"accounts": {str(ALICE): "0.0000000000000000001"}},
            "InitialState",
            f'$.accounts["{ALICE}"]',
            "18 decimals",
        ),
        (
            {"accounts": {str(ALICE): str(U128_MAX + 1)}},
            "InitialState",
            f'$.accounts["{ALICE}"]',
            "not an amount",
        ),
        (
            {"Transfer": {"owner": str(ALICE), "amount": "1", "targetAccount": {"chainId": "xyz"}}},
            "Operation",
            "$.Transfer.targetAccount.chainId",
            "64 hex digits",
        ),
        (
            {"Transfer": {"owner": str(ALICE), "amount": True}},
            "Operation",
            "$.Transfer.amount",
            "boolean",
        ),
        ({"Burn": {}}, "Operation", "$", '{"Transfer": {…}}'),
        (
            {
                "payload": "0xf",
                "pair": [1, "a"],
                "many": [],
                "inners": [],
                "maybeOwner": None,
                "module": "a:b",
                "flag": True,
                "numberOrText": 1,
            },
            "Everything",
            "$.payload",
            "hex",
        ),
        (
            {
                "payload": "",
                "pair": [1],
                "many": [],
                "inners": [],
                "maybeOwner": None,
                "module": "a:b",
                "flag": True,
                "numberOrText": 1,
            },
            "Everything",
            "$.pair",
            "array of 2",
        ),
        (
            {
                "payload": "",
                "pair": [1, "a"],
                "many": [],
                "maybeOwner": None,
                "module": f"{ALICE}:{BOB}",
                "flag": True,
                "numberOrText": 1,
                "inners": [
                    {"blob": "data:" + "00" * 32, "height": 1, "color": "RED"},
                    {"blob": "data:" + "00" * 32, "height": 1, "color": "BLUE"},
                ],
            },
            "Everything",
            "$.inners[1].color",
            "one of RED, GREEN",
        ),
        (
            {
                "payload": "",
                "pair": [1, "a"],
                "many": [],
                "inners": [],
                "maybeOwner": None,
                "module": "a:b",
                "flag": 1,
                "numberOrText": 1,
            },
            "Everything",
            "$.module",
            "CONTRACT_HASH:SERVICE_HASH",
        ),
        (
            {
                "payload": "",
                "pair": [1, "a"],
                "many": [],
                "inners": [],
                "maybeOwner": None,
                "module": f"{ALICE}:{BOB}",
                "flag": 1,
                "numberOrText": 1,
            },
            "Everything",
            "$.flag",
            "expected a boolean",
        ),
    ],
)
def test_bad_json_names_the_path_of_the_bad_element(
    value: Any, value_type: str, path: str, reason: str
) -> None:
    declared = {"InitialState": ABI.InstantiationArgument, "Operation": ABI.Operation}.get(
        value_type, Everything
    )

    error = error_of(value, declared)

    assert error.path == path
    assert reason in error.reason
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{path}: ")


def test_encode_json_names_what_was_read() -> None:
    with pytest.raises(ClientError, match=r'^argument \$\.accounts\["ab"\]: key ') as caught:
        encode_json({"accounts": {"ab": "1"}}, ABI.InstantiationArgument, "argument")
    assert isinstance(caught.value, JsonArgumentError)
    assert caught.value.path == '$.accounts["ab"]'


def test_publish_and_create_reads_the_json_and_the_token_answers_balances() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        client = tester.clients[0]
        alice, bob = tester.clients[0].owner, tester.clients[1].owner
        argument = {"accounts": {str(alice): "10.5", str(bob): "0.000000000000000001"}}

        _, application_id = await publish_and_create(client, FUNGIBLE, "JSN", argument)

        response = tester.query(application_id, "query { tickerSymbol accounts { owner balance } }")
        assert "errors" not in response, response
        assert response["data"]["tickerSymbol"] == "JSN"
        balances = {entry["owner"]: entry["balance"] for entry in response["data"]["accounts"]}
        assert balances == {str(alice): "10.5", str(bob): "0.000000000000000001"}

    tester = ApplicationTester.create(validators=4, users=2)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def test_publish_and_create_refuses_bad_json_before_proposing() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        client = tester.clients[0]
        height = client.next_block_height

        with pytest.raises(JsonArgumentError, match=r"^argument \$\.accounts\["):
            await publish_and_create(
                client, FUNGIBLE, "BAD", {"accounts": {str(client.owner): "one"}}
            )
        with pytest.raises(JsonArgumentError, match=r"^parameters \$: expected a string"):
            await publish_and_create(client, FUNGIBLE, 5, {"accounts": {}})

        assert client.next_block_height == height, "nothing was proposed"

    tester = ApplicationTester.create(validators=4, users=1)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()
