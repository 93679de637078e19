"""Fixtures for the views tests: every view test runs over each key-value store backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgechain.views import KeyValueStore, MemoryStore

STORE_KINDS = ["memory"]


def make_store(kind: str, tmp_path_factory: pytest.TempPathFactory) -> KeyValueStore:
    if kind == "memory":
        return MemoryStore()
    raise ValueError(kind)


@pytest.fixture(params=STORE_KINDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeyValueStore]:
    kv_store = make_store(request.param, tmp_path_factory)
    yield kv_store
    kv_store.close()
