"""Loading contracts as modules and calling into them: a realistic counter, imports, failures."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest
from conftest import RunContract

from edgechain.execution.errors import ExecutionError
from edgechain.execution.sandbox import (
    CompiledContract,
    ContractFailed,
    ContractSandbox,
    FuelMeter,
    OutOfFuel,
    SandboxViolation,
    compile_contract,
    run_in_sandbox,
)

STATE = textwrap.dedent(
    """\
    \"\"\"Counter state.\"\"\"
    from __future__ import annotations

    from dataclasses import dataclass, field


    @dataclass
    class CounterState:
        value: int = 0
        history: list[int] = field(default_factory=list)
    """
)

ABI = textwrap.dedent(
    """\
    from __future__ import annotations

    import enum
    from dataclasses import dataclass


    class Kind(enum.Enum):
        INCREMENT = 1
        RESET = 2


    @dataclass(frozen=True)
    class Operation:
        kind: Kind
        amount: int = 0
    """
)

CONTRACT = textwrap.dedent(
    """\
    \"\"\"A counter: increments by operations, refuses non-positive amounts.\"\"\"
    from __future__ import annotations

    from . import abi
    from .state import CounterState


    class CounterContract:
        def __init__(self) -> None:
            self.state = CounterState()

        def execute_operation(self, operation: abi.Operation) -> int:
            if operation.kind is abi.Kind.RESET:
                self.state.value = 0
                return 0
            if operation.amount <= 0:
                raise ValueError(f"amount must be positive, got {operation.amount}")
            self.state.value += operation.amount
            self.state.history.append(operation.amount)
            return self.state.value

        def summary(self) -> str:
            return f"{self.state!r} after {len(self.state.history)} operations"
    """
)


@pytest.fixture
def compiled_counter() -> CompiledContract:
    return compile_contract({"contract": CONTRACT, "state": STATE, "abi": ABI})


def test_counter_contract_runs(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox:
        meter = FuelMeter(100_000)
        counter = run_in_sandbox(sandbox, "CounterContract", meter=meter)
        abi = sandbox.lookup("abi")
        assert sandbox.lookup("Operation", module_name="abi") is abi.Operation
        operation = run_in_sandbox(sandbox, abi.Operation, abi.Kind.INCREMENT, 5, meter=meter)
        assert run_in_sandbox(sandbox, counter.execute_operation, operation, meter=meter) == 5
        assert run_in_sandbox(sandbox, counter.execute_operation, operation, meter=meter) == 10
        summary = run_in_sandbox(sandbox, counter.summary, meter=meter)
        assert summary == "CounterState(value=10, history=[5, 5]) after 2 operations"
        assert 0 < meter.used < 2_000


def test_contract_exception_becomes_contract_failed(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox:
        meter = FuelMeter(100_000)
        counter = run_in_sandbox(sandbox, "CounterContract", meter=meter)
        abi = sandbox.lookup("abi")
        operation = abi.Operation(abi.Kind.INCREMENT, 0)
        with pytest.raises(ContractFailed, match="ValueError: amount must be positive, got 0"):
            sandbox.call(meter, counter.execute_operation, operation)
        assert isinstance(ContractFailed("x"), ExecutionError)


def test_out_of_fuel_stops_the_operation(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox:
        counter = run_in_sandbox(sandbox, "CounterContract", meter=FuelMeter(10_000))
        abi = sandbox.lookup("abi")
        operation = abi.Operation(abi.Kind.INCREMENT, 3)
        with pytest.raises(OutOfFuel):
            sandbox.call(FuelMeter(3), counter.execute_operation, operation)
        # The meter ran dry at the function's first block: nothing was written.
        assert counter.state.value == 0


def test_dropped_sandboxes_unregister_their_modules(compiled_counter: CompiledContract) -> None:
    import gc

    sandbox = ContractSandbox(compiled_counter)
    counter = run_in_sandbox(sandbox, "CounterContract", meter=FuelMeter(100_000))
    name = type(counter).__module__
    assert name in sys.modules
    del sandbox
    gc.collect()
    assert name not in sys.modules


def test_modules_are_registered_while_the_sandbox_lives(compiled_counter: CompiledContract) -> None:
    sandbox = ContractSandbox(compiled_counter)
    sandbox.load(FuelMeter(100_000))
    names = [f"{sandbox.package_name}.{module}" for module in ("contract", "state", "abi")]
    assert all(name in sys.modules for name in names)
    assert type(sandbox.lookup("CounterContract")).__name__ == "type"
    sandbox.close()
    assert not any(name in sys.modules for name in names)


def test_each_sandbox_has_its_own_modules(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as first, ContractSandbox(compiled_counter) as second:
        first.load(FuelMeter(100_000))
        second.load(FuelMeter(100_000))
        assert first.lookup("CounterContract") is not second.lookup("CounterContract")


def test_loading_is_metered(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox, pytest.raises(OutOfFuel):
        sandbox.load(FuelMeter(20))


def test_lookup_refuses_private_and_missing_names(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox:
        with pytest.raises(SandboxViolation, match="before it was loaded"):
            sandbox.lookup("CounterContract")
        sandbox.load(FuelMeter(100_000))
        with pytest.raises(SandboxViolation, match="private"):
            sandbox.lookup("__builtins__")
        with pytest.raises(SandboxViolation, match="defines no"):
            sandbox.lookup("Nothing")


def test_reentrant_call_is_refused() -> None:
    source = "def main(callback):\n    return callback()"
    with ContractSandbox(compile_contract({"contract": source})) as sandbox:
        meter = FuelMeter(10_000)
        sandbox.load(meter)
        main = sandbox.lookup("main")

        def reenter() -> object:
            return sandbox.call(meter, main, lambda: 1)

        with pytest.raises(SandboxViolation, match="re-entrant"):
            sandbox.call(meter, main, reenter)


def test_import_styles_between_application_modules(run_contract: RunContract) -> None:
    siblings = {"helpers": "def double(n):\n    return 2 * n\n", "consts": "LIMIT = 7\n"}
    source = textwrap.dedent(
        """\
        import helpers
        from consts import LIMIT
        from . import helpers as again
        from .helpers import double

        def main():
            return helpers.double(LIMIT) + again.double(1) + double(2)
        """
    )
    assert run_contract(source, siblings=siblings).result == 20


def test_sdk_modules_expose_only_their_public_api(
    run_contract: RunContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import edgechain.sdk

    fake = types.ModuleType("edgechain.sdk.testkit")
    fake.__all__ = ["greet"]  # type: ignore[attr-defined]
    fake.greet = lambda name: f"hello {name}"  # type: ignore[attr-defined]
    fake.os = os  # type: ignore[attr-defined]
    fake.internal = print  # type: ignore[attr-defined]
    fake.__all__.append("TABLE")  # type: ignore[attr-defined]
    fake.TABLE = {"a": 1}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edgechain.sdk.testkit", fake)
    monkeypatch.setattr(edgechain.sdk, "testkit", fake, raising=False)

    source = "from edgechain.sdk.testkit import greet\ndef main():\n    return greet('chain')"
    assert run_contract(source).result == "hello chain"
    source = "import edgechain.sdk.testkit\ndef main():\n    edgechain.sdk.testkit.TABLE['b'] = 2"
    with pytest.raises(SandboxViolation, match="mappingproxy"):
        run_contract(source)
    source = "from edgechain.sdk.testkit import TABLE\ndef main():\n    TABLE['b'] = 2"
    with pytest.raises(SandboxViolation, match="mappingproxy"):
        run_contract(source)
    assert fake.TABLE == {"a": 1}  # type: ignore[attr-defined]
    with pytest.raises(SandboxViolation, match="has no 'nothing'"):
        run_contract("from edgechain.sdk.testkit import nothing\ndef main():\n    pass")
    for attack in (
        "from edgechain.sdk.testkit import os\ndef main():\n    return os",
        "from edgechain.sdk.testkit import internal\ndef main():\n    return internal",
        "import edgechain.sdk.testkit\ndef main():\n    return edgechain.sdk.testkit.os",
        "from edgechain.sdk import testkit\ndef main():\n    return testkit.internal",
    ):
        with pytest.raises(SandboxViolation, match=r"may not be imported|of module"):
            run_contract(attack)


def test_builtin_types_stay_types(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        from __future__ import annotations
        import typing
        from dataclasses import dataclass, fields

        @dataclass
        class Record:
            name: str
            amounts: list[int]

        class Names(list):
            pass

        def main():
            record = Record("a", [1, 2])
            checks = [
                isinstance(record.name, str),
                isinstance(record.amounts, list),
                isinstance(3, int),
                [field.name for field in fields(record)] == ["name", "amounts"],
                len(Names(x for x in range(3))) == 3,
                str(12) + bytes(2).hex() + repr([1, "b"]) == "120000[1, 'b']",
                int("42") + int(True) == 43,
                dict(a=1) == {"a": 1},
                tuple(range(3)) == (0, 1, 2),
            ]
            return checks
        """
    )
    assert run_contract(source).result == [True] * 9


