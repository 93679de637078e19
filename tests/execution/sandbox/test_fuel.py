"""Fuel: charged before the work, proportional to it, and identical in every process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psutil
import pytest
from conftest import RunContract

from edgechain.execution.sandbox import (
    CostTable,
    FuelMeter,
    OutOfFuel,
    SandboxLimits,
    SandboxViolation,
)


def test_meter_counts_down_and_refuses_what_it_cannot_pay() -> None:
    meter = FuelMeter(10)
    meter.charge(4)
    assert (meter.used, meter.remaining, meter.exhausted) == (4, 6, False)
    with pytest.raises(OutOfFuel) as caught:
        meter.charge(7)
    assert (caught.value.limit, caught.value.used, caught.value.requested) == (10, 4, 7)
    assert meter.exhausted
    with pytest.raises(OutOfFuel):
        meter.charge(1)
    meter.charge(0)


def test_meter_refuses_negative_charges_and_limits() -> None:
    with pytest.raises(SandboxViolation):
        FuelMeter(5).charge(-1)
    with pytest.raises(ValueError, match="negative"):
        FuelMeter(-1)
    with pytest.raises(ValueError, match="negative"):
        CostTable(call=-1)
    with pytest.raises(ValueError, match="max_call_depth"):
        SandboxLimits(max_call_depth=0)


def test_infinite_loop_runs_out_of_fuel(run_contract: RunContract) -> None:
    with pytest.raises(OutOfFuel):
        run_contract("def main():\n    while True:\n        pass", fuel=50_000)


def test_infinite_loop_with_continue_runs_out_of_fuel(run_contract: RunContract) -> None:
    source = "def main():\n    n = 0\n    while True:\n        continue"
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=50_000)


LOOP = textwrap.dedent(
    """\
    def main(n):
        total = 0
        for i in range(n):
            total += i
        squares = [i * i for i in range(n)]
        return total + len(squares)
    """
)


def test_fuel_is_proportional_to_work(run_contract: RunContract) -> None:
    used = {n: run_contract(LOOP, "main", n).meter.used for n in (10, 20, 1000)}
    per_iteration = (used[20] - used[10]) // 10
    assert per_iteration > 0
    assert used[20] - used[10] == 10 * per_iteration
    assert used[1000] - used[10] == 990 * per_iteration


def test_same_call_uses_the_same_fuel_every_time(run_contract: RunContract) -> None:
    first = run_contract(LOOP, "main", 300)
    second = run_contract(LOOP, "main", 300)
    assert first.result == second.result
    assert first.meter.used == second.meter.used


def test_prices_come_from_the_cost_table() -> None:
    from edgechain.execution.sandbox import ContractSandbox, compile_contract, run_in_sandbox

    def fuel_with(costs: CostTable) -> int:
        with ContractSandbox(compile_contract({"contract": LOOP}, costs=costs)) as sandbox:
            meter = FuelMeter(10**6)
            run_in_sandbox(sandbox, "main", 100, meter=meter)
            return meter.used

    cheap = fuel_with(CostTable(statement=1, iteration=1))
    dear = fuel_with(CostTable(statement=1, iteration=3))
    # The comprehension pays per item; the for loop pays through its body instead.
    assert dear - cheap == 2 * 100


MEMORY_BOMBS = {
    "str repetition": "'x' * 10 ** 10",
    "list repetition": "[0] * 10 ** 9",
    "repetition in place": "s = 'x'\n    s *= 10 ** 10",
    "bytes(n)": "bytes(10 ** 10)",
    "huge power": "10 ** 10 ** 10",
    "huge shift": "1 << 10 ** 10",
    "ljust": "'x'.ljust(10 ** 10)",
    "zfill": "'1'.zfill(10 ** 10)",
    "to_bytes": "(1).to_bytes(10 ** 10, 'big')",
    "replace growth": "('x' * 1000).replace('x', 'y' * 10 ** 7)",
    "join growth": "('y' * 10 ** 6).join(['a'] * 10 ** 4)",
    "percent width": "'%0100000000d' % 1",
    "f-string width": "f'{1:>100000000}'",
    "list(range)": "list(range(10 ** 9))",
    "star unpacking": "[*range(10 ** 9)]",
    "star arguments": "max(*range(10 ** 9))",
    "dict.fromkeys": "dict.fromkeys(range(10 ** 9))",
    "sorted(range)": "sorted(range(10 ** 9))",
    "slice copies": "big = [0] * 10 ** 6\n    for _ in range(10 ** 3):\n        x = big[:]",
    "doubling by +": "s = 'x'\n    for _ in range(64):\n        s = s + s",
    "doubling by +=": "s = [0]\n    for _ in range(64):\n        s += s",
    "doubling int by *": "n = 3\n    for _ in range(64):\n        n = n * n",
}


@pytest.mark.parametrize("expression", list(MEMORY_BOMBS.values()), ids=list(MEMORY_BOMBS))
def test_memory_bombs_run_out_of_fuel_before_the_memory_is_taken(
    run_contract: RunContract, expression: str
) -> None:
    process = psutil.Process()
    rss_before = process.memory_info().rss
    with pytest.raises(OutOfFuel):
        run_contract(f"def main():\n    x = 0\n    {expression}\n    return x", fuel=10**7)
    assert process.memory_info().rss - rss_before < 200 * 2**20


TIME_BOMBS = {
    "sum(range)": "sum(range(10 ** 12))",
    "membership in a huge range": "None in range(10 ** 15)",
    "any over a generator": "any(i < 0 for i in range(10 ** 12))",
    "max(range)": "max(range(10 ** 12))",
    "join of map": "'-'.join(map(str, range(10 ** 12)))",
    "enumerate": "[i for i, _ in enumerate(range(10 ** 12))]",
    "unpacking": "a, *b = range(10 ** 12)",
    "extend": "[].extend(x for x in range(10 ** 12))",
    "membership in an iterator": "-1 in iter(range(10 ** 12))",
}


@pytest.mark.parametrize("statement", list(TIME_BOMBS.values()), ids=list(TIME_BOMBS))
def test_host_side_loops_are_metered(run_contract: RunContract, statement: str) -> None:
    with pytest.raises(OutOfFuel):
        run_contract(f"def main():\n    {statement}", fuel=100_000)


DETERMINISM_SCRIPT = textwrap.dedent(
    '''
    from edgechain.execution.sandbox import ContractSandbox, FuelMeter, compile_contract, run_in_sandbox

    SOURCE = """
    from __future__ import annotations
    from dataclasses import dataclass, field

    @dataclass
    class Ledger:
        balances: dict[str, int] = field(default_factory=dict)

    class Bank:
        def __init__(self) -> None:
            self.ledger = Ledger()

        def deposit(self, owner: str, amount: int) -> int:
            self.ledger.balances[owner] = self.ledger.balances.get(owner, 0) + amount
            return self.ledger.balances[owner]

        def report(self) -> str:
            words = {name: len(name) for name in self.ledger.balances}
            ranked = sorted(self.ledger.balances.items(), key=lambda item: (-item[1], item[0]))
            return f"{ranked} {words} {sum(self.ledger.balances.values())}"
    """

    with ContractSandbox(compile_contract({"contract": SOURCE})) as sandbox:
        meter = FuelMeter(10**7)
        bank = run_in_sandbox(sandbox, "Bank", meter=meter)
        for index in range(200):
            run_in_sandbox(sandbox, bank.deposit, f"owner-{index % 37}", index * 7, meter=meter)
        print(run_in_sandbox(sandbox, bank.report, meter=meter))
        print(meter.used)
    '''
)


def test_fuel_and_results_are_identical_under_different_hash_seeds() -> None:
    outputs = []
    for seed in ("0", "1", "4242"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    report, used = outputs[0].strip().splitlines()
    assert int(used) > 0
    assert "owner-0" in report


def test_list_growing_while_a_comprehension_iterates_it_runs_out_of_fuel(
    run_contract: RunContract,
) -> None:
    with pytest.raises(OutOfFuel):
        run_contract(
            "def main():\n    items = [0]\n    [items.append(x) for x in items]", fuel=10**5
        )


def test_list_growing_while_a_loop_iterates_it_runs_out_of_fuel(run_contract: RunContract) -> None:
    with pytest.raises(OutOfFuel):
        run_contract(
            "def main():\n    items = [0]\n    for x in items:\n        items.append(x)", fuel=10**5
        )


@pytest.mark.parametrize(
    "comparison",
    [
        "big == copy",
        "big < copy",
        "big != copy",
        "text == other",
        "0 < len(big) < 10 ** 9 and big == copy",
    ],
)
def test_repeated_comparisons_of_large_values_are_priced(
    run_contract: RunContract, comparison: str
) -> None:
    source = (
        "def main():\n    big = [0] * 10 ** 5\n    copy = [0] * 10 ** 5\n"
        "    text = 'x' * 10 ** 5\n    other = 'x' * 10 ** 5\n"
        f"    for _ in range(10 ** 6):\n        flag = {comparison}"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**7)


def test_chained_comparisons_price_their_operands(run_contract: RunContract) -> None:
    source = "def main():\n    big = [0] * 1000\n    return [] < big <= big"
    assert run_contract(source).result is True


def test_slice_assignment_from_a_huge_iterable_is_priced(run_contract: RunContract) -> None:
    with pytest.raises(OutOfFuel):
        run_contract("def main():\n    items = []\n    items[:] = range(10 ** 12)", fuel=10**5)
    source = (
        "def main():\n    items = [1, 2, 3]\n    items[1:2] = (x for x in [7, 8])\n    return items"
    )
    assert run_contract(source).result == [1, 7, 8, 3]


@pytest.mark.parametrize(
    "statement",
    [
        "flag = isinstance(1, kinds)",
        "flag = issubclass(int, (kinds,))",
        "table[key] = 1",
        "flag = key in table",
        "value = table[key]",
        "del table[key]\n        table[key] = 1",
    ],
)
def test_builtins_that_walk_tuples_are_priced(run_contract: RunContract, statement: str) -> None:
    source = (
        "def main():\n    kinds = (str,) * 10 ** 4\n    key = (0,) * 10 ** 4\n"
        "    table = {key: 0}\n"
        f"    for _ in range(10 ** 6):\n        {statement}"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)


@pytest.mark.parametrize(
    "statement",
    [
        "flag = nested == other",
        "flag = nested < other",
        "flag = 0 < 1 < 2 and [nested] == [other]",
        "flag = inner_copy in haystack",
        "position = haystack.count(inner_copy)",
    ],
)
def test_comparisons_of_nested_data_are_priced_by_depth(
    run_contract: RunContract, statement: str
) -> None:
    source = (
        "def main():\n    inner = [0] * 10 ** 4\n    inner_copy = [0] * 10 ** 4\n"
        "    nested = [1, inner]\n    other = [1, inner_copy]\n    haystack = [inner] * 10\n"
        f"    for _ in range(10 ** 6):\n        {statement}"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)


def test_comparing_self_referencing_lists_is_a_clean_error(run_contract: RunContract) -> None:
    source = (
        "def main():\n    a = [1]\n    a.append(a)\n    b = [1]\n    b.append(b)\n    return a == b"
    )
    with pytest.raises(SandboxViolation, match="recursion"):
        run_contract(source)


@pytest.mark.parametrize(
    "statement",
    ["ordered = sorted(rows)", "rows.sort()", "top = max(rows)", "low = min(rows[0], rows[1])"],
)
def test_ordering_nested_data_is_priced_by_depth(run_contract: RunContract, statement: str) -> None:
    source = (
        "def main():\n    rows = [[0] * 10 ** 4 + [i] for i in range(8)]\n"
        f"    for _ in range(10 ** 6):\n        {statement}"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)


def test_min_and_max_keep_their_forms(run_contract: RunContract) -> None:
    source = (
        "def main():\n    return [min([3, 1, 2]), max(3, 1, 2), min([], default=7),"
        " max(['a', 'bbb'], key=len), min((x for x in [5, 4]))]"
    )
    assert run_contract(source).result == [1, 3, 7, "bbb", 4]
