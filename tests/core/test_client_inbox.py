"""`ChainClient.process_inbox` rejects the bundle whose message the application refuses and
takes the rest, with a local scratch copy (`FollowerScratchExecutor`) or without one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from edgechain.base.identifiers import ApplicationId
from edgechain.chain.certificate import Certificate
from edgechain.core.client import FollowerScratchExecutor
from edgechain.core.follower import ChainFollower
from edgechain.execution.errors import ContractFailed
from edgechain.execution.messages import MessageAction, MessageKind
from edgechain.storage.db_storage import DbStorage
from edgechain.testing import ApplicationTester, import_application
from edgechain.views.memory_store import MemoryStore

PICKY = Path(__file__).resolve().parent / "picky_token"
PICKY_APP = import_application(PICKY)
PickyTokenAbi = PICKY_APP.abi.PickyTokenAbi
Send = PICKY_APP.abi.Send
REFUSED = "refused"


def run(scenario: Callable[[ApplicationTester], Coroutine[Any, Any, None]]) -> None:
    tester = ApplicationTester.create(validators=4, users=2)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


async def new_token(tester: ApplicationTester, balance: int = 100) -> ApplicationId:
    """A picky token on user 0's chain with ``balance``; credits noted ``REFUSED`` are refused."""
    module_id = await tester.publish_module(PICKY)
    return await tester.create_application(
        module_id, abi=PickyTokenAbi, parameters=REFUSED, argument=balance
    )


async def send(tester: ApplicationTester, app: ApplicationId, amount: int, note: str) -> None:
    """One block on user 0's chain sending ``amount`` to user 1's chain (one bundle)."""
    operation = Send(tester.chain_id(1), amount, note)
    await tester.execute_operation(app, operation, abi=PickyTokenAbi, user=0)


def balance(tester: ApplicationTester, app: ApplicationId, user: int) -> int:
    if not tester.chain_state(user).execution_state.applications.contains(app):
        return 0
    response = tester.query(app, "query { balance }", user=user)
    assert "errors" not in response, response
    value: int = response["data"]["balance"]
    return value


def actions(certificate: Certificate) -> list[MessageAction]:
    return [incoming.action for incoming in certificate.executed_block.block.incoming_bundles]


def use_scratch_executor(tester: ApplicationTester, user: int) -> None:
    """Give user ``user``'s client a local copy of the chains to find failing bundles on."""
    network = tester.network
    follower = ChainFollower(DbStorage(MemoryStore()), network.genesis, network.nodes)
    tester.clients[user].scratch_executor = FollowerScratchExecutor(follower)


def test_a_refused_credit_is_rejected_and_bounces_back_to_the_sender() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester)
        await send(tester, app, 10, REFUSED)
        await send(tester, app, 5, "fine")
        receiver = tester.clients[1]

        certificate = await receiver.process_inbox()

        assert certificate is not None
        assert actions(certificate) == [MessageAction.REJECT, MessageAction.ACCEPT]
        assert len(receiver.refused_bundles) == 1
        refused, failure = receiver.refused_bundles[0]
        assert (
            refused.bundle.height
            == certificate.executed_block.block.incoming_bundles[0].bundle.height
        )
        assert isinstance(failure, ContractFailed)
        (bounced,) = certificate.executed_block.outcome.messages[0]
        assert bounced.kind == MessageKind.BOUNCING
        assert bounced.destination == tester.chain_id(0)
        assert balance(tester, app, user=1) == 5
        assert balance(tester, app, user=0) == 85

        bounce_certificate = await tester.process_inbox(user=0)

        assert bounce_certificate is not None
        assert actions(bounce_certificate) == [MessageAction.ACCEPT]
        assert balance(tester, app, user=0) == 95, "the refused credit is refunded"
        assert await receiver.process_inbox() is None, "nothing is left in the receiver's inbox"

    run(scenario)


def test_with_a_scratch_executor_the_good_bundles_around_a_bad_one_share_one_block() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester)
        await send(tester, app, 1, "first")
        await send(tester, app, 10, REFUSED)
        await send(tester, app, 2, "second")
        await send(tester, app, 20, REFUSED)
        await send(tester, app, 3, "third")
        use_scratch_executor(tester, user=1)
        receiver = tester.clients[1]
        height = receiver.next_block_height

        certificate = await receiver.process_inbox()

        assert certificate is not None
        assert certificate.executed_block.block.height == height, "one block took the inbox"
        assert actions(certificate) == [
            MessageAction.ACCEPT,
            MessageAction.REJECT,
            MessageAction.ACCEPT,
            MessageAction.REJECT,
            MessageAction.ACCEPT,
        ]
        assert len(receiver.refused_bundles) == 2
        assert balance(tester, app, user=1) == 6
        await tester.process_inbox(user=0)
        assert balance(tester, app, user=0) == 100 - 6

    run(scenario)


def test_without_a_scratch_executor_the_good_prefix_is_certified_first() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester)
        await send(tester, app, 1, "first")
        await send(tester, app, 10, REFUSED)
        await send(tester, app, 2, "second")
        receiver = tester.clients[1]
        height = receiver.next_block_height

        certificate = await receiver.process_inbox()

        assert certificate is not None
        assert certificate.executed_block.block.height == height.next()
        prefix = receiver.certificate_at(height)
        assert prefix is not None
        assert actions(prefix) == [MessageAction.ACCEPT]
        assert actions(certificate) == [MessageAction.REJECT, MessageAction.ACCEPT]
        assert balance(tester, app, user=1) == 3
        await tester.process_inbox(user=0)
        assert balance(tester, app, user=0) == 97

    run(scenario)


def test_a_good_inbox_is_taken_in_one_block_with_nothing_refused() -> None:
    async def scenario(tester: ApplicationTester) -> None:
        app = await new_token(tester)
        await send(tester, app, 1, "first")
        await send(tester, app, 2, "second")
        use_scratch_executor(tester, user=1)
        receiver = tester.clients[1]

        certificate = await receiver.process_inbox()

        assert certificate is not None
        assert actions(certificate) == [MessageAction.ACCEPT, MessageAction.ACCEPT]
        assert receiver.refused_bundles == []
        assert balance(tester, app, user=1) == 3

    run(scenario)


def test_only_deterministic_execution_errors_get_a_bundle_rejected() -> None:
    from edgechain.base.blobs import Blob
    from edgechain.base.identifiers import BlobType
    from edgechain.core.client import _says_which_bundle_fails
    from edgechain.execution.errors import BlobsNotFound, ContractFailed, ContractTimedOut

    missing = BlobsNotFound([Blob(BlobType.DATA, b"x").id])
    assert not _says_which_bundle_fails(missing)  # this node lacks a blob: fetch, don't reject
    assert not _says_which_bundle_fails(ContractTimedOut("wall clock"))  # not deterministic
    assert _says_which_bundle_fails(ContractFailed("refused"))
