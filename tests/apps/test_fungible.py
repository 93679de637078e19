"""The fungible token end to end on a local network: transfers, bounces, claims, permissions."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from edgechain.base.identifiers import Account, AccountOwner, ApplicationId
from edgechain.base.values import Amount
from edgechain.chain.certificate import Certificate
from edgechain.execution.errors import ContractFailed, UnauthorizedOperation
from edgechain.execution.messages import MessageAction, MessageKind
from edgechain.testing import ApplicationTester, import_application

FUNGIBLE = Path(__file__).resolve().parents[2] / "apps" / "fungible"
FUNGIBLE_APP = import_application(FUNGIBLE)
FungibleTokenAbi = FUNGIBLE_APP.abi.FungibleTokenAbi
InitialState = FUNGIBLE_APP.abi.InitialState
Transfer = FUNGIBLE_APP.abi.Transfer
Claim = FUNGIBLE_APP.abi.Claim


def tokens(value: int | str) -> Amount:
    return Amount.from_tokens(value)


def run(
    scenario: Callable[[ApplicationTester], Coroutine[Any, Any, None]],
    validators: int = 4,
    users: int = 2,
) -> None:
    tester = ApplicationTester.create(validators=validators, users=users)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def owner(tester: ApplicationTester, user: int) -> AccountOwner:
    return tester.clients[user].owner


def account(tester: ApplicationTester, chain_user: int, owner_user: int) -> Account:
    """The account of user ``owner_user``'s key on user ``chain_user``'s chain."""
    return Account(tester.chain_id(chain_user), owner(tester, owner_user))


async def new_token(
    tester: ApplicationTester, balances: dict[int, int], ticker: str = "FUN"
) -> ApplicationId:
    """A token created on user 0's chain with ``balances`` (user -> tokens) there."""
    module_id = await tester.publish_module(FUNGIBLE)
    initial = InitialState({owner(tester, user): tokens(value) for user, value in balances.items()})
    return await tester.create_application(
        module_id, abi=FungibleTokenAbi, parameters=ticker, argument=initial
    )


def balances(
    tester: ApplicationTester, app: ApplicationId, user: int, validator: int = 0
) -> dict[AccountOwner, Amount]:
    """Every balance of the token on user ``user``'s chain, by GraphQL ({} where it is unknown)."""
    if not tester.chain_state(user, validator).execution_state.applications.contains(app):
        return {}
    response = tester.query(
        app, "query { accounts { owner balance } }", user=user, validator=validator
    )
    assert "errors" not in response, response
    return {
        AccountOwner.from_hex(entry["owner"]): tokens(entry["balance"])
        for entry in response["data"]["accounts"]
    }


def balance(
    tester: ApplicationTester,
    app: ApplicationId,
    chain_user: int,
    owner_user: int,
    validator: int = 0,
) -> Amount:
    query = f'query {{ balance(owner: "{owner(tester, owner_user)}") }}'
    response = tester.query(app, query, user=chain_user, validator=validator)
    assert "errors" not in response, response
    return tokens(response["data"]["balance"])


async def operate(
    tester: ApplicationTester, app: ApplicationId, operation: Any, user: int
) -> Certificate:
    return await tester.execute_operation(app, operation, abi=FungibleTokenAbi, user=user)


async def reject_inbox(tester: ApplicationTester, user: int) -> Certificate:
    """A block on user ``user``'s chain that rejects every pending bundle."""
    client = tester.clients[user]
    bundles = await client.pending_bundles()
    assert bundles, "nothing to reject"
    rejected = [dataclasses.replace(bundle, action=MessageAction.REJECT) for bundle in bundles]
    return await client.execute_operations([], incoming_bundles=rejected)


async def process_inbox_rejecting_failures(tester: ApplicationTester, user: int) -> int:
    """Take the pending bundles; where the block fails, take them one by one and reject
    those whose messages the contract refuses (as a wallet does). Return how many it rejected."""
    try:
        await tester.process_inbox(user=user)
        return 0
    except ContractFailed:
        pass
    client = tester.clients[user]
    rejected = 0
    for bundle in await client.pending_bundles():
        try:
            await client.execute_operations([], incoming_bundles=[bundle])
        except ContractFailed:
            refused = dataclasses.replace(bundle, action=MessageAction.REJECT)
            await client.execute_operations([], incoming_bundles=[refused])
            rejected += 1
    return rejected


