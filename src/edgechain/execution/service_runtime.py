"""Running an application's service: loading its package, the read-only `ServiceRuntimeImpl`, queries.

A service is ordinary Python on the user's own machine (it may import the ML stack), so it
is loaded with the normal import machinery from its service blob, as a package of its own
(``abi``, ``state``, ``service``; relative imports work). Its runtime reads the chain's state
through a read-only accountant (a write raises ``ServiceWriteAttempt``), collects the
operations that mutations schedule, memory-maps data blobs where the storage can, maps
whole manifest files (``open_file``: the blob store's verified file, or, over key-value-only
storage, a verified temporary file assembled once per process), and fetches URLs only from
the hosts that ``ServiceConfig`` allows, with a size cap and timeout.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import itertools
import mmap
import os
import shutil
import sys
import tempfile
import threading
import types
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import httpx

from edgechain.base.blobs import (
    MAX_MANIFEST_DEPTH,
    ChunkLocation,
    Manifest,
    ManifestError,
    parse_manifest,
    walk_manifest_tree,
)
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
    FileNotOpened,
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

    def open_file(self, manifest_id: BlobId) -> mmap.mmap:
        if not isinstance(manifest_id, BlobId) or manifest_id.blob_type is not BlobType.MANIFEST:
            raise InvalidApplicationData(f"open_file needs a manifest blob id, got {manifest_id!r}")
        return open_stored_file(self._context.blob_source, manifest_id)

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


def open_stored_file(source: BlobReader | None, manifest_id: BlobId) -> mmap.mmap:
    """The whole file of a stored manifest as one read-only memory map.

    With a blob store (the storage's ``blob_store``, or the source itself offering
    ``open_file``) it is the store's verified file. Otherwise (key-value-only storage) the
    chunks are streamed, one at a time, into a temporary file while their ids, lengths and
    the file's BLAKE3 are checked, once per process; the file is mapped, never read whole.
    BlobsNotFound when the manifest or a chunk is not stored; FileNotOpened when the bytes
    do not make the file the manifest describes.
    """
    if source is None or not _is_stored(source, manifest_id):
        raise BlobsNotFound([manifest_id])
    for owner in (getattr(source, "blob_store", None), source):
        open_file = getattr(owner, "open_file", None)
        if callable(open_file):
            try:
                mapped: mmap.mmap = open_file(manifest_id)
            except ManifestError as error:
                raise FileNotOpened(f"file of manifest {manifest_id}: {error}") from error
            return mapped
    path = _assembled_files.path_of(source, manifest_id)
    with path.open("rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            raise FileNotOpened(f"file of manifest {manifest_id} is empty and cannot be mapped")
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


class _AssembledFiles:
    """Verified files assembled from key-value storage, one per manifest, in a temporary
    directory of this process (removed at exit)."""

    def __init__(self) -> None:
        self._paths: dict[BlobId, Path] = {}
        self._lock = threading.Lock()
        self._directory: Path | None = None

    def path_of(self, source: BlobReader, manifest_id: BlobId) -> Path:
        with self._lock:  # one assembly at a time; later callers find the file done
            path = self._paths.get(manifest_id)
            if path is not None and path.is_file():
                return path
            path = self._assemble(source, manifest_id)
            self._paths[manifest_id] = path
            return path

    def _temporary_directory(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="edgechain-service-files-"))
            atexit.register(shutil.rmtree, self._directory, ignore_errors=True)
        return self._directory

    def _assemble(self, source: BlobReader, manifest_id: BlobId) -> Path:
        def load(blob_id: BlobId) -> Manifest:
            return parse_manifest(_read_checked(source, blob_id, manifest_id))

        try:
            root = load(manifest_id)
            locations: Iterator[ChunkLocation] = walk_manifest_tree(
                manifest_id, load, MAX_MANIFEST_DEPTH
            )
            directory = self._temporary_directory()
            descriptor, name = tempfile.mkstemp(dir=directory, suffix=".partial")
            hasher = blake3.blake3()
            length = 0
            try:
                with os.fdopen(descriptor, "wb") as file:
                    for location in locations:
                        content = _read_checked(source, location.blob_id, manifest_id)
                        if len(content) != location.length:
                            raise FileNotOpened(
                                f"chunk {location.blob_id} at offset {location.offset} of manifest"
                                f" {manifest_id} has {len(content)} bytes; the manifest says"
                                f" {location.length}"
                            )
                        hasher.update(content)
                        file.write(content)
                        length += len(content)
                actual = CryptoHash(hasher.digest())
                if length != root.total_length or actual != root.file_hash:
                    raise FileNotOpened(
                        f"file of manifest {manifest_id}: {length} bytes of BLAKE3 {actual.hex()};"
                        f" the manifest says {root.total_length} bytes of {root.file_hash.hex()}"
                    )
                path = directory / root.file_hash.hex()
                os.replace(name, path)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
        except ManifestError as error:
            raise FileNotOpened(f"file of manifest {manifest_id}: {error}") from error
        return path


def _read_checked(source: BlobReader, blob_id: BlobId, manifest_id: BlobId) -> bytes:
    """A stored blob's bytes, checked against its id (key-value storage does not check)."""
    if not _is_stored(source, blob_id):
        raise BlobsNotFound([blob_id])
    content = source.read_blob(blob_id).content
    actual = BlobId.for_content(blob_id.blob_type, content)
    if actual != blob_id:
        raise FileNotOpened(
            f"blob {blob_id} of the file of manifest {manifest_id} is stored with bytes of id {actual}"
        )
    return bytes(content)


_assembled_files = _AssembledFiles()


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
    service_class = _service_class_of(context, application_id)
    runtime = ServiceRuntimeImpl(context, application_id, service_class.abi)
    service = service_class.new(runtime)
    return service.handle_query(request)


def service_streams(context: ServiceContext, application_id: ApplicationId) -> bool:
    """Whether the application's service offers ``handle_stream``."""
    return callable(getattr(_service_class_of(context, application_id), "handle_stream", None))


def open_service_stream(
    context: ServiceContext, application_id: ApplicationId, request: Any
) -> Iterator[str]:
    """Load the application's service over ``context`` and return its
    ``handle_stream(request)``: text pieces, produced as the iterator is consumed."""
    service_class = _service_class_of(context, application_id)
    if not callable(getattr(service_class, "handle_stream", None)):
        raise InvalidModule(f"the service of application {application_id} has no handle_stream")
    runtime = ServiceRuntimeImpl(context, application_id, service_class.abi)
    stream: Iterator[str] = iter(service_class.new(runtime).handle_stream(request))
    return stream


def _service_class_of(context: ServiceContext, application_id: ApplicationId) -> Any:
    description = context.state.applications.get(application_id)
    if description is None:
        raise UnknownApplication(
            f"application {application_id} is not known on chain {context.chain_id}"
        )
    blob_id = service_blob_id(description.module_id)
    content = bytes(read_stored_blob(context.blob_source, blob_id, mapped=False))
    return find_service_class(load_service_module(content, blob_id.hash))
