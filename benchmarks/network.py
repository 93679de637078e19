"""Network benchmark: single-owner transfers through 4 validator *processes* on loopback,
beside the same work through 4 in-process validators, in one run.

For each setting it reports the p50/p99 confirmation latency of one transfer sent alone
(proposal -> votes from a quorum -> certificate -> broadcast to every validator, i.e.
the ``ChainClient.transfer`` call) and the throughput of a burst of transfers from
``--chains`` chains at once. Settings:

    in-process   4 validators in this process, SQLite files (`LocalNetwork`)
    sqlite       4 validator processes started by `edgechain net up --detach`, SQLite
    postgresql   the same on PostgreSQL (a throwaway cluster made with initdb, or --postgres DSN)

    .venv/bin/python benchmarks/network.py [--transfers 100] [--burst 200] [--chains 4]
                                           [--postgres DSN | --no-postgres] [--output PATH]

Target: p50 single-owner confirmation <= 20 ms on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgechain.base.values import Amount
from edgechain.core.client import ChainClient
from edgechain.core.network import LocalNetwork
from edgechain.core.wallet import Wallet
from edgechain.rpc.client import close_nodes, remote_nodes

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


class CertificateClock:
    """Wraps a validator node; records when the client first sends out each certificate,
    i.e. the moment a quorum's votes formed it (the transfer is confirmed from then on)."""

    def __init__(self, node: Any, first_sent: dict[Any, float]) -> None:
        self._node = node
        self._first_sent = first_sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    @property
    def public_key(self) -> Any:
        return self._node.public_key

    async def handle_certificate(self, certificate: Any) -> Any:
        self._first_sent.setdefault(certificate.hash(), time.perf_counter())
        return await self._node.handle_certificate(certificate)


async def measure(clients: list[ChainClient], transfers: int, burst: int, warmup: int = 5) -> dict[str, Any]:
    """Latency of lone transfers from clients[0]; then a burst from every client at once."""
    first, second = clients[0], clients[1 % len(clients)]
    for _ in range(warmup):
        await first.transfer_to_chain(Amount.from_tokens(1), second.chain_id)
    first_sent: dict[Any, float] = {}
    first.validators = [CertificateClock(node, first_sent) for node in first.validators]
    latencies = []
    to_certificate = []
    for _ in range(transfers):
        started = time.perf_counter()
        certificate = await first.transfer_to_chain(Amount.from_tokens(1), second.chain_id)
        latencies.append((time.perf_counter() - started) * 1000)
        to_certificate.append((first_sent[certificate.hash()] - started) * 1000)
    per_chain = max(1, burst // len(clients))

    async def send(index: int) -> None:
        recipient = clients[(index + 1) % len(clients)].chain_id
        for _ in range(per_chain):
            await clients[index].transfer_to_chain(Amount.from_tokens(1), recipient)

    started = time.perf_counter()
    await asyncio.gather(*(send(index) for index in range(len(clients))))
    burst_seconds = time.perf_counter() - started
    total = per_chain * len(clients)
    return {
        "latency_transfers": transfers,
        "certified_ms_p50": round(percentile(to_certificate, 0.50), 3),
        "certified_ms_p99": round(percentile(to_certificate, 0.99), 3),
        "latency_ms_p50": round(percentile(latencies, 0.50), 3),
        "latency_ms_p99": round(percentile(latencies, 0.99), 3),
        "latency_ms_mean": round(sum(latencies) / len(latencies), 3),
        "burst_transfers": total,
        "burst_seconds": round(burst_seconds, 3),
        "transfers_per_second": round(total / burst_seconds, 2),
    }


def run_in_process(directory: Path, chains: int, transfers: int, burst: int) -> dict[str, Any]:
    network = LocalNetwork.create(
        validator_count=4, user_chain_count=chains, directory=directory,
        initial_balance=Amount.from_tokens(100_000),
    )  # fmt: skip
    try:
        clients = [network.client(index) for index in range(chains)]
        return asyncio.run(measure(clients, transfers, burst))
    finally:
        network.close()


def edgechain(*arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "edgechain.cli.main", *arguments],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"edgechain {' '.join(arguments)}: {result.stderr}")
    return result.stdout


