"""Service runtime: fetch_url allow-list, size cap and timeout against a local HTTP server."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from probe_app import SOURCES

from edgechain.execution.errors import FetchRefused
from edgechain.execution.modules import pack_application_sources
from edgechain.execution.service_runtime import ServiceConfig, fetch_url, import_application_sources
from edgechain.testing import ApplicationTester


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"x" * 5000 if self.path == "/big" else b"hello from the edge"
        status = 404 if self.path == "/missing" else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_allowed_host_is_fetched(server: str) -> None:
    config = ServiceConfig(allowed_hosts=("127.0.0.1",))
    assert fetch_url(f"http://{server}/hello", config) == b"hello from the edge"
    config_with_port = ServiceConfig(allowed_hosts=(server,))
    assert fetch_url(f"http://{server}/hello", config_with_port) == b"hello from the edge"


def test_host_not_on_the_allow_list_is_refused_with_its_name(server: str) -> None:
    with pytest.raises(FetchRefused, match=r"host 'localhost:\d+' is not on the allow-list"):
        fetch_url(f"http://localhost:{server.split(':')[1]}/hello", ServiceConfig(("127.0.0.1:1",)))
    with pytest.raises(FetchRefused, match="empty: no host is allowed"):
        fetch_url(f"http://{server}/hello", ServiceConfig())
    with pytest.raises(FetchRefused, match="only http and https"):
        fetch_url("file:///etc/passwd", ServiceConfig(("127.0.0.1",)))


def test_oversize_and_failing_responses_are_refused(server: str) -> None:
    config = ServiceConfig(allowed_hosts=("127.0.0.1",), max_response_bytes=1000)
    with pytest.raises(FetchRefused, match="1000"):
        fetch_url(f"http://{server}/big", config)
    with pytest.raises(FetchRefused, match="HTTP 404"):
        fetch_url(f"http://{server}/missing", config)


def test_timeout_is_refused_and_names_the_host() -> None:
    listener = __import__("socket").socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        config = ServiceConfig(allowed_hosts=("127.0.0.1",), timeout_seconds=0.3)
        with pytest.raises(FetchRefused, match=f"127.0.0.1:{port}.*did not answer"):
            fetch_url(f"http://127.0.0.1:{port}/slow", config)
    finally:
        listener.close()


def test_a_service_query_fetches_through_its_runtime(server: str) -> None:
    abi = import_application_sources(SOURCES).abi

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(pack_application_sources(SOURCES))
        app = await tester.create_application(module_id, abi=abi.ProbeAbi, argument=0, parameters=0)
        allowed = tester.query(app, f'query {{ fetch(url: "http://{server}/hello") }}')
        assert allowed == {"data": {"fetch": "hello from the edge"}}
        tester.service_config = ServiceConfig()
        refused = tester.query(app, f'query {{ fetch(url: "http://{server}/hello") }}')
        assert "not on the allow-list" in refused["errors"][0]["message"]

    tester = ApplicationTester.create(
        validators=1, users=1, service_config=ServiceConfig(allowed_hosts=("127.0.0.1",))
    )
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def test_service_runtime_facts_blobs_and_queries_of_other_applications(tmp_path: Path) -> None:
    from edgechain.execution.service_runtime import ServiceRuntimeImpl

    abi = import_application_sources(SOURCES).abi
    content = b"weights " * 1000

    async def scenario(tester: ApplicationTester) -> None:
        module_id = await tester.publish_module(pack_application_sources(SOURCES))
        first = await tester.create_application(
            module_id, abi=abi.ProbeAbi, argument=1, parameters=0
        )
        second = await tester.create_application(
            module_id, abi=abi.ProbeAbi, argument=40, parameters=2
        )
        blob_id, certificate = await tester.clients[0].publish_data_blob(content)
        context = tester.service_context()
        runtime = ServiceRuntimeImpl(context, first, abi.ProbeAbi)
        assert runtime.chain_id() == tester.chain_id()
        assert runtime.application_id() == first
        assert runtime.system_time() == certificate.value.executed_block.block.timestamp
        assert runtime.next_block_height() == certificate.value.executed_block.block.height.next()
        blob = runtime.read_data_blob(blob_id)
        assert isinstance(blob, memoryview), "memory-mapped from the blob store"
        assert bytes(blob) == content
        answer = runtime.query_application(second, "query { total parameters }")
        assert answer == {"data": {"total": 42, "parameters": 2}}
        runtime.schedule_operation(abi.Add(1))
        assert [operation.application_id for operation in context.scheduled] == [first]

    tester = ApplicationTester.create(validators=1, users=1, directory=str(tmp_path))
    try:
        asyncio.run(scenario(tester))
    finally:
        tester.close()


def test_a_service_reads_only_data_blobs_and_sees_a_corrupt_blob_as_corrupt(
    tmp_path: Path,
) -> None:
    from block_harness import HERE, PROBE, PROBE_MODULE, Chain, MemoryBlobs

    from edgechain.base import BlockHeight, Timestamp
    from edgechain.base.blobs import Blob
    from edgechain.execution.errors import BlobsNotFound, InvalidApplicationData
    from edgechain.execution.service_runtime import ServiceContext, ServiceRuntimeImpl
    from edgechain.storage.blob_store import BlobStore
    from edgechain.storage.db_storage import DbStorage
    from edgechain.storage.errors import CorruptBlob
    from edgechain.views import MemoryStore

    chain = Chain()
    chain.publish(PROBE_MODULE, MemoryBlobs(PROBE_MODULE.blobs))
    app = chain.create(PROBE_MODULE, MemoryBlobs(PROBE_MODULE.blobs))
    storage = DbStorage(MemoryStore(), BlobStore(tmp_path, durable=False))
    model, empty, damaged = Blob.data(b"w" * 100), Blob.data(b""), Blob.data(b"d" * 100)
    for blob in (*PROBE_MODULE.blobs, model, empty, damaged):
        storage.write_blob(blob)
    context = ServiceContext(
        chain.state, HERE, Timestamp(0),
        BlockHeight(9), storage, ServiceConfig(),
    )  # fmt: skip
    runtime = ServiceRuntimeImpl(context, app, PROBE.ProbeAbi)

    assert bytes(runtime.read_data_blob(model.id)) == model.content
    assert bytes(runtime.read_data_blob(empty.id)) == b""
    with pytest.raises(InvalidApplicationData, match="data or manifest blob id"):
        runtime.read_data_blob(PROBE_MODULE.contract.id)
    with pytest.raises(BlobsNotFound):
        runtime.read_data_blob(Blob.data(b"never stored").id)
    assert storage.blob_store is not None
    storage.blob_store.blob_path(damaged.id).write_bytes(b"x" * 100)
    with pytest.raises(CorruptBlob):
        runtime.read_data_blob(damaged.id)
