"""Application benchmark: counter increments and fungible transfers through 4 validators, and
what the contract sandbox and fuel metering cost.

Throughput: blocks of ``--operations`` user operations (default 100) proposed by one chain's
owner, voted on by every validator, certified and broadcast, so each validator executes
every block twice (once to vote, once to apply), all in this one process. Measured on
in-memory stores and on SQLite (one database file per validator). Figures:

    counter           Increment(1) operations per second
    fungible local    Transfer operations per second between two owners of one chain
    fungible x-chain  Transfer operations per second to another chain, counting both the
                      sender's block and the receiver's block that accepts the credits

Metering overhead: the same contract and the same operations run (a) sandboxed and
metered, exactly as validators run them (`BlockExecutor` over a chain state from a
validator's storage: RestrictedPython, fuel per statement and per state byte, the
canonical encoding of each operation), and (b) as plain Python (`PlainContractRunner`:
the same contract class unsandboxed, unmetered, on in-memory state). Both exclude
consensus, signatures and storage commits; the ratio is (a) / (b) per operation, in this
process's CPU time (on a shared machine wall time would count other processes' work).

Throughput is given per wall-clock second and per CPU second of this process (everything
runs in this one process, so on a busy machine the CPU figure is the steadier one). Each
figure is the median of ``--repeats`` runs (default 3). Prints a table and saves JSON
under ``benchmarks/results/``.

    .venv/bin/python benchmarks/apps.py [--operations 100] [--blocks 2] [--repeats 3]
                                        [--metering-operations 1000] [--memory-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgechain.base.encoding import encode
from edgechain.base.identifiers import Account, ApplicationId
from edgechain.base.values import Amount
from edgechain.execution.operations import Operation, UserOperation
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.system import BlockContext
from edgechain.testing import ApplicationTester, PlainContractRunner, import_application

ROOT = Path(__file__).resolve().parents[1]
COUNTER_DIR = ROOT / "apps" / "counter"
FUNGIBLE_DIR = ROOT / "apps" / "fungible"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
VALIDATORS = 4
SUPPLY = Amount.from_tokens(1_000_000)

counter = import_application(COUNTER_DIR).abi
fungible = import_application(FUNGIBLE_DIR).abi


class BenchmarkFailure(Exception):
    """The benchmark's own checks failed (validators disagree, a wrong balance)."""


# -- throughput through the network


def user_operations(
    application_id: ApplicationId, operations: list[Any], abi: Any
) -> list[Operation]:
    return [
        UserOperation(application_id, encode(operation, abi.Operation)) for operation in operations
    ]


async def new_counter(tester: ApplicationTester) -> ApplicationId:
    module_id = await tester.publish_module(COUNTER_DIR)
    return await tester.create_application(module_id, abi=counter.CounterAbi, argument=0)


async def new_token(tester: ApplicationTester) -> ApplicationId:
    module_id = await tester.publish_module(FUNGIBLE_DIR)
    initial = fungible.InitialState({tester.clients[0].owner: SUPPLY})
    return await tester.create_application(
        module_id, abi=fungible.FungibleTokenAbi, parameters="BENCH", argument=initial
    )