def test_typing_hints_of_contract_classes_resolve_to_real_types(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        from __future__ import annotations
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Transfer:
            amount: int
            memo: str
            tags: list[str]

        def main():
            return Transfer
        """
    )
    transfer_class = run_contract(source).result
    import typing

    assert typing.get_type_hints(transfer_class) == {"amount": int, "memo": str, "tags": list[str]}


def test_everyday_python_works(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        from enum import Enum

        class Color(Enum):
            RED = 1
            GREEN = 2

        class Account:
            def __init__(self, owner, balance=0):
                self.owner = owner
                self.balance = balance

            def __eq__(self, other):
                return self.owner == other.owner

            def __repr__(self):
                return f"Account({self.owner!r}, {self.balance})"

        def main():
            accounts = {"a": Account("a"), "b": Account("b", 5)}
            accounts["a"].balance += 10
            accounts["b"].balance -= 1
            totals = {name: account.balance for name, account in accounts.items()}
            ordered = sorted(accounts.values(), key=lambda account: -account.balance)
            words = " ".join(str(n) for n in range(3)).upper().split(" ")
            pairs = list(zip(words, map(lambda s: s * 2, words)))
            counts = [0, 0]
            counts[1] += 3
            assert Color.RED.value == 1, "enum"
            maximum = max((account.balance for account in ordered), default=0)
            return [totals, repr(ordered), pairs, counts, Color.GREEN.name, maximum, 7 // 2, -7 % 3]
        """
    )
    result = run_contract(source).result
    assert result == [
        {"a": 10, "b": 4},
        "[Account('a', 10), Account('b', 4)]",
        [("0", "00"), ("1", "11"), ("2", "22")],
        [0, 3],
        "GREEN",
        10,
        3,
        2,
    ]