def run_processes(directory: Path, storage: str, chains: int, transfers: int, burst: int) -> dict[str, Any]:
    edgechain("net", "up", "--detach", "--dir", str(directory), "--validators", "4",
              "--chains", str(chains), "--initial-balance", "100000", "--storage", storage)  # fmt: skip
    try:
        wallet = Wallet.load(directory / "wallet.json")
        user_chains = [c for c in wallet.chains if c != wallet.genesis.admin_id][:chains]

        async def session() -> dict[str, Any]:
            nodes = remote_nodes(wallet.genesis)
            try:
                clients = [wallet.client(chain_id, nodes) for chain_id in user_chains]
                return await measure(clients, transfers, burst)
            finally:
                await close_nodes(nodes)

        return asyncio.run(session())
    finally:
        edgechain("net", "down", "--dir", str(directory))


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster on 127.0.0.1 in a temporary directory (as ``postgres`` when root)."""
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None)
    if initdb is None:
        raise RuntimeError("no initdb found: pass --postgres DSN or --no-postgres")
    binaries = Path(initdb).parent
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="edgechain-bench-pg-"))
    if user is not None:
        shutil.chown(root, user=user)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([str(binaries / "initdb"), "-D", str(root / "data"), "-U", "edgechain",
                    "--auth=trust", "--no-sync"], user=user, check=True, capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [str(binaries / "postgres"), "-D", str(root / "data"), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off"],
        user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    dsn = f"postgresql://edgechain@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(dsn, connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield dsn
    finally:
        server.send_signal(2)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=100, help="lone transfers timed for latency")
    parser.add_argument("--burst", type=int, default=200, help="transfers in the throughput burst")
    parser.add_argument("--chains", type=int, default=4, help="chains sending at once in the burst")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL DSN (default: a throwaway cluster)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "network.json")
    arguments = parser.parse_args()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgechain-bench-net-") as scratch:
        root = Path(scratch)
        results["in-process"] = run_in_process(root / "local", arguments.chains, arguments.transfers, arguments.burst)
        results["sqlite"] = run_processes(root / "sqlite", "sqlite", arguments.chains, arguments.transfers, arguments.burst)
        if not arguments.no_postgres:
            with contextlib.ExitStack() as stack:
                dsn = arguments.postgres or stack.enter_context(throwaway_postgres())
                results["postgresql"] = run_processes(root / "postgres", dsn, arguments.chains, arguments.transfers, arguments.burst)

    print("latency of one transfer: 'certified' = proposal to certificate (quorum signed);")
    print("'applied' = until every validator has applied it (the client call returns)")
    print(f"{'setting':<12} {'cert p50':>9} {'cert p99':>9} {'applied p50':>12} {'applied p99':>12}"
          f" {'burst tx/s':>11}")  # fmt: skip
    for name, figures in results.items():
        print(f"{name:<12} {figures['certified_ms_p50']:>9.1f} {figures['certified_ms_p99']:>9.1f}"
              f" {figures['latency_ms_p50']:>12.1f} {figures['latency_ms_p99']:>12.1f}"
              f" {figures['transfers_per_second']:>11.1f}")  # fmt: skip
    target_met = results["sqlite"]["certified_ms_p50"] <= 20.0
    print(f"target: p50 confirmation <= 20 ms on loopback (SQLite processes, to certificate):"
          f" {'met' if target_met else 'NOT met'}")  # fmt: skip
    load = os.getloadavg()
    document = {
        "benchmark": "network",
        "validators": 4,
        "chains": arguments.chains,
        "results": results,
        "target_p50_ms": 20.0,
        "target_met_sqlite": target_met,
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(load[0], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "unix_time": int(time.time()),
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"saved {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
