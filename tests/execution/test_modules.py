"""Packing application directories into bytecode blobs: deterministic, checked on unpacking."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgechain.base.identifiers import BlobType
from edgechain.execution import ApplicationDescription
from edgechain.execution.errors import InvalidModule
from edgechain.execution.modules import (
    pack_application,
    pack_application_sources,
    pack_sources,
    read_application_sources,
    unpack_sources,
)

COUNTER = Path(__file__).resolve().parents[2] / "apps" / "counter"


def test_packing_is_deterministic_and_splits_contract_from_service(tmp_path: Path) -> None:
    module = pack_application(COUNTER)
    assert module.contract.blob_type == BlobType.CONTRACT_BYTECODE
    assert module.service.blob_type == BlobType.SERVICE_BYTECODE
    contract = unpack_sources(module.contract.content, BlobType.CONTRACT_BYTECODE)
    service = unpack_sources(module.service.content, BlobType.SERVICE_BYTECODE)
    assert sorted(contract) == ["abi", "contract", "state"]
    assert sorted(service) == ["abi", "service", "state"]
    copy = tmp_path / "counter"
    copy.mkdir()
    for name, source in reversed(list(read_application_sources(COUNTER).items())):
        (copy / f"{name}.py").write_text(source)
    assert pack_application(copy).module_id == module.module_id
    changed = read_application_sources(COUNTER) | {"service": "# another service\n"}
    other = pack_application_sources(changed)
    assert other.module_id.contract_blob_hash == module.module_id.contract_blob_hash
    assert other.module_id.service_blob_hash != module.module_id.service_blob_hash


def test_bad_packs_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidModule, match="not a packed module"):
        unpack_sources(b"garbage", BlobType.CONTRACT_BYTECODE)
    service_pack = pack_sources({"abi": "", "service": "", "state": ""})
    with pytest.raises(InvalidModule, match="expected"):
        unpack_sources(service_pack, BlobType.CONTRACT_BYTECODE)
    with pytest.raises(InvalidModule, match=r"no abi\.py"):
        pack_application(tmp_path)


def test_application_id_depends_on_every_field_of_the_description() -> None:
    module = pack_application(COUNTER)
    from edgechain.base.identifiers import ChainId
    from edgechain.base.values import BlockHeight

    base = ApplicationDescription(module.module_id, ChainId.root(1), BlockHeight(3), 0, b"", [])
    variants = [
        ApplicationDescription(module.module_id, ChainId.root(2), BlockHeight(3), 0, b"", []),
        ApplicationDescription(module.module_id, ChainId.root(1), BlockHeight(4), 0, b"", []),
        ApplicationDescription(module.module_id, ChainId.root(1), BlockHeight(3), 1, b"", []),
        ApplicationDescription(module.module_id, ChainId.root(1), BlockHeight(3), 0, b"\x01", []),
        ApplicationDescription(
            module.module_id, ChainId.root(1), BlockHeight(3), 0, b"", [base.application_id()]
        ),
    ]
    ids = {variant.application_id() for variant in variants} | {base.application_id()}
    assert len(ids) == 6