def test_assert_is_kept_under_python_optimize(run_contract: RunContract) -> None:
    with pytest.raises(ContractFailed, match="AssertionError: kept"):
        run_contract("def main():\n    assert 1 == 2, 'kept'")


def test_contract_errors_keep_only_deterministic_messages(run_contract: RunContract) -> None:
    with pytest.raises(ContractFailed, match=r"contract raised KeyError: 'missing'"):
        run_contract("def main():\n    return {}['missing']")
    source = "class Thing:\n    pass\ndef main():\n    raise ValueError(Thing())"
    with pytest.raises(ContractFailed, match="withheld") as caught:
        run_contract(source)
    assert "0x" not in str(caught.value)


def test_memory_error_is_a_violation(compiled_counter: CompiledContract) -> None:
    def exhaust() -> None:
        raise MemoryError

    with (
        ContractSandbox(compiled_counter) as sandbox,
        pytest.raises(SandboxViolation, match="memory"),
    ):
        sandbox.call(FuelMeter(10), exhaust)


def test_assert_still_runs_in_a_python_minus_o_process() -> None:
    import subprocess

    script = (
        "from edgechain.execution.sandbox import *\n"
        "sandbox = ContractSandbox(compile_contract({'contract': "
        "'def main():\\n    assert 1 == 2, \"kept\"'}))\n"
        "try:\n    run_in_sandbox(sandbox, 'main', meter=FuelMeter(1000))\n"
        "except ContractFailed as error:\n    print(error)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-O", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert completed.stdout.strip() == "contract raised AssertionError: kept"


def test_a_host_with_a_lower_int_text_limit_is_refused(
    compiled_counter: CompiledContract,
) -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    try:
        with pytest.raises(SandboxViolation, match="PYTHONINTMAXSTRDIGITS"):
            ContractSandbox(compiled_counter)
    finally:
        sys.set_int_max_str_digits(previous)


def test_run_in_sandbox_takes_a_compiled_contract(compiled_counter: CompiledContract) -> None:
    import gc

    meter = FuelMeter(100_000)
    counter = run_in_sandbox(compiled_counter, "CounterContract", meter=meter)
    assert meter.used > 0
    gc.collect()
    # The one-shot sandbox is gone: its modules do not pile up in sys.modules.
    assert type(counter).__module__ not in sys.modules
    assert run_in_sandbox(compiled_counter, "CounterContract", meter=meter) is not counter
    with pytest.raises(SandboxViolation, match="needs the ContractSandbox"):
        run_in_sandbox(compiled_counter, counter.summary, meter=meter)


def test_wall_clock_backstop_stops_underpriced_work() -> None:
    import time

    from edgechain.execution.sandbox import ContractTimedOut

    # Comparing nested lists is priced by their top-level size only: cheap fuel, slow work.
    source = (
        "def main():\n    a = [[0] * 10 ** 5]\n    b = [[0] * 10 ** 5]\n"
        "    while True:\n        flag = a == b"
    )
    compiled = compile_contract({"contract": source})
    with ContractSandbox(compiled, wall_clock_limit=0.3) as sandbox:
        started = time.monotonic()
        with pytest.raises(ContractTimedOut, match=r"longer than 0\.3 s"):
            run_in_sandbox(sandbox, "main", meter=FuelMeter(10**12))
        assert time.monotonic() - started < 5
        # The next call starts afresh.
        assert sandbox.call(FuelMeter(10), len, [1, 2]) == 2


# Fuel is part of what validators sign: a change to these figures is a protocol change, to be
# made on purpose (update the numbers with the pricing change, and say so).
PINNED_COUNTER_FUEL = {"load": 826, "operation": 9, "summary": 48}


def test_counter_fuel_is_pinned(compiled_counter: CompiledContract) -> None:
    with ContractSandbox(compiled_counter) as sandbox:
        load_meter = FuelMeter(100_000)
        counter = run_in_sandbox(sandbox, "CounterContract", meter=load_meter)
        abi = sandbox.lookup("abi")
        operation = abi.Operation(abi.Kind.INCREMENT, 5)
        operation_meter = FuelMeter(100_000)
        sandbox.call(operation_meter, counter.execute_operation, operation)
        summary_meter = FuelMeter(100_000)
        sandbox.call(summary_meter, counter.summary)
    used = {
        "load": load_meter.used,
        "operation": operation_meter.used,
        "summary": summary_meter.used,
    }
    assert used == PINNED_COUNTER_FUEL


def test_item_assignment_evaluates_in_python_order(run_contract: RunContract) -> None:
    source = (
        "def main():\n    order = []\n    table = {}\n"
        "    def value():\n        order.append('value')\n        return 1\n"
        "    def target():\n        order.append('target')\n        return table\n"
        "    def key():\n        order.append('key')\n        return 'k'\n"
        "    target()[key()] = value()\n    return order"
    )
    assert run_contract(source).result == ["value", "target", "key"]
