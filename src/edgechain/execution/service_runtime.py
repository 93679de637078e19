"""Running an application's service: loading its package, the read-only `ServiceRuntimeImpl`, queries.

A service is ordinary Python on the user's own machine (it may import the ML stack), so it
is loaded with the normal import machinery from its service blob, as a package of its own
(``abi``, ``state``, ``service``; relative imports work). Its runtime reads the chain's state
through a read-only accountant (a write raises ``ServiceWriteAttempt``), collects the
operations that mutations schedule, memory-maps data blobs where the storage can, and
fetches URLs only from the hosts that ``ServiceConfig`` allows, with a size cap and timeout.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import itertools
import sys
import types
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EncodingError
from edgechain.base.identifiers import ApplicationId, BlobId, BlobType, ChainId
from edgechain.base.values import BlockHeight, Timestamp
from edgechain.execution.applications import (
    ApplicationDescription,
    ApplicationStorageView,
    service_blob_id,
)
from edgechain.execution.blobs import (
    DATA_BLOB_TYPES,
    BlobReader,
    blob_is_stored,
    stored_blob_size,
)
from edgechain.execution.errors import (
    BlobsNotFound,
    FetchRefused,
    InvalidApplicationData,
    InvalidModule,
    UnknownApplication,
)
from edgechain.execution.modules import unpack_sources
from edgechain.execution.operations import UserOperation
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.storage_access import ApplicationStorage, ReadOnlyAccountant
from edgechain.views.context import ViewContext
from edgechain.views.memory_store import MemoryStore

MAX_QUERY_DEPTH = 8
"""Deepest chain of ``query_application`` calls between services."""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """What the node lets services do beyond reading state (from the node's configuration)."""

    allowed_hosts: tuple[str, ...] = ()
    """Hosts (``example.com`` or ``127.0.0.1:8080``) that ``fetch_url`` may contact; empty: none."""
    max_response_bytes: int = 16 * 1024 * 1024
    """Largest response body ``fetch_url`` accepts."""
    timeout_seconds: float = 10.0
    """Longest ``fetch_url`` may wait (connect, and each read)."""
    transport: httpx.BaseTransport | None = field(default=None, compare=False)
    """An httpx transport to use instead of the network (tests)."""

    @classmethod
    def from_policy(
        cls, policy: ResourceControlPolicy, allowed_hosts: Sequence[str] = ()
    ) -> ServiceConfig:
        """A configuration whose size cap and timeout are the committee policy's."""
        return cls(
            allowed_hosts=tuple(allowed_hosts),
            max_response_bytes=policy.maximum_http_response_bytes,
            timeout_seconds=policy.http_request_timeout_ms / 1000,
        )


# -- loading service packages --------------------------------------------------------------

_package_numbers = itertools.count()


class _ServicePackageFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the modules of loaded service packages (``edgechain_service_N.abi`` …) in memory."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.sources:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=f"<service>/{fullname}")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        source = self.sources[module.__name__]
        code = compile(source, f"<service>/{module.__name__.replace('.', '/')}.py", "exec")
        exec(code, module.__dict__)


_finder = _ServicePackageFinder()
sys.meta_path.append(_finder)
_service_packages: dict[CryptoHash, types.ModuleType] = {}


def load_service_module(content: bytes, blob_hash: CryptoHash) -> types.ModuleType:
    """The ``service`` module of a service blob, imported as a package of its own (cached)."""
    module = _service_packages.get(blob_hash)
    if module is not None:
        return module
    sources = unpack_sources(content, BlobType.SERVICE_BYTECODE)
    package_name = f"edgechain_service_{next(_package_numbers)}"
    package = types.ModuleType(package_name)
    package.__path__ = []
    package.__package__ = package_name
    sys.modules[package_name] = package
    for name, source in sources.items():
        _finder.sources[f"{package_name}.{name}"] = source
    module = importlib.import_module(f"{package_name}.service")
    _service_packages[blob_hash] = module
    return module


def import_application_sources(sources: dict[str, str]) -> types.ModuleType:
    """Import an application's modules (``abi``, ``state``, …) as ordinary Python, as a fresh
    package; its submodules are attributes once imported (``package.abi``). For clients and
    tests, which need the ABI types to encode operations."""
    package_name = f"edgechain_application_{next(_package_numbers)}"
    package = types.ModuleType(package_name)
    package.__path__ = []
    package.__package__ = package_name
    sys.modules[package_name] = package
    for name, source in sources.items():
        _finder.sources[f"{package_name}.{name}"] = source
    for name in sorted(sources):
        setattr(package, name, importlib.import_module(f"{package_name}.{name}"))
    return package


def find_service_class(module: types.ModuleType) -> Any:
    """The one class ``service.py`` defines with ``new`` and ``handle_query``."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and callable(getattr(value, "new", None))
        and callable(getattr(value, "handle_query", None))
    ]
    if len(found) != 1:
        raise InvalidModule(
            f"service.py must define exactly one Service subclass; found {len(found)}"
        )
    return found[0]


# -- the runtime ---------------------------------------------------------------------------


@dataclass(slots=True)
class ServiceContext:
    """Everything the services of one chain share while answering a query."""

    state: Any
    """The chain's `ExecutionStateView` at its latest block (read-only: never saved)."""
    chain_id: ChainId
    """The chain."""
    system_time: Timestamp
    """The latest block's timestamp."""
    next_block_height: BlockHeight
    """The height of the chain's next block."""
    blob_source: BlobReader | None
    """Where blobs are read (a `Storage`)."""
    config: ServiceConfig
    """The node's service configuration."""
    scheduled: list[UserOperation] = field(default_factory=list)
    """Operations scheduled by mutations, to propose in the next block."""
    depth: int = 0
    """Current nesting of ``query_application``."""


class ServiceRuntimeImpl:
    """The `ServiceRuntime` of one application answering one query; it cannot write."""

    def __init__(self, context: ServiceContext, application_id: ApplicationId, abi: Any) -> None:
        self._context = context
        self._application_id = application_id
        self._abi = abi
        description = context.state.applications.get(application_id)
        if description is None:
            raise UnknownApplication(
                f"application {application_id} is not known on chain {context.chain_id}"
            )
        self._description: ApplicationDescription = description
        view = context.state.application_states.try_load_entry(application_id)
        if view is None:
            view = ApplicationStorageView(ViewContext(MemoryStore(), b""))
        where = f"service of application {application_id} on chain {context.chain_id}"
        self._storage = ApplicationStorage(view, ReadOnlyAccountant(where))

    def chain_id(self) -> ChainId:
        return self._context.chain_id

    def application_id(self) -> ApplicationId:
        return self._application_id

    def application_parameters(self) -> Any:
        try:
            return decode(self._description.parameters, self._abi.Parameters)
        except EncodingError as error:
            raise InvalidApplicationData(f"parameters do not decode: {error}") from error

    def system_time(self) -> Timestamp:
        return self._context.system_time

    def next_block_height(self) -> BlockHeight:
        return self._context.next_block_height

    def schedule_operation(self, operation: Any) -> None:
        try:
            payload = encode(operation, self._abi.Operation)
        except EncodingError as error:
            raise InvalidApplicationData(f"scheduled operation does not encode: {error}") from error
        self._context.scheduled.append(UserOperation(self._application_id, payload))

    def read_data_blob(self, blob_id: BlobId) -> bytes | memoryview:
        if not isinstance(blob_id, BlobId) or blob_id.blob_type not in DATA_BLOB_TYPES:
            raise InvalidApplicationData(
                f"read_data_blob needs a data or manifest blob id, got {blob_id!r}"
            )
        return read_stored_blob(self._context.blob_source, blob_id, mapped=True)

    def fetch_url(self, url: str) -> bytes:
        return fetch_url(url, self._context.config)

    def query_application(self, application_id: ApplicationId, request: Any) -> Any:
        context = self._context
        if context.depth >= MAX_QUERY_DEPTH:
            raise FetchRefused(f"query_application nested deeper than {MAX_QUERY_DEPTH}")
        context.depth += 1
        try:
            return query_service(context, application_id, request)
        finally:
            context.depth -= 1


def read_stored_blob(
    source: BlobReader | None, blob_id: BlobId, *, mapped: bool
) -> bytes | memoryview:
    """The bytes of a blob the node stores: a read-only memory map where ``mapped`` and the
    storage (or its ``blob_store``) can ``open_blob``, else its content.

    BlobsNotFound when the node does not store it (checked first, with the storage's
    ``contains_blob`` or ``missing_blobs``); the storage's own errors, such as a blob whose
    file fails its hash, pass through as they are.
    """
    if source is None or not _is_stored(source, blob_id):
        raise BlobsNotFound([blob_id])
    if mapped and stored_blob_size(source, blob_id) != 0:  # an empty file cannot be mapped
        for owner in (source, getattr(source, "blob_store", None)):
            open_blob = getattr(owner, "open_blob", None)
            if callable(open_blob):
                return memoryview(open_blob(blob_id))
    return source.read_blob(blob_id).content


def _is_stored(source: BlobReader, blob_id: BlobId) -> bool:
    stored = blob_is_stored(source, blob_id)
    if stored is not None:
        return stored
    missing_blobs = getattr(source, "missing_blobs", None)
    if callable(missing_blobs):
        return not list(missing_blobs([blob_id]))
    return True  # a reader that cannot tell: its read_blob decides


def fetch_url(url: str, config: ServiceConfig) -> bytes:
    """GET ``url`` if its host is allowed; refuse oversize, slow or failing responses."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"fetch_url({url!r}): only http and https URLs are fetched")
    host = (parsed.hostname or "").lower()
    host_port = f"{host}:{parsed.port}" if parsed.port is not None else host
    allowed = {entry.lower() for entry in config.allowed_hosts}
    if host not in allowed and host_port not in allowed:
        raise FetchRefused(
            f"fetch_url: host {host_port!r} is not on the allow-list"
            f" ({sorted(allowed) if allowed else 'empty: no host is allowed'})"
        )
    limit = config.max_response_bytes
    try:
        with (
            httpx.Client(
                timeout=config.timeout_seconds, follow_redirects=False, transport=config.transport
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchRefused(
                    f"fetch_url: host {host_port!r} answered HTTP {response.status_code} for {url}"
                )
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise FetchRefused(
                    f"fetch_url: host {host_port!r} announces {declared} bytes; the cap is {limit}"
                )
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > limit:
                    raise FetchRefused(
                        f"fetch_url: response from host {host_port!r} exceeds the cap of {limit} bytes"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as error:
        raise FetchRefused(
            f"fetch_url: host {host_port!r} did not answer within {config.timeout_seconds} s"
        ) from error
    except httpx.HTTPError as error:
        raise FetchRefused(f"fetch_url: request to host {host_port!r} failed: {error}") from error


def query_service(context: ServiceContext, application_id: ApplicationId, request: Any) -> Any:
    """Load the application's service over ``context`` and answer ``request``."""
    description = context.state.applications.get(application_id)
    if description is None:
        raise UnknownApplication(
            f"application {application_id} is not known on chain {context.chain_id}"
        )
    blob_id = service_blob_id(description.module_id)
    content = bytes(read_stored_blob(context.blob_source, blob_id, mapped=False))
    module = load_service_module(content, blob_id.hash)
    service_class = find_service_class(module)
    runtime = ServiceRuntimeImpl(context, application_id, service_class.abi)
    service = service_class.new(runtime)
    return service.handle_query(request)
