"""`edgechain net up|down` and `edgechain validator run`: a local network of validator processes.

``net up`` writes everything a network needs into one directory and starts it:

    DIR/genesis.cbor              committee (with each validator's loopback address) and root chains
    DIR/validator-<i>/config.json the validator's key seed, port, storage URL, shards
    DIR/validator-<i>/log.txt     its output
    DIR/wallet.json               the admin chain and the user chains, with their keys
    DIR/faucet-wallet.json        the faucet's chain (with --with-faucet)
    DIR/processes.json            the process ids, for `net down`

Every process listens on 127.0.0.1 only and runs in its own process group, so
``net down`` (or Ctrl-C in the foreground) stops it and all it started.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from edgechain.base.crypto import KeyPair
from edgechain.base.identifiers import AccountOwner
from edgechain.base.values import Amount
from edgechain.core.errors import ClientError
from edgechain.core.network_config import build_genesis, write_genesis
from edgechain.core.wallet import Wallet
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.rpc.config import ValidatorConfig, run_validator

STORAGE_ENV = "EDGECHAIN_STORAGE"
"""The environment variable giving `net up`'s default storage (``sqlite`` or a PostgreSQL URL)."""

PROCESSES_FILE = "processes.json"
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


def register(subparsers: Any) -> None:
    net = subparsers.add_parser("net", help="start or stop a local network of validator processes")
    net_commands = net.add_subparsers(dest="net_command", metavar="SUBCOMMAND", required=True)

    up = net_commands.add_parser("up", help="create a network in a directory and start it")
    up.add_argument("--validators", type=int, default=4, help="number of validators (default 4)")
    up.add_argument("--shards", type=int, default=1, help="worker shards per validator (default 1)")
    up.add_argument("--shard-processes", action="store_true",
                    help="run each shard as its own process behind a proxy (else threads of one)")  # fmt: skip
    up.add_argument(
        "--storage",
        default=None,
        help="'sqlite' (a file per validator, the default) or a postgresql:// URL shared by"
        f" all validators (one table each); default ${STORAGE_ENV} or sqlite",
    )
    up.add_argument("--with-faucet", action="store_true", help="also start a faucet")
    up.add_argument("--faucet-port", type=int, default=0, help="faucet port (default: a free one)")
    up.add_argument("--faucet-amount", default="10", help="tokens per chain the faucet gives")
    up.add_argument("--policy", choices=["no_fees", "testnet"], default="no_fees")
    up.add_argument("--chains", type=int, default=2, help="user chains at genesis (default 2)")
    up.add_argument("--initial-balance", default="1000", help="tokens per genesis chain")
    up.add_argument("--dir", type=Path, default=None, help="directory (default: a new temporary one)")
    up.add_argument("--detach", action="store_true", help="return once the network is up")
    up.set_defaults(handler=net_up)

    down = net_commands.add_parser("down", help="stop a network started with --detach")
    down.add_argument("--dir", type=Path, required=True, help="the network's directory")
    down.set_defaults(handler=net_down)

    validator = subparsers.add_parser("validator", help="run one validator process")
    validator_commands = validator.add_subparsers(dest="validator_command", metavar="SUBCOMMAND", required=True)
    run = validator_commands.add_parser("run", help="serve a validator from its config file")
    run.add_argument("--config", type=Path, required=True, help="the validator's config.json")
    run.add_argument("--shard", type=int, default=None,
                     help="run this shard process (configs with shard_ports); without it, the proxy")  # fmt: skip
    run.set_defaults(handler=validator_run)


def validator_run(arguments: argparse.Namespace) -> int:
    run_validator(ValidatorConfig.load(arguments.config), arguments.shard)
    return 0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _policy(name: str) -> ResourceControlPolicy:
    return ResourceControlPolicy.testnet() if name == "testnet" else ResourceControlPolicy.no_fees()


