"""Fixtures for the views tests: every view test runs over each key-value store backend.

PostgreSQL: ``EDGECHAIN_TEST_POSTGRES`` (a DSN) if set; otherwise a throwaway cluster made
with the local ``initdb`` in a temporary directory (run as the ``postgres`` system user when
we are root, since initdb refuses root), started on 127.0.0.1 on a free port, and removed at
the end of the session. If neither is possible the PostgreSQL tests fail when ``CI`` is set
and are skipped otherwise.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgechain.views import KeyValueStore, MemoryStore, PostgresStore, SqliteStore

STORE_KINDS = ["memory", "sqlite", "postgres"]
PERSISTENT_STORE_KINDS = ["sqlite", "postgres"]


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests cannot run: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this is a failure)")
    pytest.skip(message)


def _find_postgres_binaries() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_user() -> str | None:
    """The user to run initdb/postgres as: ourselves, or ``postgres`` (created if missing) when root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "postgres"], check=True, timeout=60
        )
    return "postgres"


def _wait_until_ready(dsn: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited early: {log_path.read_text(errors='replace')}")
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg 3 is not installed (pip install 'edgechain[postgres]')")
        return
    configured = os.environ.get("EDGECHAIN_TEST_POSTGRES")
    if configured:
        yield configured
        return
    binaries = _find_postgres_binaries()
    if binaries is None:
        _unavailable("EDGECHAIN_TEST_POSTGRES is not set and no initdb was found")
        return
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="edgechain-pg-"))
    data_dir, socket_dir, log_path = root / "data", root / "socket", root / "server.log"
    socket_dir.mkdir()
    if user is not None:
        for path in (root, socket_dir):
            shutil.chown(path, user=user, group=pwd.getpwnam(user).pw_gid)
    os.chmod(root, 0o700)
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data_dir), "-U", "edgechain",
             "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
            user=user, check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        port = _free_port()
        with open(log_path, "wb") as log_file:
            server = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data_dir), "-p", str(port),
                 "-h", "127.0.0.1", "-k", str(socket_dir),
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                user=user, stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        dsn = f"postgresql://edgechain@127.0.0.1:{port}/postgres"
        _wait_until_ready(dsn, server, log_path)
    except (OSError, subprocess.SubprocessError, RuntimeError, psycopg.Error) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"could not start a local server with {binaries}: {exc} {detail!r}")
        return
    try:
        yield dsn
    finally:
        server.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _unique_namespace() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


StoreOpener = Callable[[], KeyValueStore]


@pytest.fixture(params=PERSISTENT_STORE_KINDS)
def store_opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """A function that opens (again) the same persistent store: to test close and reopen."""
    opened: list[KeyValueStore] = []
    if request.param == "sqlite":
        database = tmp_path / "store.db"

        def open_sqlite() -> KeyValueStore:
            opened.append(SqliteStore(database))
            return opened[-1]

        yield open_sqlite
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        namespace = _unique_namespace()

        def open_postgres() -> KeyValueStore:
            opened.append(PostgresStore(dsn, namespace))
            return opened[-1]

        yield open_postgres
        cleaner = PostgresStore(dsn, namespace)
        cleaner.drop_namespace()
        cleaner.close()
    for kv_store in opened:
        kv_store.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    kv_store: KeyValueStore
    if request.param == "memory":
        kv_store = MemoryStore()
    elif request.param == "sqlite":
        kv_store = SqliteStore(tmp_path / "store.db")
    else:
        postgres_store = PostgresStore(request.getfixturevalue("postgres_dsn"), _unique_namespace())
        yield postgres_store
        postgres_store.drop_namespace()
        postgres_store.close()
        return
    yield kv_store
    kv_store.close()
