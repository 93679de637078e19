"""Test helpers for applications: run an application on an in-process `LocalNetwork`.

    tester = ApplicationTester.create(validators=4, users=2)
    module_id = await tester.publish_module("apps/counter")
    app = await tester.create_application(module_id, argument=0, abi=CounterAbi)
    await tester.execute_operation(app, Increment(3), abi=CounterAbi)
    tester.query(app, "query { value }")            # {"data": {"value": 3}}
    await tester.mutate(app, "mutation { increment(value: 2) }")

Every block goes through the real client, validators, certificates and storage; queries run
the application's service over validator 0's stored state (a scratch copy, never saved).
This module sits outside ``edgechain.sdk`` because it needs ``edgechain.core``.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgechain.base.blobs import Blob
from edgechain.base.encoding import encode
from edgechain.base.identifiers import ApplicationId, ChainId, ModuleId
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView
from edgechain.core.client import ChainClient
from edgechain.core.network import LocalNetwork
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
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.service_runtime import (
    ServiceConfig,
    ServiceContext,
    import_application_sources,
    query_service,
)


def import_application(directory: Path | str) -> types.ModuleType:
    """Import an application directory as a package (``app.abi.Increment``, ``app.abi.CounterAbi``)."""
    return import_application_sources(read_application_sources(directory))


class ApplicationTester:
    """A local network (validators and user chains) with one client per user chain."""

    def __init__(self, network: LocalNetwork, service_config: ServiceConfig | None = None) -> None:
        self.network = network
        """The validators, their storage and the genesis chains."""
        self.clients: list[ChainClient] = [
            network.client(index) for index in range(len(network.user_keys))
        ]
        """One client per user chain (user ``i`` owns ``network.user_chain_ids[i]``)."""
        self.service_config = service_config or ServiceConfig()
        """What services may fetch."""

    @classmethod
    def create(
        cls,
        validators: int = 4,
        users: int = 2,
        policy: ResourceControlPolicy | None = None,
        service_config: ServiceConfig | None = None,
        directory: Path | str | None = None,
    ) -> ApplicationTester:
        """A fresh network with ``validators`` validators and ``users`` user chains."""
        network = LocalNetwork.create(
            validator_count=validators, user_chain_count=users, policy=policy, directory=directory
        )
        return cls(network, service_config)

    def close(self) -> None:
        """Close the validators' storage."""
        self.network.close()

    def chain_id(self, user: int = 0) -> ChainId:
        """The chain of user ``user``."""
        return self.network.user_chain_ids[user]

    # -- blocks

    async def execute_operations(
        self, operations: list[Operation], *, user: int = 0, blobs: Sequence[Blob] = ()
    ) -> Certificate:
        """Propose and certify a block of ``operations`` on user ``user``'s chain."""
        return await self.clients[user].execute_operations(operations, blobs=blobs)

    async def publish_module(
        self, directory: Path | str | ApplicationModule, *, user: int = 0
    ) -> ModuleId:
        """Pack an application directory and publish it; return its module id."""
        module = (
            directory if isinstance(directory, ApplicationModule) else pack_application(directory)
        )
        await self.execute_operations(
            [PublishModule(module.module_id)], user=user, blobs=module.blobs
        )
        return module.module_id

    async def create_application(
        self,
        module_id: ModuleId,
        *,
        abi: Any = None,
        parameters: Any = None,
        argument: Any = None,
        required: Sequence[ApplicationId] = (),
        user: int = 0,
    ) -> ApplicationId:
        """Create an application (encoding ``parameters``/``argument`` with ``abi``'s types)."""
        client = self.clients[user]
        parameter_bytes = encode(parameters, abi.Parameters if abi is not None else None)
        argument_bytes = encode(argument, abi.InstantiationArgument if abi is not None else None)
        description = ApplicationDescription(
            module_id=module_id,
            creator_chain_id=client.chain_id,
            block_height=client.next_block_height,
            operation_index=0,
            parameters=parameter_bytes,
            required_application_ids=list(required),
        )
        operation = CreateApplication(module_id, parameter_bytes, argument_bytes, list(required))
        await self.execute_operations([operation], user=user)
        return description.application_id()

    async def execute_operation(
        self, application_id: ApplicationId, operation: Any, *, abi: Any, user: int = 0
    ) -> Certificate:
        """Run one user operation (encoded as ``abi.Operation``) in a block of its own."""
        payload = encode(operation, abi.Operation)
        return await self.execute_operations([UserOperation(application_id, payload)], user=user)

    async def process_inbox(self, user: int = 0) -> Certificate | None:
        """Take every pending message bundle on user ``user``'s chain into a block."""
        return await self.clients[user].process_inbox()

    # -- services

    def chain_state(self, user: int = 0, validator: int = 0) -> ChainStateView:
        """A scratch copy of a chain's state as validator ``validator`` stores it."""
        return self.network.storages[validator].load_chain_scratch(self.chain_id(user))

    def service_context(self, user: int = 0, validator: int = 0) -> ServiceContext:
        """What services of user ``user``'s chain see (validator ``validator``'s latest state)."""
        chain = self.chain_state(user, validator)
        system = chain.execution_state.system
        return ServiceContext(
            state=chain.execution_state,
            chain_id=self.chain_id(user),
            system_time=system.timestamp.get(),
            next_block_height=chain.tip_state.get().next_block_height,
            blob_source=self.network.storages[validator],
            config=self.service_config,
        )

    def query(
        self, application_id: ApplicationId, request: Any, *, user: int = 0, validator: int = 0
    ) -> Any:
        """Ask the application's service on user ``user``'s chain (no block is made)."""
        return query_service(self.service_context(user, validator), application_id, request)

    async def mutate(
        self, application_id: ApplicationId, request: Any, *, user: int = 0
    ) -> tuple[Any, Certificate | None]:
        """Run a query whose mutations schedule operations, then propose them in one block."""
        context = self.service_context(user)
        response = query_service(context, application_id, request)
        if not context.scheduled:
            return response, None
        certificate = await self.execute_operations(list[Operation](context.scheduled), user=user)
        return response, certificate
