"""What a contract can reach through the SDK objects it is handed: nothing of the host's."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from edgechain.base.encoding import encode
from edgechain.execution.errors import ContractFailed, SandboxViolation
from edgechain.execution.modules import pack_application_sources
from edgechain.execution.operations import UserOperation
from edgechain.testing import ApplicationTester

ABI = textwrap.dedent(
    """\
    from edgechain.sdk import Abi

    class AttackAbi(Abi):
        Operation = str
        Response = int
    """
)
STATE = textwrap.dedent(
    """\
    from edgechain.sdk.views import RegisterView, RootView

    class AttackState(RootView):
        value = RegisterView(int, 0)
    """
)
CONTRACT = textwrap.dedent(
    """\
    from edgechain.sdk import Contract

    from .abi import AttackAbi
    from .state import AttackState

    KEPT = {}


    class AttackContract(Contract):
        abi = AttackAbi
        State = AttackState

        def execute_operation(self, operation: str) -> int:
            self.state.value.set(self.state.value.get() + 1)
            if operation == "runtime storage":
                return getattr(self.runtime, "_" + "storage")
            if operation == "handle storage":
                return getattr(self.state.value, "_" + "storage")
            if operation == "runtime attribute":
                self.runtime.chain_id = None
            if operation == "replace field":
                self.state.value = 3
            if operation == "keep runtime":
                KEPT["runtime"] = self.runtime
            if operation == "use kept runtime":
                return KEPT["runtime"].remaining_fuel()
            if operation == "accountant":
                self.runtime.charge_state_read(-1000)
            return 0

        def execute_message(self, message: None) -> None:
            pass
    """
)
SERVICE = "from edgechain.sdk import Service\n\nclass AttackService(Service):\n    pass\n"
MODULE = pack_application_sources(
    {"abi": ABI, "state": STATE, "contract": CONTRACT, "service": SERVICE}
)


def operation(app: object, text: str) -> UserOperation:
    return UserOperation(app, encode(text, str))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operations", "error", "fragment"),
    [
        (["runtime storage"], SandboxViolation, "private attribute"),
        (["handle storage"], SandboxViolation, "private attribute"),
        (["runtime attribute"], SandboxViolation, "attribute 'chain_id'"),
        (["replace field"], ContractFailed, "AttributeError"),
        (["keep runtime", "use kept runtime"], SandboxViolation, "after its transaction ended"),
        (["accountant"], ContractFailed, "AttributeError"),
    ],
)
def test_attack_fails_the_block_and_changes_nothing(
    operations: list[str], error: type[Exception], fragment: str
) -> None:
    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(MODULE)
        app = await tester.create_application(module_id)
        await tester.execute_operations([operation(app, "warm up")])
        before = tester.chain_state().execution_state.hash()
        with pytest.raises(error, match=fragment):
            await tester.execute_operations([operation(app, text) for text in operations])
        assert tester.chain_state().execution_state.hash() == before

    tester = ApplicationTester.create(validators=1, users=1)
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()
