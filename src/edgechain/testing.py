"""Test helpers for applications: run an application on an in-process `LocalNetwork`.

    tester = ApplicationTester.create(validators=4, users=2)
    module_id = await tester.publish_module("apps/counter")
    app = await tester.create_application(module_id, argument=0, abi=CounterAbi)
    await tester.execute_operation(app, Increment(3), abi=CounterAbi)
    tester.query(app, "query { value }")            # {"data": {"value": 3}}
    await tester.mutate(app, "mutation { increment(value: 2) }")

Every block goes through the real client, validators, certificates and storage; queries run
the application's service over validator 0's stored state (a scratch copy, never saved).
`PlainContractRunner` runs the same contract as plain Python (no sandbox, no fuel) on
in-memory state, to measure what metering costs. This module sits outside
``edgechain.sdk`` because it needs ``edgechain.core``.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgechain.base.blobs import Blob
from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, encode
from edgechain.base.identifiers import (
    Account,
    AccountOwner,
    ApplicationId,
    BlobId,
    ChainId,
    ModuleId,
)
from edgechain.base.values import Amount, BlockHeight, Timestamp
from edgechain.chain.certificate import Certificate
from edgechain.chain.state import ChainStateView
from edgechain.core.client import ChainClient
from edgechain.core.network import LocalNetwork
from edgechain.execution.applications import ApplicationDescription, ApplicationStorageView
from edgechain.execution.errors import InvalidModule, UnauthorizedOperation
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
from edgechain.execution.storage_access import ApplicationStorage
from edgechain.views.context import ViewContext
from edgechain.views.memory_store import MemoryStore


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


class _FreeAccountant:
    """Charges nothing (plain Python runs are not metered)."""

    def charge_state_read(self, size: int) -> None:
        return None

    def charge_state_write(self, size: int) -> None:
        return None


class PlainContractRunner:
    """Runs an application's contract as plain, unsandboxed, unmetered Python on in-memory state.

    For measuring what the sandbox and metering cost (the same contract, the same state
    layout, the same encodings of operations, without `ContractSandbox` or fuel), and for
    quick unit tests of contract logic. It implements the `ContractRuntime` calls that need
    no network: chain and block facts, parameters, permissions, ``send_message`` (collected
    in ``sent``); ``call_application``, ``transfer`` and blob reads raise
    ``NotImplementedError`` (use `ApplicationTester` for those).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        chain_id: ChainId | None = None,
        authenticated_owner: AccountOwner | None = None,
        parameters: Any = None,
    ) -> None:
        package = import_application(directory)
        self.abi_module = package.abi
        """The application's ``abi`` module (plain Python)."""
        self.contract_class = _find_plain_contract_class(package.contract)
        """The application's ``Contract`` subclass."""
        self._abi = self.contract_class.abi
        self._chain_id = chain_id or ChainId.root(0)
        self._owner = authenticated_owner
        self._parameters = encode(parameters, self._abi.Parameters)
        self._height = BlockHeight(0)
        self._storage = ApplicationStorage(
            ApplicationStorageView(ViewContext(MemoryStore(), b"plain")), _FreeAccountant()
        )
        self.sent: list[tuple[ChainId, Any]] = []
        """Messages the contract sent: (destination, message)."""

    # -- driving the contract (operations go through the ABI encoding, as on chain)

    def instantiate(self, argument: Any) -> None:
        """Run ``instantiate`` with ``argument`` (encoded and decoded as on chain)."""
        raw = encode(argument, self._abi.InstantiationArgument)
        contract = self.contract_class.load(self)
        contract.instantiate(decode(raw, self._abi.InstantiationArgument))
        contract.store()

    def execute_operation(self, operation: Any) -> Any:
        """Run ``execute_operation`` (encoded and decoded as on chain); return its response."""
        raw = encode(operation, self._abi.Operation)
        contract = self.contract_class.load(self)
        response = contract.execute_operation(decode(raw, self._abi.Operation))
        contract.store()
        return response

    def execute_message(self, message: Any) -> None:
        """Run ``execute_message`` (encoded and decoded as on chain)."""
        raw = encode(message, self._abi.Message)
        contract = self.contract_class.load(self)
        contract.execute_message(decode(raw, self._abi.Message))
        contract.store()

    # -- the ContractRuntime calls

    def chain_id(self) -> ChainId:
        return self._chain_id

    def block_height(self) -> BlockHeight:
        return self._height

    def system_time(self) -> Timestamp:
        return Timestamp(0)

    def authenticated_owner(self) -> AccountOwner | None:
        return self._owner

    def authenticated_caller_id(self) -> ApplicationId | None:
        return None

    def application_id(self) -> ApplicationId:
        return ApplicationId(CryptoHash.of_bytes(b"plain contract runner"))

    def application_creator_chain_id(self) -> ChainId:
        return self._chain_id

    def application_parameters(self) -> Any:
        return decode(self._parameters, self._abi.Parameters)

    def check_account_permission(self, owner: AccountOwner) -> None:
        if owner != self._owner:
            raise UnauthorizedOperation(f"{owner} did not authenticate this call")

    def send_message(
        self,
        destination: ChainId,
        message: Any,
        *,
        tracked: bool = False,
        authenticated: bool = False,
    ) -> None:
        encode(message, self._abi.Message)
        self.sent.append((destination, message))

    def message_is_bouncing(self) -> bool | None:
        return None

    def message_origin_chain_id(self) -> ChainId | None:
        return None

    def call_application(
        self, application_id: ApplicationId, operation: Any, *, authenticated: bool = False
    ) -> Any:
        raise NotImplementedError("PlainContractRunner runs one application: use ApplicationTester")

    def read_data_blob(self, blob_id: BlobId) -> bytes:
        raise NotImplementedError("PlainContractRunner has no blobs: use ApplicationTester")

    def assert_data_blob_exists(self, blob_id: BlobId) -> None:
        raise NotImplementedError("PlainContractRunner has no blobs: use ApplicationTester")

    def transfer(self, source: AccountOwner | None, destination: Account, amount: Amount) -> None:
        raise NotImplementedError("PlainContractRunner has no balances: use ApplicationTester")

    def remaining_fuel(self) -> int:
        return 0


def _find_plain_contract_class(module: types.ModuleType) -> Any:
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and callable(getattr(value, "execute_operation", None))
        and callable(getattr(value, "load", None))
    ]
    if len(found) != 1:
        raise InvalidModule(
            f"contract.py must define exactly one Contract subclass; found {len(found)}"
        )
    return found[0]