def test_created_token_answers_its_ticker_and_initial_balances() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10, 1: 5}, ticker="EDGE")
        response = tester.query(app, "query { tickerSymbol }")
        assert response == {"data": {"tickerSymbol": "EDGE"}}
        assert balances(tester, app, 0) == {
            owner(tester, 0): tokens(10),
            owner(tester, 1): tokens(5),
        }
        assert balance(tester, app, chain_user=0, owner_user=1) == tokens(5)

    run(scenario, validators=1)


def test_transfer_on_the_same_chain_is_direct() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10})
        certificate = await operate(
            tester, app, Transfer(owner(tester, 0), tokens("2.5"), account(tester, 0, 1)), user=0
        )
        assert certificate.executed_block.outcome.messages == [[]], "no message needed"
        assert balances(tester, app, 0) == {
            owner(tester, 0): tokens("7.5"),
            owner(tester, 1): tokens("2.5"),
        }

    run(scenario, validators=1)


def test_transfer_to_another_chain_and_every_validator_agrees() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10})
        await operate(
            tester, app, Transfer(owner(tester, 0), tokens(3), account(tester, 1, 1)), user=0
        )
        assert balances(tester, app, 0) == {owner(tester, 0): tokens(7)}
        assert not tester.chain_state(1).execution_state.applications.contains(app), "in flight"
        await tester.process_inbox(user=1)
        for validator in range(4):
            assert balances(tester, app, 0, validator) == {owner(tester, 0): tokens(7)}
            assert balances(tester, app, 1, validator) == {owner(tester, 1): tokens(3)}
        hashes = {
            storage.load_chain_scratch(tester.chain_id(1)).execution_state.hash()
            for storage in tester.network.storages
        }
        assert len(hashes) == 1
        # Back again, from the receiving chain, by its owner.
        await operate(
            tester, app, Transfer(owner(tester, 1), tokens(1), account(tester, 0, 0)), user=1
        )
        await tester.process_inbox(user=0)
        assert balances(tester, app, 0) == {owner(tester, 0): tokens(8)}
        assert balances(tester, app, 1) == {owner(tester, 1): tokens(2)}

    run(scenario)


def test_a_credit_the_receiver_rejects_bounces_and_the_tokens_return() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10})
        await operate(
            tester, app, Transfer(owner(tester, 0), tokens(4), account(tester, 1, 1)), user=0
        )
        assert balance(tester, app, chain_user=0, owner_user=0) == tokens(6)
        await reject_inbox(tester, user=1)
        assert balances(tester, app, 1) == {}, "the receiving chain took nothing"
        assert balance(tester, app, chain_user=0, owner_user=0) == tokens(6), "not yet back"
        certificate = await tester.process_inbox(user=0)
        assert certificate is not None
        for validator in range(4):
            assert balances(tester, app, 0, validator) == {owner(tester, 0): tokens(10)}
            assert balances(tester, app, 1, validator) == {}

    run(scenario)


def test_a_transfer_the_signer_does_not_own_fails_and_changes_nothing() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10})
        await operate(
            tester, app, Transfer(owner(tester, 0), tokens(5), account(tester, 1, 0)), user=0
        )
        await tester.process_inbox(user=1)
        # User 0's tokens now sit on user 1's chain; user 1 signs blocks there but does not own them.
        assert balances(tester, app, 1) == {owner(tester, 0): tokens(5)}
        before = tester.chain_state(1).execution_state.hash()
        with pytest.raises(UnauthorizedOperation, match="did not authenticate"):
            await operate(
                tester, app, Transfer(owner(tester, 0), tokens(5), account(tester, 1, 1)), user=1
            )
        with pytest.raises(UnauthorizedOperation, match="did not authenticate"):
            await operate(
                tester, app, Claim(account(tester, 0, 0), tokens(1), account(tester, 1, 1)), user=1
            )
        assert tester.chain_state(1).execution_state.hash() == before
        assert balances(tester, app, 1) == {owner(tester, 0): tokens(5)}
        assert balances(tester, app, 0) == {owner(tester, 0): tokens(5)}

    run(scenario)


