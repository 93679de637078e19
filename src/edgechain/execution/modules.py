"""Application modules: an application directory packed deterministically into two bytecode blobs.

An application directory holds ``contract.py``, ``service.py``, ``state.py`` and ``abi.py``.
The *contract* blob packs ``contract.py``, ``state.py`` and ``abi.py``; the *service* blob
packs ``service.py``, ``state.py`` and ``abi.py``. A pack is the canonical encoding of the
``(module name, source text)`` pairs sorted by name, so the same sources always give the
same bytes, the same blob ids and the same ``ModuleId`` on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgechain.base.blobs import Blob
from edgechain.base.encoding import decode, encode
from edgechain.base.errors import EncodingError
from edgechain.base.identifiers import BlobType, ModuleId
from edgechain.execution.errors import InvalidModule

CONTRACT_MODULES = ("abi", "contract", "state")
"""The modules packed into a contract blob (``contract`` is its entry point)."""
SERVICE_MODULES = ("abi", "service", "state")
"""The modules packed into a service blob (``service`` is its entry point)."""

PackedSources = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ApplicationModule:
    """An application's packed contract and service, ready to publish."""

    contract: Blob
    """The contract bytecode blob (``BlobType.CONTRACT_BYTECODE``)."""
    service: Blob
    """The service bytecode blob (``BlobType.SERVICE_BYTECODE``)."""

    @property
    def module_id(self) -> ModuleId:
        """The module's id: the hashes of its two blobs."""
        return ModuleId(self.contract.id.hash, self.service.id.hash)

    @property
    def blobs(self) -> list[Blob]:
        """Both blobs, contract first (what a ``PublishModule`` block carries)."""
        return [self.contract, self.service]


def pack_sources(sources: dict[str, str]) -> bytes:
    """The canonical bytes of ``{module name: source}`` (sorted by name)."""
    return encode(sorted(sources.items()), PackedSources)


def unpack_sources(content: bytes, blob_type: BlobType) -> dict[str, str]:
    """The modules packed in a bytecode blob; raise InvalidModule if it is not a valid pack."""
    expected = CONTRACT_MODULES if blob_type == BlobType.CONTRACT_BYTECODE else SERVICE_MODULES
    try:
        pairs: PackedSources = decode(content, PackedSources)
    except EncodingError as error:
        raise InvalidModule(
            f"{blob_type.name.lower()} blob is not a packed module: {error}"
        ) from error
    names = tuple(name for name, _ in pairs)
    if names != expected:
        raise InvalidModule(
            f"{blob_type.name.lower()} blob packs modules {list(names)}; expected {list(expected)}"
        )
    return dict(pairs)


def read_application_sources(directory: Path | str) -> dict[str, str]:
    """The four source files of an application directory, by module name."""
    root = Path(directory)
    sources: dict[str, str] = {}
    for name in sorted({*CONTRACT_MODULES, *SERVICE_MODULES}):
        path = root / f"{name}.py"
        if not path.is_file():
            raise InvalidModule(f"application directory {root} has no {name}.py")
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def pack_application(directory: Path | str) -> ApplicationModule:
    """Pack an application directory into its contract and service blobs."""
    return pack_application_sources(read_application_sources(directory))


def pack_application_sources(sources: dict[str, str]) -> ApplicationModule:
    """Pack ``{"contract": …, "service": …, "state": …, "abi": …}`` into the two blobs."""
    missing = sorted({*CONTRACT_MODULES, *SERVICE_MODULES} - sources.keys())
    if missing:
        raise InvalidModule(f"application sources lack {missing}")
    contract = {name: sources[name] for name in CONTRACT_MODULES}
    service = {name: sources[name] for name in SERVICE_MODULES}
    return ApplicationModule(
        contract=Blob(BlobType.CONTRACT_BYTECODE, pack_sources(contract)),
        service=Blob(BlobType.SERVICE_BYTECODE, pack_sources(service)),
    )
