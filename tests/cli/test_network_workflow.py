"""The CLI as a new user types it: a detached network with a faucet, a wallet, a chain, transfers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

COUNTER = Path(__file__).resolve().parents[2] / "apps" / "counter"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the node service exited"
        try:
            httpx.get(url, headers={"accept": "text/html"}, timeout=1, trust_env=False)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def edgechain(*arguments: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "edgechain.cli.main", *arguments],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"edgechain {' '.join(arguments)} failed: {result.stderr}{result.stdout}")
    return result


@pytest.fixture
def network_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "net"
    yield directory
    # Whatever happened, stop every process the network recorded.
    processes_file = directory / "processes.json"
    if processes_file.exists():
        for pid in json.loads(processes_file.read_text()).values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


@pytest.mark.slow
def test_new_user_workflow(tmp_path: Path, network_dir: Path) -> None:
    env = {**os.environ, "EDGECHAIN_WALLET": str(tmp_path / "me" / "wallet.json")}
    env.pop("EDGECHAIN_STORAGE", None)
    up = edgechain("net", "up", "--with-faucet", "--detach", "--dir", str(network_dir), env=env)
    faucet_match = re.search(r"faucet\s+(http://127\.0\.0\.1:\d+)", up.stdout)
    assert faucet_match is not None, up.stdout
    faucet = faucet_match.group(1)
    assert (network_dir / "processes.json").exists()

    edgechain("wallet", "init", "--faucet", faucet, env=env)
    chain = edgechain("wallet", "request-chain", "--faucet", faucet, env=env).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", chain), chain
    shown = edgechain("wallet", "show", env=env).stdout
    assert f"{chain}  next height 1  (default, owned)" in shown
    assert edgechain("query-balance", env=env).stdout.strip() == "10."

    # The network's own wallet holds genesis chains; send 2.5 to its default chain.
    network_env = {**env, "EDGECHAIN_WALLET": str(network_dir / "wallet.json")}
    recipient = json.loads((network_dir / "wallet.json").read_text())["default"]
    edgechain("transfer", "2.5", "--to", recipient, env=env)
    assert edgechain("query-balance", env=env).stdout.strip() == "7.5"  # before the child chain
    assert "took 1 bundle(s)" in edgechain("process-inbox", env=network_env).stdout
    assert edgechain("query-balance", env=network_env).stdout.strip() == "1002.5"

    # An overspend is refused by the validators: one line, non-zero exit, no traceback.
    refused = edgechain("transfer", "100", "--to", recipient, env=env, check=False)
    assert refused.returncode == 1
    assert "insufficient funding" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    # A child chain owned by a new key of this wallet, made the default, then synced.
    child = edgechain("open-chain", "--initial-balance", "1", env=env).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", child), child
    edgechain("wallet", "set-default", child[:12], env=env)
    assert edgechain("query-balance", env=env).stdout.strip() == "1."
    assert f"chain {child} at height 1" in edgechain("sync", env=env).stdout
    edgechain("wallet", "set-default", chain, env=env)

    # A model-sized file: chunk blobs under a manifest, with a progress bar.
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(bytes(range(256)) * 9000)  # 2.3 MB: 3 chunks of 1 MB and a manifest
    published = edgechain("publish-model", str(model_file), env=env)
    assert re.fullmatch(r"manifest:[0-9a-f]{64}", published.stdout.strip()), published.stdout
    assert "publishing model.bin" in published.stderr and "4/4" in published.stderr

    # A blob round trip through the validators.
    blob_file = tmp_path / "hello.txt"
    blob_file.write_bytes(b"hello, validators")
    blob_id = edgechain("publish-data-blob", str(blob_file), env=env).stdout.strip()
    assert blob_id

    # An application, its service behind the node service, a query and a mutation over HTTP.
    application = edgechain(
        "publish-and-create", str(COUNTER), "--argument", "5", env=env
    ).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", application), application
    answer = edgechain("query", chain, application, "{ value }", env=env).stdout
    assert json.loads(answer) == {"data": {"value": 5}}
    # A mutation from the command line is proposed at once; a malformed query exits non-zero.
    mutated = edgechain("query", chain, application, "mutation { increment(value: 2) }", env=env)
    assert "proposed 1 operation(s) in block" in mutated.stderr
    answer = edgechain("query", chain, application, "{ value }", env=env).stdout
    assert json.loads(answer) == {"data": {"value": 7}}
    malformed = edgechain("query", chain, application, "{ valu", env=env, check=False)
    assert malformed.returncode == 1 and json.loads(malformed.stdout)["errors"]
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "edgechain.cli.main", "service", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/chains/{chain}/applications/{application}"
        wait_for_http(f"http://127.0.0.1:{port}/", service)
        with httpx.Client(timeout=60, trust_env=False) as http:
            assert http.post(url, json={"query": "{ value }"}).json() == {"data": {"value": 7}}
            mutation = http.post(url, json={"query": "mutation { increment(value: 4) }"}).json()
            assert len(mutation["blockHash"]) == 64
            assert http.post(url, json={"query": "{ value }"}).json() == {"data": {"value": 11}}
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        try:
            service.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()

    down = edgechain("net", "down", "--dir", str(network_dir), env=env)
    assert "stopped 5 process(es)" in down.stdout
    assert not (network_dir / "processes.json").exists()


def test_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "EDGECHAIN_WALLET": str(tmp_path / "missing.json")}
    result = edgechain("query-balance", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("edgechain: error: no wallet at")
    assert "Traceback" not in result.stderr
    result = edgechain("net", "down", "--dir", str(tmp_path), env=env, check=False)
    assert result.returncode == 1 and "no running network" in result.stderr
    result = edgechain("wallet", "init", "--faucet", "http://10.1.2.3:8080", env=env, check=False)
    assert result.returncode == 1 and "not a loopback address" in result.stderr
    result = edgechain("transfer", "abc", "--to", "00", env=env, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