def net_up(arguments: argparse.Namespace) -> int:
    if arguments.validators < 1 or arguments.shards < 1 or arguments.chains < 1:
        raise ClientError("--validators, --shards and --chains must be at least 1")
    directory: Path = arguments.dir or Path(tempfile.mkdtemp(prefix="edgechain-net-"))
    directory = directory.resolve()
    if (directory / "genesis.cbor").exists():
        raise ClientError(f"{directory} already holds a network: use another --dir, or `net down` it")
    directory.mkdir(parents=True, exist_ok=True)
    storage = arguments.storage or os.environ.get(STORAGE_ENV) or "sqlite"
    network_tag = os.urandom(4).hex()

    validator_keys = [KeyPair.generate() for _ in range(arguments.validators)]
    ports = [free_port() for _ in validator_keys]
    addresses = [f"http://127.0.0.1:{port}" for port in ports]
    admin_key = KeyPair.generate()
    user_keys = [KeyPair.generate() for _ in range(arguments.chains)]
    faucet_key = KeyPair.generate() if arguments.with_faucet else None
    owners = [AccountOwner.from_public_key(key.public_key) for key in user_keys]
    if faucet_key is not None:
        owners.append(AccountOwner.from_public_key(faucet_key.public_key))
    balance = Amount.from_tokens(arguments.initial_balance)
    genesis = build_genesis(
        validator_keys, addresses, AccountOwner.from_public_key(admin_key.public_key),
        owners, [balance] * len(owners), _policy(arguments.policy),
    )  # fmt: skip
    write_genesis(directory / "genesis.cbor", genesis)

    wallet = Wallet.create(directory / "wallet.json", genesis, overwrite=True)
    chain_ids = [chain.chain_id for chain in genesis.chains]
    for chain_id, key in zip(chain_ids[1:], user_keys, strict=False):
        wallet.add_chain(chain_id, key)
    wallet.add_chain(genesis.admin_id, admin_key)
    wallet.save()

    processes: dict[str, int] = {}
    try:
        for index, (key, port) in enumerate(zip(validator_keys, ports, strict=True)):
            name = f"validator-{index}"
            home = directory / name
            if storage == "sqlite":
                storage_url = f"sqlite:{home / 'state.sqlite'}"
            elif storage.startswith(("postgresql://", "postgres://")):
                storage_url = storage
            else:
                raise ClientError(f"--storage must be 'sqlite' or a postgresql:// URL, not {storage!r}")
            config = ValidatorConfig(
                name=name, key_seed=key.seed().hex(), host="127.0.0.1", port=port,
                storage=storage_url, namespace=f"net_{network_tag}_{index}",
                blob_dir=str(home / "blobs"), shards=arguments.shards,
                genesis=str(directory / "genesis.cbor"),
            )  # fmt: skip
            if arguments.shard_processes:
                config = dataclasses.replace(
                    config, shard_ports=[free_port() for _ in range(arguments.shards)]
                )
            config.save(home / "config.json")
            command = [sys.executable, "-m", "edgechain.cli.main", "validator", "run",
                       "--config", str(home / "config.json")]  # fmt: skip
            for shard in range(len(config.shard_ports)):
                processes[f"{name}-shard-{shard}"] = _spawn(
                    [*command, "--shard", str(shard)], home / f"shard-{shard}-log.txt"
                )
            processes[name] = _spawn(command, home / "log.txt")
            _save_processes(directory, processes)
        shard_addresses = []
        for index in range(arguments.validators):
            config = ValidatorConfig.load(directory / f"validator-{index}" / "config.json")
            shard_addresses += [config.shard_address(i) for i in range(len(config.shard_ports))]
        for address in shard_addresses + addresses:
            _wait_healthy(address, processes, directory)
        faucet_url = None
        if faucet_key is not None:
            faucet_wallet = Wallet.create(directory / "faucet-wallet.json", genesis, overwrite=True)
            faucet_wallet.add_chain(chain_ids[-1], faucet_key, make_default=True)
            faucet_wallet.save()
            faucet_port = arguments.faucet_port or free_port()
            command = [sys.executable, "-m", "edgechain.node", "faucet",
                       "--wallet", str(directory / "faucet-wallet.json"),
                       "--port", str(faucet_port), "--amount", str(arguments.faucet_amount)]  # fmt: skip
            processes["faucet"] = _spawn(command, directory / "faucet-log.txt")
            _save_processes(directory, processes)
            faucet_url = f"http://127.0.0.1:{faucet_port}"
            _wait_healthy(faucet_url, processes, directory)
    except BaseException:
        _stop_all(processes)
        (directory / PROCESSES_FILE).unlink(missing_ok=True)
        raise

    shard_kind = "processes" if arguments.shard_processes else "threads"
    print(f"edgechain network up: {arguments.validators} validators x {arguments.shards} shard(s)"
          f" ({shard_kind}),"
          f" storage {storage}, policy {arguments.policy}")  # fmt: skip
    for index, address in enumerate(addresses):
        print(f"  validator-{index}  {address}  (metrics: {address}/metrics)")
    if faucet_url is not None:
        print(f"  faucet       {faucet_url}")
    print(f"directory: {directory}")
    print("to use it:")
    print(f"  export EDGECHAIN_WALLET={directory / 'wallet.json'}")
    print("  edgechain wallet show")
    print("  edgechain query-balance")
    if faucet_url is not None:
        print("or, as a new user:")
        print(f"  edgechain wallet init --faucet {faucet_url} --with-new-chain")
    if arguments.detach:
        print(f"stop it with: edgechain net down --dir {directory}")
        sys.stdout.flush()
        return 0
    print("press Ctrl-C to stop it")
    sys.stdout.flush()
    try:
        while all(_alive(pid) for pid in processes.values()):
            time.sleep(0.5)
        print("edgechain: a network process exited; stopping the network", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping the network")
        return 0
    finally:
        _stop_all(processes)
        (directory / PROCESSES_FILE).unlink(missing_ok=True)


def net_down(arguments: argparse.Namespace) -> int:
    directory: Path = arguments.dir
    try:
        processes = json.loads((directory / PROCESSES_FILE).read_text())
    except FileNotFoundError as exc:
        raise ClientError(f"no running network recorded in {directory}") from exc
    _stop_all({str(name): int(pid) for name, pid in processes.items()})
    (directory / PROCESSES_FILE).unlink(missing_ok=True)
    print(f"stopped {len(processes)} process(es) of the network in {directory}")
    return 0


def _spawn(command: list[str], log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return process.pid


def _save_processes(directory: Path, processes: dict[str, int]) -> None:
    (directory / PROCESSES_FILE).write_text(json.dumps(processes, indent=2))


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        try:
            os.kill(pid, 0)  # not our child (net down): is it still there?
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _is_running(pid)
    return finished == 0


def _is_running(pid: int) -> bool:
    """False for a zombie or a vanished process (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_healthy(address: str, processes: dict[str, int], directory: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                if client.get(f"{address}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            dead = [name for name, pid in processes.items() if not _alive(pid)]
            if dead:
                raise ClientError(
                    f"{', '.join(dead)} exited during startup: see the logs in {directory}"
                )
            if time.monotonic() > deadline:
                raise ClientError(f"{address} did not come up in {STARTUP_TIMEOUT_SECONDS:.0f}s")
            time.sleep(0.1)


def _stop_all(processes: dict[str, int]) -> None:
    """SIGTERM every process group, then SIGKILL those still running after a grace period."""
    for pid in processes.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    remaining = dict(processes)
    while remaining and time.monotonic() < deadline:
        remaining = {name: pid for name, pid in remaining.items() if _alive(pid)}
        if remaining:
            time.sleep(0.05)
    for pid in remaining.values():
        _signal_group(pid, signal.SIGKILL)
    for pid in processes.values():
        _alive(pid)  # reap our children


def _signal_group(pid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal_number)
