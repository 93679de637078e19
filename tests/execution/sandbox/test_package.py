"""The sandbox package's public surface."""

from __future__ import annotations

import edgechain.execution.sandbox as sandbox


def test_public_names_exist_and_are_documented() -> None:
    for name in sandbox.__all__:
        assert hasattr(sandbox, name), name
        assert getattr(sandbox, name).__doc__, name
    assert sorted(sandbox.__all__) == sandbox.__all__


def test_package_docstring_states_the_rules() -> None:
    rules = sandbox.__doc__ or ""
    for heading in (
        "**Allowed.**",
        "**Refused at compilation**",
        "**Refused at run time**",
        "**Fuel**",
    ):
        assert heading in rules
