"""Client-side application work: publish a module, create an application, encode JSON
arguments for an ABI, and answer a service query from a followed chain's local state."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from edgechain.base.encoding import encode
from edgechain.base.errors import EncodingError
from edgechain.base.identifiers import ApplicationId, ChainId, ModuleId
from edgechain.base.values import Timestamp
from edgechain.chain.certificate import Certificate
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError
from edgechain.core.follower import ChainFollower
from edgechain.execution.applications import ApplicationDescription
from edgechain.execution.modules import (
    ApplicationModule,
    pack_application,
    read_application_sources,
)
from edgechain.execution.operations import (
    CreateApplication,
    Operation,
    PublishModule,
    UserOperation,
)
from edgechain.execution.service_runtime import (
    ServiceConfig,
    ServiceContext,
    import_application_sources,
    query_service,
)


async def publish_module(client: ChainClient, module: ApplicationModule) -> tuple[ModuleId, Certificate]:
    """Publish a module (its contract and service blobs travel with the block)."""
    module_id = module.module_id
    certificate = await client.execute_operations([PublishModule(module_id)], blobs=module.blobs)
    return module_id, certificate


async def create_application(
    client: ChainClient,
    module_id: ModuleId,
    parameters: bytes,
    argument: bytes,
    required_application_ids: list[ApplicationId] | None = None,
) -> tuple[ApplicationId, Certificate]:
    """Create an application on the client's chain; its id and the creating block's certificate."""
    required = list(required_application_ids or [])
    operations: list[Operation] = [CreateApplication(module_id, parameters, argument, required)]
    certificate = await client.execute_operations(operations)
    block = certificate.executed_block.block
    description = ApplicationDescription(
        module_id, block.chain_id, block.height, 0, parameters, required
    )
    return description.application_id(), certificate


def application_abi(directory: Path) -> Any:
    """The `Abi` subclass an application directory's ``abi.py`` defines."""
    package = import_application_sources(read_application_sources(directory))
    abi_module = getattr(package, "abi", None)
    if abi_module is None:
        raise ClientError(f"{directory} has no abi.py")
    found = [
        value for value in vars(abi_module).values()
        if isinstance(value, type) and value.__module__ == abi_module.__name__
        and hasattr(value, "InstantiationArgument") and hasattr(value, "Operation")
    ]  # fmt: skip
    if len(found) != 1:
        raise ClientError(f"{directory}/abi.py must define exactly one Abi subclass")
    return found[0]


def encode_json(value: Any, value_type: Any, what: str) -> bytes:
    """Canonical bytes of a JSON value read as ``value_type`` (objects become dataclasses)."""
    try:
        return encode(_from_json(value, value_type), value_type)
    except (EncodingError, TypeError, ValueError) as exc:
        raise ClientError(f"{what} {value!r} is not a {getattr(value_type, '__name__', value_type)}: {exc}") from exc


def _from_json(value: Any, value_type: Any) -> Any:
    if isinstance(value_type, type) and dataclasses.is_dataclass(value_type) and isinstance(value, dict):
        hints = typing.get_type_hints(value_type)
        return value_type(**{name: _from_json(item, hints.get(name, Any)) for name, item in value.items()})
    origin = typing.get_origin(value_type)
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(value_type)
        return [_from_json(item, item_type) for item in value]
    return value


def pack(directory: Path) -> ApplicationModule:
    return pack_application(directory)


async def query_application(
    follower: ChainFollower,
    chain_id: ChainId,
    application_id: ApplicationId,
    request: Any,
    config: ServiceConfig | None = None,
) -> tuple[Any, list[UserOperation]]:
    """Answer ``request`` with the application's service over the followed chain's latest
    state; also return the operations its mutations scheduled (to propose next)."""
    chain = await follower.follow(chain_id)
    system = chain.execution_state.system
    context = ServiceContext(
        state=chain.execution_state,
        chain_id=chain_id,
        system_time=Timestamp(system.timestamp.get().micros),
        next_block_height=chain.next_block_height(),
        blob_source=follower.storage,
        config=config or ServiceConfig.from_policy(follower.genesis.committee.policy),
    )
    answer = query_service(context, application_id, request)
    return answer, list(context.scheduled)