def test_overdraft_is_refused_and_changes_nothing() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10})
        before = tester.chain_state(0).execution_state.hash()
        with pytest.raises(ContractFailed, match="overdraft"):
            await operate(
                tester, app, Transfer(owner(tester, 0), tokens(11), account(tester, 1, 1)), user=0
            )
        with pytest.raises(ContractFailed, match="positive amount"):
            await operate(
                tester, app, Transfer(owner(tester, 0), tokens(0), account(tester, 0, 1)), user=0
            )
        with pytest.raises(ContractFailed, match="has no owner"):
            await operate(
                tester,
                app,
                Transfer(owner(tester, 0), tokens(1), Account(tester.chain_id(1))),
                user=0,
            )
        assert tester.chain_state(0).execution_state.hash() == before
        await operate(
            tester, app, Transfer(owner(tester, 0), tokens(10), account(tester, 0, 1)), user=0
        )
        assert balances(tester, app, 0) == {owner(tester, 1): tokens(10)}, "an emptied account goes"

    run(scenario, validators=1)


def test_claim_withdraws_from_another_chain_by_authenticated_message() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 11, 1: 6})
        await operate(
            tester, app, Transfer(owner(tester, 0), tokens(1), account(tester, 1, 0)), user=0
        )
        await tester.process_inbox(user=1)  # the token is now known on chain 1
        # User 1's 6 tokens are on chain 0, which user 1 cannot sign for: claim them from chain 1.
        claim = Claim(account(tester, 0, 1), tokens(4), account(tester, 1, 1))
        certificate = await operate(tester, app, claim, user=1)
        ((withdraw,),) = certificate.executed_block.outcome.messages
        assert withdraw.destination == tester.chain_id(0)
        assert withdraw.authenticated_signer == owner(tester, 1)
        await tester.process_inbox(user=0)  # chain 0 debits user 1 and sends a tracked credit
        assert balances(tester, app, 0) == {
            owner(tester, 0): tokens(10),
            owner(tester, 1): tokens(2),
        }
        await tester.process_inbox(user=1)
        expected = {owner(tester, 0): tokens(1), owner(tester, 1): tokens(4)}
        for validator in range(4):
            assert balances(tester, app, 1, validator) == expected
        # A claim beyond the balance fails where the tokens are; that chain rejects the bundle.
        await operate(
            tester, app, Claim(account(tester, 0, 1), tokens(3), account(tester, 1, 1)), user=1
        )
        # The client rejects the bundle the contract refuses and certifies the block anyway.
        rejection = await tester.process_inbox(user=0)
        assert rejection is not None
        taken = rejection.value.executed_block.block.incoming_bundles
        assert [bundle.action for bundle in taken] == [MessageAction.REJECT]
        refused_error = tester.clients[0].refused_bundles[-1][1]
        assert isinstance(refused_error, ContractFailed)
        assert "overdraft" in str(refused_error)
        assert balances(tester, app, 0) == {
            owner(tester, 0): tokens(10),
            owner(tester, 1): tokens(2),
        }
        assert balances(tester, app, 1) == expected
        assert await tester.process_inbox(user=1) is None, "a rejected withdrawal sends nothing"

    run(scenario)


