"""The fungible token's contract logic as plain Python (`PlainContractRunner`), and its
determinism across processes with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgechain.base.crypto import CryptoHash
from edgechain.base.identifiers import Account, AccountOwner, ChainId
from edgechain.base.values import Amount
from edgechain.execution.errors import UnauthorizedOperation
from edgechain.testing import PlainContractRunner, import_application

FUNGIBLE = Path(__file__).resolve().parents[2] / "apps" / "fungible"
ABI = import_application(FUNGIBLE).abi
HERE = ChainId.root(0)
THERE = ChainId.root(1)
ALICE = AccountOwner(CryptoHash.of_bytes(b"alice"))
BOB = AccountOwner(CryptoHash.of_bytes(b"bob"))


def token(signer: AccountOwner = ALICE, ticker: str = "FUN") -> PlainContractRunner:
    runner = PlainContractRunner(
        FUNGIBLE, chain_id=HERE, authenticated_owner=signer, parameters=ticker
    )
    runner.instantiate(ABI.InitialState({ALICE: Amount(100), BOB: Amount(0)}))
    return runner


def balance(runner: PlainContractRunner, owner: AccountOwner) -> Amount:
    response: Amount = runner.execute_operation(ABI.Balance(owner))
    return response


def test_instantiate_gives_out_the_supply_and_balance_answers() -> None:
    runner = token()
    assert balance(runner, ALICE) == Amount(100)
    assert balance(runner, BOB) == Amount(0)


def test_an_empty_ticker_is_refused() -> None:
    with pytest.raises(ValueError, match="ticker"):
        token(ticker="")


def test_local_transfer_moves_tokens_and_sends_nothing() -> None:
    runner = token()
    assert runner.execute_operation(ABI.Transfer(ALICE, Amount(30), Account(HERE, BOB))) is None
    assert (balance(runner, ALICE), balance(runner, BOB)) == (Amount(70), Amount(30))
    assert runner.sent == []


def test_remote_transfer_debits_here_and_sends_a_credit_naming_the_source() -> None:
    runner = token()
    runner.execute_operation(ABI.Transfer(ALICE, Amount(30), Account(THERE, BOB)))
    assert balance(runner, ALICE) == Amount(70)
    assert runner.sent == [(THERE, runner.abi_module.Credit(BOB, Amount(30), ALICE))]


def test_a_remote_claim_sends_a_withdrawal_and_moves_nothing_here() -> None:
    runner = token(signer=BOB)
    runner.execute_operation(ABI.Claim(Account(THERE, BOB), Amount(5), Account(HERE, BOB)))
    assert runner.sent == [(THERE, runner.abi_module.Withdraw(BOB, Amount(5), Account(HERE, BOB)))]
    assert balance(runner, BOB) == Amount(0)


def test_a_credit_and_a_withdrawal_message() -> None:
    runner = token(signer=ALICE)
    runner.execute_message(ABI.Credit(BOB, Amount(7), ALICE))
    assert balance(runner, BOB) == Amount(7)
    runner.execute_message(ABI.Withdraw(ALICE, Amount(10), Account(THERE, BOB)))
    assert balance(runner, ALICE) == Amount(90)
    assert runner.sent == [(THERE, runner.abi_module.Credit(BOB, Amount(10), ALICE))]


def test_refusals() -> None:
    runner = token(signer=BOB)
    with pytest.raises(UnauthorizedOperation):
        runner.execute_operation(ABI.Transfer(ALICE, Amount(1), Account(HERE, BOB)))
    with pytest.raises(UnauthorizedOperation):
        runner.execute_operation(ABI.Claim(Account(HERE, ALICE), Amount(1), Account(HERE, BOB)))
    with pytest.raises(UnauthorizedOperation):
        runner.execute_message(ABI.Withdraw(ALICE, Amount(1), Account(HERE, BOB)))
    with pytest.raises(ValueError, match="overdraft"):
        runner.execute_operation(ABI.Transfer(BOB, Amount(1), Account(HERE, ALICE)))
    with pytest.raises(ValueError, match="positive"):
        runner.execute_operation(ABI.Transfer(BOB, Amount(0), Account(HERE, ALICE)))
    with pytest.raises(ValueError, match="has no owner"):
        token().execute_operation(ABI.Transfer(ALICE, Amount(1), Account(THERE)))
    assert balance(runner, ALICE) == Amount(100)


SEED_SCRIPT = textwrap.dedent(
    """\
    import asyncio, itertools, json, sys
    from edgechain.base.identifiers import Account
    from edgechain.base.values import Amount, Timestamp
    from edgechain.testing import ApplicationTester, import_application

    directory = sys.argv[1]
    abi = import_application(directory).abi

    async def main():
        tester = ApplicationTester.create(validators=1, users=3)
        for client in tester.clients:
            ticks = itertools.count(10**6)
            client.clock = lambda ticks=ticks: Timestamp(next(ticks))
        owners = [client.owner for client in tester.clients]
        module_id = await tester.publish_module(directory)
        initial = abi.InitialState({owner: Amount(1000 + i) for i, owner in enumerate(owners)})
        app = await tester.create_application(
            module_id, abi=abi.FungibleTokenAbi, parameters="FUN", argument=initial
        )
        fuel = []
        for i in (1, 2):
            transfer = abi.Transfer(owners[0], Amount(10 * i), Account(tester.chain_id(i), owners[i]))
            certificate = await tester.execute_operation(app, transfer, abi=abi.FungibleTokenAbi)
            fuel.append(certificate.executed_block.outcome.fuel_used)
            inbox = await tester.process_inbox(user=i)
            fuel.append(inbox.executed_block.outcome.fuel_used)
        states = [tester.chain_state(user).execution_state.hash().hex() for user in range(3)]
        print(json.dumps({"fuel": fuel, "states": states}))

    asyncio.run(main())
    """
)


def test_fuel_and_state_are_identical_under_different_hash_seeds(tmp_path: Path) -> None:
    script = tmp_path / "fungible_seed.py"
    script.write_text(SEED_SCRIPT)
    results = []
    for seed in ("0", "4242"):
        completed = subprocess.run(
            [sys.executable, str(script), str(FUNGIBLE)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=seed),
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]
    assert all(fuel > 0 for fuel in results[0]["fuel"])
