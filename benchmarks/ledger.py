"""Ledger benchmark: single-owner transfers through 4 in-process validators on SQLite.

Every block is proposed by one chain's owner, voted on by the 4 validators, certified and
broadcast (so every validator executes it twice: once to vote, once to apply). Reports
confirmed blocks per second and the p50/p99 latency of one block (proposal to certificate
accepted by every validator), prints a table and saves JSON under ``benchmarks/results/``.

    .venv/bin/python benchmarks/ledger.py [--blocks 100] [--operations-per-block 1]
                                          [--validators 4] [--memory] [--output PATH]
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
from pathlib import Path

from edgechain.base.identifiers import Account
from edgechain.base.values import Amount
from edgechain.core.network import LocalNetwork
from edgechain.execution.operations import Operation, Transfer

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def run_transfers(
    network: LocalNetwork, blocks: int, operations_per_block: int, warmup: int
) -> tuple[list[float], float, float]:
    """Certify ``blocks`` blocks; return each block's latency, the wall time and the CPU time."""
    sender = network.client(0)
    recipient = Account(network.user_chain_ids[1])
    operations: list[Operation] = [
        Transfer(None, recipient, Amount(1)) for _ in range(operations_per_block)
    ]
    for _ in range(warmup):
        await sender.execute_operations(operations)
    latencies: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(blocks):
        block_started = time.perf_counter()
        await sender.execute_operations(operations)
        latencies.append(time.perf_counter() - block_started)
    return latencies, time.perf_counter() - started, time.process_time() - cpu_started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=100, help="blocks to certify (default 100)")
    parser.add_argument("--operations-per-block", type=int, default=1, help="transfers per block")
    parser.add_argument("--validators", type=int, default=4, help="committee size (default 4)")
    parser.add_argument("--warmup", type=int, default=5, help="blocks certified before timing")
    parser.add_argument("--memory", action="store_true", help="in-memory stores instead of SQLite")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "ledger.json")
    arguments = parser.parse_args(argv)
    if arguments.blocks < 1 or arguments.operations_per_block < 1:
        parser.error("--blocks and --operations-per-block must be at least 1")

    with tempfile.TemporaryDirectory(prefix="edgechain-ledger-bench-") as directory:
        network = LocalNetwork.create(
            validator_count=arguments.validators,
            user_chain_count=2,
            initial_balance=Amount.from_tokens(1_000_000),
            directory=None if arguments.memory else directory,
        )
        try:
            latencies, elapsed, cpu_seconds = asyncio.run(
                run_transfers(network, arguments.blocks, arguments.operations_per_block, arguments.warmup)
            )
            heights = {
                storage.load_chain(network.user_chain_ids[0]).next_block_height().value
                for storage in network.storages
            }
            state_hashes = {
                storage.load_chain(network.user_chain_ids[0]).state_hash() for storage in network.storages
            }
        finally:
            network.close()
    expected_height = arguments.blocks + arguments.warmup
    if heights != {expected_height} or len(state_hashes) != 1:
        print(f"validators disagree: heights {heights}, {len(state_hashes)} state hashes", file=sys.stderr)
        return 1

    result = {
        "benchmark": "ledger",
        "storage": "memory" if arguments.memory else "sqlite",
        "validators": arguments.validators,
        "blocks": arguments.blocks,
        "operations_per_block": arguments.operations_per_block,
        "seconds": round(elapsed, 4),
        "blocks_per_second": round(arguments.blocks / elapsed, 2),
        "transfers_per_second": round(arguments.blocks * arguments.operations_per_block / elapsed, 2),
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 3),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 3),
        "latency_ms_mean": round(statistics.fmean(latencies) * 1000, 3),
        "cpu_ms_per_block": round(cpu_seconds / arguments.blocks * 1000, 3),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "unix_time": int(time.time()),
    }
    rows = [
        ("storage", f"{result['storage']} ({arguments.validators} validators, in-process)"),
        ("blocks x transfers", f"{arguments.blocks} x {arguments.operations_per_block}"),
        ("confirmed blocks/s", f"{result['blocks_per_second']:.1f}"),
        ("transfers/s", f"{result['transfers_per_second']:.1f}"),
        ("latency p50 (ms)", f"{result['latency_ms_p50']:.2f}"),
        ("latency p99 (ms)", f"{result['latency_ms_p99']:.2f}"),
        ("CPU per block (ms)", f"{result['cpu_ms_per_block']:.2f}  (all 4 validators + client, one process)"),
    ]
    width = max(len(name) for name, _ in rows)
    print("ledger benchmark")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
