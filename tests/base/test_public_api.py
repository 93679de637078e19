"""The base package's public names are exactly what `__all__` promises."""

from __future__ import annotations

import edgechain.base


def test_every_exported_name_exists_and_nothing_private_is_exported() -> None:
    for name in edgechain.base.__all__:
        assert hasattr(edgechain.base, name), name
        assert not name.startswith("_")
    assert sorted(edgechain.base.__all__) == list(edgechain.base.__all__)
