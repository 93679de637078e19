"""The SDK's public surface: documented names, importable from contracts' allow-list."""

from __future__ import annotations

import edgechain.sdk as sdk
import edgechain.sdk.views as views


def test_public_names_exist_are_documented_and_sorted() -> None:
    for module in (sdk, views):
        for name in module.__all__:
            assert getattr(module, name).__doc__, name
        assert sorted(module.__all__) == module.__all__


def test_the_runtime_protocols_are_the_execution_layers() -> None:
    from edgechain.execution.runtime import ContractRuntime, ServiceRuntime

    assert sdk.ContractRuntime is ContractRuntime and sdk.ServiceRuntime is ServiceRuntime
    assert not any(hasattr(ServiceRuntime, name) for name in ("send_message", "transfer"))