def test_graphql_mutations_schedule_transfer_and_claim() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 10, 1: 3})
        chain_1 = tester.chain_id(1)
        mutation = (
            f'mutation {{ transfer(owner: "{owner(tester, 0)}", amount: "1.5",'
            f' targetAccount: {{chainId: "{chain_1}", owner: "{owner(tester, 1)}"}}) }}'
        )
        response, certificate = await tester.mutate(app, mutation, user=0)
        assert response == {"data": {"transfer": True}} and certificate is not None
        await tester.process_inbox(user=1)
        assert balance(tester, app, chain_user=1, owner_user=1) == tokens("1.5")
        claim = (
            f'mutation {{ claim(sourceAccount: {{chainId: "{tester.chain_id(0)}",'
            f' owner: "{owner(tester, 1)}"}}, amount: "3",'
            f' targetAccount: {{chainId: "{chain_1}", owner: "{owner(tester, 1)}"}}) }}'
        )
        response, certificate = await tester.mutate(app, claim, user=1)
        assert response == {"data": {"claim": True}} and certificate is not None
        await tester.process_inbox(user=0)
        await tester.process_inbox(user=1)
        assert balances(tester, app, 1) == {owner(tester, 1): tokens("4.5")}
        assert balances(tester, app, 0) == {owner(tester, 0): tokens("8.5")}

    run(scenario, validators=1)


async def take_inbox_at_random(
    tester: ApplicationTester, user: int, generator: random.Random
) -> int:
    """Take user ``user``'s pending bundles one block each, rejecting about 60% of those that
    may be rejected (and any the contract refuses); return how many tracked credits it rejected."""
    client = tester.clients[user]
    bounced = 0
    for bundle in await client.pending_bundles():
        kinds = [posted.kind for posted in bundle.bundle.messages]
        if all(kind.may_be_rejected() for kind in kinds) and generator.random() < 0.6:
            await client.execute_operations(
                [], incoming_bundles=[dataclasses.replace(bundle, action=MessageAction.REJECT)]
            )
            bounced += sum(kind == MessageKind.TRACKED for kind in kinds)
            continue
        try:
            await client.execute_operations([], incoming_bundles=[bundle])
        except ContractFailed:
            refused = dataclasses.replace(bundle, action=MessageAction.REJECT)
            await client.execute_operations([], incoming_bundles=[refused])
    return bounced


def test_supply_is_conserved_over_a_random_sequence() -> None:
    generator = random.Random(20261126)
    users = 3
    supply = tokens(30)

    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester, {0: 30})
        for user in (1, 2):  # everyone starts with 10 on their own chain
            await operate(
                tester,
                app,
                Transfer(owner(tester, 0), tokens(10), account(tester, user, user)),
                user=0,
            )
            await tester.process_inbox(user=user)

        def total() -> Amount:
            amounts = [a for user in range(users) for a in balances(tester, app, user).values()]
            return Amount(sum(amount.atto for amount in amounts))

        moved = refused = bounced = 0
        for step in range(40):  # at least 16 steps, and until a credit bounced
            if step >= 16 and bounced > 0 and refused > 0:
                break
            action = generator.choice(["transfer", "transfer", "claim", "claim", "inbox", "inbox"])
            user = generator.randrange(users)
            target = account(tester, generator.randrange(users), generator.randrange(users))
            amount = Amount(generator.randrange(1, tokens(6).atto))
            if action == "transfer":
                available = balance(tester, app, chain_user=user, owner_user=user)
                transfer = Transfer(owner(tester, user), amount, target)
                if amount > available:
                    refused += 1
                    with pytest.raises(ContractFailed, match="overdraft"):
                        await operate(tester, app, transfer, user=user)
                else:
                    await operate(tester, app, transfer, user=user)
                    moved += 1
            elif action == "claim":
                source = account(tester, generator.randrange(users), user)
                claim = Claim(source, amount, target)
                if source.chain_id == tester.chain_id(user) and amount > balance(
                    tester, app, user, user
                ):
                    refused += 1
                    with pytest.raises(ContractFailed, match="overdraft"):
                        await operate(tester, app, claim, user=user)
                else:
                    await operate(tester, app, claim, user=user)
                    moved += 1
            else:
                bounced += await take_inbox_at_random(tester, user, generator)
        for _ in range(4):  # withdrawals, then credits, then bounces
            for user in range(users):
                await process_inbox_rejecting_failures(tester, user)
        assert all([await tester.clients[user].pending_bundles() == [] for user in range(users)])
        assert total() == supply
        assert moved > 0 and refused > 0 and bounced > 0, (moved, refused, bounced)

    run(scenario, validators=4, users=users)