async def time_blocks(blocks: int, one_block: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds to run ``one_block`` (an async block or two) ``blocks`` times."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(blocks):
        await one_block()
    return time.perf_counter() - started, time.process_time() - cpu_started


def check_agreement(tester: ApplicationTester, user: int) -> None:
    hashes = {
        storage.load_chain_scratch(tester.chain_id(user)).execution_state.hash()
        for storage in tester.network.storages
    }
    if len(hashes) != 1:
        raise BenchmarkFailure(
            f"validators disagree on chain {tester.chain_id(user)}: {len(hashes)} hashes"
        )


def query_data(tester: ApplicationTester, app: ApplicationId, request: str, user: int) -> Any:
    response = tester.query(app, request, user=user)
    if "errors" in response:
        raise BenchmarkFailure(f"query {request!r} failed: {response['errors']}")
    return response["data"]


async def measure_network(directory: str | None, operations: int, blocks: int) -> dict[str, float]:
    """Operations per wall second (and per CPU second, ``*_cpu``) of each workload on a fresh
    4-validator network (one run)."""
    tester = ApplicationTester.create(validators=VALIDATORS, users=2, directory=directory)
    try:
        sender, receiver = tester.clients[0], tester.clients[1]
        results: dict[str, float] = {}

        app = await new_counter(tester)
        increments = user_operations(app, [counter.Increment(1)] * operations, counter.CounterAbi)
        await sender.execute_operations(increments)  # warm-up: contract compiled and cached
        seconds, cpu = await time_blocks(blocks, lambda: sender.execute_operations(increments))
        results["counter"] = blocks * operations / seconds
        results["counter_cpu"] = blocks * operations / cpu
        expected_value = (blocks + 1) * operations
        if query_data(tester, app, "query { value }", 0)["value"] != expected_value:
            raise BenchmarkFailure("the counter's value is not the number of increments")

        token = await new_token(tester)
        owner, other = sender.owner, receiver.owner
        local = user_operations(
            token,
            [fungible.Transfer(owner, Amount(1), Account(tester.chain_id(0), other))] * operations,
            fungible.FungibleTokenAbi,
        )
        await sender.execute_operations(local)
        seconds, cpu = await time_blocks(blocks, lambda: sender.execute_operations(local))
        results["fungible_local"] = blocks * operations / seconds
        results["fungible_local_cpu"] = blocks * operations / cpu

        remote = user_operations(
            token,
            [fungible.Transfer(owner, Amount(1), Account(tester.chain_id(1), other))] * operations,
            fungible.FungibleTokenAbi,
        )

        async def cross_chain_block() -> None:
            await sender.execute_operations(remote)
            if await receiver.process_inbox() is None:
                raise BenchmarkFailure("the receiving chain found no credits")

        await cross_chain_block()
        seconds, cpu = await time_blocks(blocks, cross_chain_block)
        results["fungible_cross_chain"] = blocks * operations / seconds
        results["fungible_cross_chain_cpu"] = blocks * operations / cpu

        received = query_data(tester, token, f'query {{ balance(owner: "{other}") }}', 1)["balance"]
        if Amount.from_tokens(received) != Amount((blocks + 1) * operations):
            raise BenchmarkFailure(f"the receiver holds {received}, not every credit sent")
        for user in (0, 1):
            check_agreement(tester, user)
        return results
    finally:
        tester.close()


# -- metering overhead


def time_metered(
    tester: ApplicationTester, app: ApplicationId, operations: list[Any], abi: Any
) -> tuple[float, int]:
    """CPU seconds (and fuel) to run ``operations`` sandboxed and metered, as a validator does
    (the block's one sandbox load included, amortized over the operations)."""
    storage = tester.network.storages[0]
    chain = storage.load_chain_scratch(tester.chain_id(0))
    tip = chain.tip_state.get()
    context = BlockContext(
        chain_id=tester.chain_id(0),
        height=tip.next_block_height,
        timestamp=chain.execution_state.system.timestamp.get(),
        authenticated_signer=tester.clients[0].owner,
        published_blob_ids=[],
    )
    payloads = user_operations(app, operations, abi)
    executor = chain.execution_state.block_executor(
        context, ResourceControlPolicy.no_fees(), storage.missing_blobs, storage
    )
    try:
        started = time.process_time()
        for operation in payloads:
            executor.execute_operation(operation)
        seconds = time.process_time() - started
        return seconds, executor.fuel_used
    finally:
        executor.close()
        chain.rollback()


def time_plain(runner: PlainContractRunner, operations: list[Any]) -> float:
    """CPU seconds to run ``operations`` as plain Python."""
    started = time.process_time()
    for operation in operations:
        runner.execute_operation(operation)
    return time.process_time() - started


async def prepare_metering(tester: ApplicationTester) -> tuple[ApplicationId, ApplicationId]:
    return await new_counter(tester), await new_token(tester)


def measure_metering(operations: int, repeats: int) -> dict[str, dict[str, float]]:
    """Per contract: median seconds per operation metered and plain, their ratio, fuel per op."""
    tester = ApplicationTester.create(validators=1, users=2)
    try:
        counter_app, token_app = asyncio.run(prepare_metering(tester))
        owner, other = tester.clients[0].owner, tester.clients[1].owner
        workloads = {
            "counter": (
                counter_app,
                [counter.Increment(1)] * operations,
                counter.CounterAbi,
                COUNTER_DIR,
                None,
                0,
            ),
            "fungible": (
                token_app,
                [fungible.Transfer(owner, Amount(1), Account(tester.chain_id(0), other))]
                * operations,
                fungible.FungibleTokenAbi,
                FUNGIBLE_DIR,
                "BENCH",
                fungible.InitialState({owner: SUPPLY}),
            ),
        }
        results: dict[str, dict[str, float]] = {}
        for name, (app, ops, abi, directory, parameters, argument) in workloads.items():
            metered_runs: list[float] = []
            plain_runs: list[float] = []
            fuel = 0
            for _ in range(repeats):  # interleaved, so drift hits both alike
                seconds, fuel = time_metered(tester, app, ops, abi)
                metered_runs.append(seconds)
                runner = PlainContractRunner(
                    directory,
                    chain_id=tester.chain_id(0),
                    authenticated_owner=owner,
                    parameters=parameters,
                )
                runner.instantiate(argument)
                plain_runs.append(time_plain(runner, ops))
            metered = statistics.median(metered_runs) / operations
            plain = statistics.median(plain_runs) / operations
            results[name] = {
                "metered_us_per_operation": round(metered * 1e6, 2),
                "plain_us_per_operation": round(plain * 1e6, 2),
                "overhead_ratio": round(metered / plain, 2),
                "fuel_per_operation": fuel / operations,
            }
        return results
    finally:
        tester.close()


# -- driver


def median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--operations", type=int, default=100, help="user operations per block (default 100)"
    )
    parser.add_argument(
        "--blocks", type=int, default=2, help="timed blocks per workload and run (default 2)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per figure; the median is reported"
    )
    parser.add_argument(
        "--metering-operations", type=int, default=1000, help="operations per metering run"
    )
    parser.add_argument("--memory-only", action="store_true", help="skip the SQLite network")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "apps.json")
    arguments = parser.parse_args(argv)
    if (
        min(
            arguments.operations, arguments.blocks, arguments.repeats, arguments.metering_operations
        )
        < 1
    ):
        parser.error("every count must be at least 1")

    started = time.perf_counter()
    throughput: dict[str, dict[str, Any]] = {}
    storages = ["memory"] if arguments.memory_only else ["memory", "sqlite"]
    try:
        for storage in storages:
            runs = []
            for _ in range(arguments.repeats):
                with tempfile.TemporaryDirectory(prefix="edgechain-apps-bench-") as directory:
                    chosen = None if storage == "memory" else directory
                    runs.append(
                        asyncio.run(measure_network(chosen, arguments.operations, arguments.blocks))
                    )
            throughput[storage] = {"operations_per_second": median_runs(runs), "runs": runs}
        metering = measure_metering(arguments.metering_operations, arguments.repeats)
    except BenchmarkFailure as failure:
        print(f"benchmark check failed: {failure}", file=sys.stderr)
        return 1

    result = {
        "benchmark": "apps",
        "validators": VALIDATORS,
        "operations_per_block": arguments.operations,
        "timed_blocks_per_run": arguments.blocks,
        "repeats": arguments.repeats,
        "throughput": throughput,
        "metering": metering,
        "metering_operations": arguments.metering_operations,
        "seconds_total": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "unix_time": int(time.time()),
    }
    print(
        f"apps benchmark: {VALIDATORS} in-process validators, blocks of {arguments.operations} operations,"
    )
    print(
        f"median of {arguments.repeats} runs of {arguments.blocks} timed blocks each (operations per second)"
    )
    header = "".join(f"{storage + ' wall':>13}{storage + ' CPU':>13}" for storage in storages)
    print(f"  {'workload':<22}{header}")
    for key in ("counter", "fungible_local", "fungible_cross_chain"):
        row = "".join(
            f"{throughput[s]['operations_per_second'][key]:>13.1f}"
            f"{throughput[s]['operations_per_second'][key + '_cpu']:>13.1f}"
            for s in storages
        )
        print(f"  {key:<22}{row}")
    print(
        f"metering overhead (CPU time, {arguments.metering_operations} operations, median of {arguments.repeats}):"
    )
    print(f"  {'contract':<10}{'metered µs/op':>15}{'plain µs/op':>13}{'ratio':>8}{'fuel/op':>9}")
    for name, figures in metering.items():
        print(
            f"  {name:<10}{figures['metered_us_per_operation']:>15.1f}{figures['plain_us_per_operation']:>13.1f}"
            f"{figures['overhead_ratio']:>8.2f}{figures['fuel_per_operation']:>9.0f}"
        )
    print(f"total {result['seconds_total']} s")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
