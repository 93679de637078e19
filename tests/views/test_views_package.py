from __future__ import annotations

import edgechain.views as views


def test_all_names_exist_and_are_exported() -> None:
    for name in views.__all__:
        assert getattr(views, name) is not None, name
    assert sorted(views.__all__) == views.__all__
