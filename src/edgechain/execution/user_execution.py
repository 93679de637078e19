"""Executing user applications in one block: modules, application creation, operations, messages.

`UserExecution` lives for one block (like `SystemExecution`). It publishes modules (the
contract is checked by the sandbox's policy at publication), creates applications (running
``instantiate``), and runs user operations and messages as *transactions*: each has one
`FuelMeter` whose limit comes from the policy (per transaction, and what the block has
left), and every application it touches runs in that application's `ContractSandbox`
(loaded fresh for each block, so module-level objects never outlive a block) with a
`ContractRuntimeImpl` that charges before it acts. Any error fails the transaction, and
``execute_block`` then rolls back the whole block: nothing the contract wrote persists.

A blob this validator does not store (a data blob a contract reads, another application's
bytecode) depends on the validator, not on the chain: `BlobsNotFound` is then fatal to the
transaction (contract code cannot catch it), the block fails here and this validator does
not vote; the client uploads the blob and asks again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

import cbor2

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import decode, to_plain
from edgechain.base.errors import EdgechainError, EncodingError
from edgechain.base.identifiers import (
    Account,
    AccountOwner,
    ApplicationId,
    BlobId,
    BlobType,
    ChainId,
)
from edgechain.base.values import Amount, BlockHeight, Timestamp
from edgechain.execution.applications import (
    ApplicationDescription,
    contract_blob_id,
    service_blob_id,
)
from edgechain.execution.blobs import (
    DATA_BLOB_TYPES,
    BlobChecker,
    BlobReader,
    blob_is_stored,
    stored_blob_size,
)
from edgechain.execution.errors import (
    ApplicationReentrancy,
    BlobNotListed,
    BlobsNotFound,
    InvalidApplicationData,
    InvalidModule,
    ModuleNotPublished,
    SandboxViolation,
    UnauthorizedOperation,
    UnknownApplication,
)
from edgechain.execution.messages import MessageKind, OutgoingMessage, UserMessage
from edgechain.execution.modules import unpack_sources
from edgechain.execution.operations import CreateApplication, PublishModule, Transfer
from edgechain.execution.policy import ResourceControlPolicy
from edgechain.execution.resources import ResourceTracker
from edgechain.execution.runtime import BLOB_BYTES_PER_FUEL, RUNTIME_CALL_FUEL
from edgechain.execution.sandbox import (
    CompiledContract,
    ContractSandbox,
    FuelMeter,
    compile_contract,
)
from edgechain.execution.storage_access import (
    STATE_ACCESS_FUEL,
    STATE_BYTES_PER_FUEL,
    ApplicationStorage,
)
from edgechain.execution.system import BlockContext, SystemExecution

if TYPE_CHECKING:
    from edgechain.execution.state import ExecutionStateView

_COMPILED_CACHE_SIZE = 64
_compiled_contracts: OrderedDict[CryptoHash, CompiledContract] = OrderedDict()
_compiled_contracts_lock = threading.Lock()
"""Guards ``_compiled_contracts``: worker shards execute blocks in several threads."""


def compiled_contract(content: bytes, blob_hash: CryptoHash) -> CompiledContract:
    """The contract packed in a contract blob, checked and compiled (cached by blob hash).

    Compiled code is immutable, so sharing it between blocks and threads is safe; each
    block still loads its own `ContractSandbox` (fresh module objects). Compilation runs
    outside the cache's lock (two threads may compile the same blob; both results are equal).
    """
    with _compiled_contracts_lock:
        cached = _compiled_contracts.get(blob_hash)
        if cached is not None:
            _compiled_contracts.move_to_end(blob_hash)
            return cached
    sources = unpack_sources(content, BlobType.CONTRACT_BYTECODE)
    compiled = compile_contract(sources)
    with _compiled_contracts_lock:
        _compiled_contracts[blob_hash] = compiled
        _compiled_contracts.move_to_end(blob_hash)
        while len(_compiled_contracts) > _COMPILED_CACHE_SIZE:
            _compiled_contracts.popitem(last=False)
    return compiled


@dataclass(slots=True)
class LoadedContract:
    """An application's contract loaded for this block."""

    application_id: ApplicationId
    """The application's id (the hash of its description, computed once)."""
    description: ApplicationDescription
    """The application."""
    sandbox: ContractSandbox
    """Its modules, guards and metered calls (this block only)."""
    contract_class: Any
    """The ``Contract`` subclass that ``contract.py`` defines."""

    @property
    def abi(self) -> Any:
        return self.contract_class.abi


@dataclass(slots=True)
class MessageContext:
    """What a contract executing a message may know about it."""

    origin: ChainId
    """The sending chain."""
    is_bouncing: bool
    """Whether it is a rejected tracked message on its way back."""


class Transaction:
    """One operation or incoming message: one meter, the messages it sends, the apps running."""

    def __init__(self, meter: FuelMeter) -> None:
        self.meter = meter
        self.outgoing: list[OutgoingMessage] = []
        self.call_stack: list[ApplicationId] = []
        self.active = True
        self.failure: BaseException | None = None


class UserExecution:
    """Publishes modules, creates applications and runs user transactions for one block."""

    def __init__(
        self,
        state: ExecutionStateView,
        block: BlockContext,
        system: SystemExecution,
        policy: ResourceControlPolicy,
        blob_checker: BlobChecker,
        blob_source: BlobReader | None,
    ) -> None:
        self.state = state
        self.block = block
        self.system = system
        self.policy = policy
        self.tracker = ResourceTracker(policy)
        self._blob_checker = blob_checker
        self._blob_source = blob_source
        self._loaded: dict[ApplicationId, LoadedContract] = {}
        self._read_ahead: tuple[BlobId, bytes] | None = None

    def close(self) -> None:
        """Unload every sandbox of this block."""
        for loaded in self._loaded.values():
            loaded.sandbox.close()
        self._loaded.clear()
        self._read_ahead = None

    # -- blobs

    def _stored_blob_reader(self, blob_id: BlobId) -> BlobReader:
        """The reader of a blob this node stores; BlobsNotFound when it does not (checked first).

        Asked without reading the bytes where the reader can (``contains_blob``): a storage's
        checker may hash the whole blob, which must wait until the read is paid for (the
        bytes are verified when they are read; a corrupt file is then BlobsNotFound).
        """
        reader = self._blob_source
        if reader is None:
            raise BlobsNotFound([blob_id])
        stored = blob_is_stored(reader, blob_id)
        if stored is None:
            stored = not list(self._blob_checker([blob_id]))
        if not stored:
            raise BlobsNotFound([blob_id])
        return reader

    def blob_size(self, blob_id: BlobId) -> int:
        """The size of a stored blob, before its bytes are read; BlobsNotFound when it is not stored.

        Where the reader cannot tell a size without reading, the bytes are read now and kept
        for the next ``read_blob`` of the same blob (read once, handed out after the charge).
        """
        size = stored_blob_size(self._stored_blob_reader(blob_id), blob_id)
        if size is not None:
            return size
        content = self.read_blob(blob_id)
        self._read_ahead = (blob_id, content)
        return len(content)

    def read_blob(self, blob_id: BlobId) -> bytes:
        """A stored blob's bytes; BlobsNotFound when this node lacks it or cannot read it."""
        reader = self._stored_blob_reader(blob_id)
        read_ahead, self._read_ahead = self._read_ahead, None
        if read_ahead is not None and read_ahead[0] == blob_id:
            return read_ahead[1]
        try:
            return reader.read_blob(blob_id).content
        except EdgechainError as error:  # e.g. the storage found the file corrupt
            raise BlobsNotFound([blob_id]) from error

    def verify_blob(self, blob_id: BlobId) -> None:
        """Raise BlobsNotFound unless the node's checker finds the blob stored and intact
        (a storage's checker verifies its hash)."""
        if list(self._blob_checker([blob_id])):
            raise BlobsNotFound([blob_id])

    def abort_transaction(self, transaction: Transaction, error: BlobsNotFound) -> NoReturn:
        """Raise ``error``, fatal to ``transaction``: no contract on its call stack can catch it.

        For what depends on this validator rather than on the chain (a blob it lacks): the
        block fails here, whatever the contracts would do, and the validator does not vote.
        """
        if transaction.failure is None:
            transaction.failure = error
        for application_id in transaction.call_stack:
            loaded = self._loaded.get(application_id)
            if loaded is not None:
                loaded.sandbox.guards.record_fatal(error)
        raise error

    # -- modules and applications

    def publish_module(self, operation: PublishModule) -> list[OutgoingMessage]:
        """Check and record a module whose two blobs the block publishes."""
        module_id = operation.module_id
        where = f"PublishModule on chain {self.block.chain_id} at height {self.block.height}"
        for blob_id in (contract_blob_id(module_id), service_blob_id(module_id)):
            if blob_id not in self.block.published_blob_ids:
                raise BlobNotListed(f"{where}: {blob_id} is not in the block's published blob ids")
        contract = self.read_blob(contract_blob_id(module_id))
        service = self.read_blob(service_blob_id(module_id))
        self.policy.check_bytecode_size(len(contract))
        self.policy.check_bytecode_size(len(service))
        unpack_sources(service, BlobType.SERVICE_BYTECODE)
        compiled_contract(contract, module_id.contract_blob_hash)  # SandboxViolation: refused
        for blob_id in (contract_blob_id(module_id), service_blob_id(module_id)):
            self.state.system.published_blobs.insert(blob_id)
        self.state.system.published_modules.insert(module_id)
        return []

    def create_application(
        self, operation: CreateApplication, operation_index: int
    ) -> list[OutgoingMessage]:
        """Create an application and run its ``instantiate``; return what it sends.

        Checks first (the module was published on this chain by an earlier operation, the
        required applications are known), then loads the contract (bytecode, compilation,
        module bodies, the contract class) before anything is registered; only then is the
        application registered and instantiated. If instantiation fails, the registration
        and the application's storage are removed again (and the block fails).
        """
        module_id = operation.module_id
        if not self.state.system.published_modules.contains(module_id):
            raise ModuleNotPublished(
                f"CreateApplication on chain {self.block.chain_id} at height {self.block.height}:"
                f" module {module_id} was not published on this chain (PublishModule first)"
            )
        for required in operation.required_application_ids:
            if not self.state.applications.contains(required):
                raise UnknownApplication(
                    f"CreateApplication on chain {self.block.chain_id}: required application"
                    f" {required} is not known on this chain"
                )
        description = ApplicationDescription(
            module_id=operation.module_id,
            creator_chain_id=self.block.chain_id,
            block_height=self.block.height,
            operation_index=operation_index,
            parameters=operation.parameters,
            required_application_ids=list(operation.required_application_ids),
        )
        application_id = description.application_id()
        if self.state.applications.contains(application_id):
            raise InvalidApplicationData(
                f"CreateApplication on chain {self.block.chain_id}: application {application_id}"
                " already exists"
            )
        argument = operation.instantiation_argument

        def instantiate(contract: Any, abi: Any) -> None:
            contract.instantiate(_decode(argument, abi.InstantiationArgument, "argument"))

        def create(transaction: Transaction) -> None:
            self._load(application_id, transaction.meter, description)
            self.state.applications.insert(application_id, description)
            self._invoke(
                transaction,
                application_id,
                self.block.authenticated_signer,
                None,
                None,
                instantiate,
            )

        try:
            return self._run_transaction(create)
        except BaseException:
            self._forget_application(application_id)
            raise

    def _forget_application(self, application_id: ApplicationId) -> None:
        """Undo the registration of an application new on this chain whose first transaction
        failed: the registration, its storage, its loaded sandbox."""
        if self.state.applications.contains(application_id):
            self.state.applications.remove(application_id)
        if self.state.application_states.contains(application_id):
            self.state.application_states.remove_entry(application_id)
        loaded = self._loaded.pop(application_id, None)
        if loaded is not None:
            loaded.sandbox.close()

    def execute_operation(
        self, application_id: ApplicationId, payload: bytes
    ) -> list[OutgoingMessage]:
        """Run a block's user operation; return the messages it sends."""

        def operate(contract: Any, abi: Any) -> Any:
            return contract.execute_operation(_decode(payload, abi.Operation, "operation"))

        return self._run_transaction(
            lambda transaction: self._invoke(
                transaction, application_id, self.block.authenticated_signer, None, None, operate
            )
        )

    def execute_message(
        self,
        origin: ChainId,
        authenticated_signer: AccountOwner | None,
        is_bouncing: bool,
        message: UserMessage,
    ) -> list[OutgoingMessage]:
        """Run an accepted user message; register its application first if it is new here
        (after its contract loaded; the registration is undone if the message fails)."""
        application_id = message.application_id
        arriving: ApplicationDescription | None = None
        if not self.state.applications.contains(application_id):
            arriving = message.description
            if arriving is None or arriving.application_id() != application_id:
                raise UnknownApplication(
                    f"message from {origin} for application {application_id}, unknown on chain"
                    f" {self.block.chain_id}, carries no matching description"
                )
        payload = message.payload
        context = MessageContext(origin=origin, is_bouncing=is_bouncing)

        def receive(contract: Any, abi: Any) -> None:
            contract.execute_message(_decode(payload, abi.Message, "message"))

        def deliver(transaction: Transaction) -> None:
            if arriving is not None:
                self._load(application_id, transaction.meter, arriving)
                self.state.applications.insert(application_id, arriving)
            self._invoke(transaction, application_id, authenticated_signer, None, context, receive)

        try:
            return self._run_transaction(deliver)
        except BaseException:
            if arriving is not None:
                self._forget_application(application_id)
            raise

    # -- transactions

    def _run_transaction(self, body: Callable[[Transaction], Any]) -> list[OutgoingMessage]:
        """Run ``body`` as one transaction; on success record its fuel in the block's tracker.

        A failed transaction fails the block, so its fuel is not recorded: recording it could
        only raise a second error that hides the first.
        """
        transaction = Transaction(FuelMeter(self.tracker.transaction_fuel_limit()))
        try:
            body(transaction)
            if transaction.failure is not None:
                raise transaction.failure
        finally:
            transaction.active = False
        self.tracker.add_fuel(transaction.meter.used)
        return transaction.outgoing

    def _load(
        self,
        application_id: ApplicationId,
        meter: FuelMeter,
        description: ApplicationDescription | None = None,
    ) -> LoadedContract:
        """The application's contract for this block, loaded once (its module bodies charged to
        ``meter``). ``description``: an application being created, not yet registered."""
        loaded = self._loaded.get(application_id)
        if loaded is not None:
            return loaded
        if description is None:
            description = self.state.applications.get(application_id)
        if description is None:
            raise UnknownApplication(
                f"application {application_id} is not known on chain {self.block.chain_id}"
            )
        blob_id = contract_blob_id(description.module_id)
        compiled = compiled_contract(self.read_blob(blob_id), blob_id.hash)
        sandbox = ContractSandbox(compiled)
        try:
            module = sandbox.load(meter)
            contract_class = _find_contract_class(module)
        except BaseException:
            sandbox.close()
            raise
        loaded = LoadedContract(application_id, description, sandbox, contract_class)
        self._loaded[application_id] = loaded
        return loaded

    def _invoke(
        self,
        transaction: Transaction,
        application_id: ApplicationId,
        authenticated_owner: AccountOwner | None,
        caller_id: ApplicationId | None,
        message: MessageContext | None,
        action: Callable[[Any, Any], Any],
    ) -> Any:
        """Run ``action(contract, abi)`` in the application's sandbox, within ``transaction``."""
        if application_id in transaction.call_stack:
            raise ApplicationReentrancy(
                f"application {application_id} is already running in this transaction"
                f" (call stack {[str(app) for app in transaction.call_stack]})"
            )
        loaded = self._load(application_id, transaction.meter)
        runtime = ContractRuntimeImpl(
            self, transaction, loaded, authenticated_owner, caller_id, message
        )

        def body() -> Any:
            contract = loaded.contract_class.load(runtime)
            result = action(contract, loaded.abi)
            contract.store()
            return result

        transaction.call_stack.append(application_id)
        try:
            return loaded.sandbox.call(transaction.meter, body)
        except BaseException as error:
            if transaction.failure is None:
                transaction.failure = error  # a caller that catches it cannot undo the failure
            raise
        finally:
            transaction.call_stack.pop()
            runtime._active = False


def _decode(payload: bytes, value_type: Any, what: str) -> Any:
    try:
        return decode(payload, value_type)
    except EncodingError as error:
        raise InvalidApplicationData(
            f"{what} bytes do not decode as the ABI says: {error}"
        ) from error


def _head_size(argument: int) -> int:
    """Bytes of a CBOR head (major type and argument) in canonical form."""
    if argument < 24:
        return 1
    if argument < 1 << 8:
        return 2
    if argument < 1 << 16:
        return 3
    if argument < 1 << 32:
        return 5
    return 9


def canonical_size(plain: Any) -> int | None:
    """The length of ``cbor2.dumps(plain, canonical=True)``, computed without encoding.

    ``plain`` is what ``to_plain`` returns (None, bool, int, str, bytes, lists, dicts). Sizes
    are read with the builtin types' own methods, so a subclass cannot lie about them.
    None for a value of another kind (the caller then encodes before it can charge).
    """
    total = 0
    pending = [plain]
    while pending:
        item = pending.pop()
        if item is None or item is True or item is False:
            total += 1
        elif isinstance(item, int):
            number = int.__int__(item)  # an exact int: a subclass's operators never run
            magnitude = number if number >= 0 else -1 - number
            if magnitude < 1 << 64:
                total += _head_size(magnitude)
            else:  # a bignum: tag 2 or 3, then the magnitude's big-endian bytes
                length = (int.bit_length(magnitude) + 7) // 8
                total += 1 + _head_size(length) + length
        elif isinstance(item, bytes):
            length = bytes.__len__(item)
            total += _head_size(length) + length
        elif isinstance(item, str):
            length = str.__len__(item) if str.isascii(item) else len(str.encode(item, "utf-8"))
            total += _head_size(length) + length
        elif type(item) is list:
            total += _head_size(list.__len__(item))
            pending.extend(item)
        elif type(item) is dict:
            total += _head_size(dict.__len__(item))
            pending.extend(dict.keys(item))
            pending.extend(dict.values(item))
        else:
            return None
    return total


def _encode_charged(value: Any, value_type: Any, what: str, charge: Callable[[int], None]) -> bytes:
    """Encode ``value`` canonically as ``value_type``, calling ``charge(size)`` with the encoded
    size *before* the bytes are produced (the size is computed from the plain value)."""
    try:
        plain = to_plain(value, value_type)
        size = canonical_size(plain)
        if size is not None:
            charge(size)
        payload: bytes = cbor2.dumps(plain, canonical=True)
    except (EncodingError, cbor2.CBOREncodeError, TypeError, ValueError, OverflowError) as error:
        raise InvalidApplicationData(
            f"{what} cannot be encoded as the ABI says: {error}"
        ) from error
    if size is None:
        charge(len(payload))
    return payload


def _find_contract_class(module: Any) -> Any:
    """The one class ``contract.py`` defines that has the contract entry points."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and all(
            callable(getattr(value, name, None))
            for name in ("load", "execute_operation", "execute_message", "instantiate", "store")
        )
        and getattr(value, "abi", None) is not None
    ]
    if len(found) != 1:
        raise InvalidModule(
            f"contract.py must define exactly one Contract subclass; found {len(found)}"
        )
    return found[0]


class _MeteredAccountant:
    """Charges a contract's state accesses: fuel and the block's byte counters, before the access.

    Held only by the runtime's private storage, so contract code can never call it.
    """

    __slots__ = ("_runtime",)

    def __init__(self, runtime: ContractRuntimeImpl) -> None:
        self._runtime = runtime

    def charge_state_read(self, size: int) -> None:
        self._runtime._charge(STATE_ACCESS_FUEL + size // STATE_BYTES_PER_FUEL)
        self._runtime._execution.tracker.charge_read(size)

    def charge_state_write(self, size: int) -> None:
        self._runtime._charge(STATE_ACCESS_FUEL + size // STATE_BYTES_PER_FUEL)
        self._runtime._execution.tracker.charge_write(size)


class ContractRuntimeImpl:
    """The `ContractRuntime` of one application in one transaction; charges before it acts.

    Its host handles are private (contract code cannot reach ``_`` names); once its
    transaction is over, every call is refused, so a runtime a contract kept cannot charge
    another transaction's meter or act outside one.
    """

    def __init__(
        self,
        execution: UserExecution,
        transaction: Transaction,
        loaded: LoadedContract,
        authenticated_owner: AccountOwner | None,
        caller_id: ApplicationId | None,
        message: MessageContext | None,
    ) -> None:
        self._execution = execution
        self._transaction = transaction
        self._loaded = loaded
        self._application_id = loaded.application_id
        self._authenticated_owner = authenticated_owner
        self._caller_id = caller_id
        self._message = message
        self._active = True
        storage_view = execution.state.application_states.load_entry(self._application_id)
        self._storage = ApplicationStorage(storage_view, _MeteredAccountant(self))

    # -- charging

    def _charge(self, fuel: int) -> None:
        if not self._active or not self._transaction.active:
            raise SandboxViolation("use of a contract runtime after its transaction ended")
        self._transaction.meter.charge(fuel)

    def _charge_bytes(self, size: int) -> None:
        """Charge for ``size`` bytes of an encoded message or call (before they are encoded)."""
        self._charge(size // STATE_BYTES_PER_FUEL)

    # -- facts

    def chain_id(self) -> ChainId:
        self._charge(RUNTIME_CALL_FUEL)
        return self._execution.block.chain_id

    def block_height(self) -> BlockHeight:
        self._charge(RUNTIME_CALL_FUEL)
        return self._execution.block.height

    def system_time(self) -> Timestamp:
        self._charge(RUNTIME_CALL_FUEL)
        return self._execution.block.timestamp

    def authenticated_owner(self) -> AccountOwner | None:
        self._charge(RUNTIME_CALL_FUEL)
        return self._authenticated_owner

    def authenticated_caller_id(self) -> ApplicationId | None:
        self._charge(RUNTIME_CALL_FUEL)
        return self._caller_id

    def application_id(self) -> ApplicationId:
        self._charge(RUNTIME_CALL_FUEL)
        return self._application_id

    def application_creator_chain_id(self) -> ChainId:
        self._charge(RUNTIME_CALL_FUEL)
        return self._loaded.description.creator_chain_id

    def application_parameters(self) -> Any:
        parameters = self._loaded.description.parameters
        self._charge(RUNTIME_CALL_FUEL + len(parameters) // STATE_BYTES_PER_FUEL)
        return _decode(parameters, self._loaded.abi.Parameters, "parameters")

    def check_account_permission(self, owner: AccountOwner) -> None:
        self._charge(RUNTIME_CALL_FUEL)
        if owner != self._authenticated_owner and owner != AccountOwner.from_application(
            self._application_id
        ):
            raise UnauthorizedOperation(
                f"application {self._application_id} on chain {self._execution.block.chain_id}:"
                f" {owner} did not authenticate this call (authenticated: {self._authenticated_owner})"
            )

    def remaining_fuel(self) -> int:
        self._charge(RUNTIME_CALL_FUEL)
        return self._transaction.meter.remaining

    # -- messages

    def send_message(
        self,
        destination: ChainId,
        message: Any,
        *,
        tracked: bool = False,
        authenticated: bool = False,
    ) -> None:
        self._charge(RUNTIME_CALL_FUEL)
        if not isinstance(destination, ChainId):
            raise InvalidApplicationData(
                f"send_message destination must be a ChainId, got {destination!r}"
            )
        payload = _encode_charged(message, self._loaded.abi.Message, "message", self._charge_bytes)
        self._transaction.outgoing.append(
            OutgoingMessage(
                destination=destination,
                authenticated_signer=self._authenticated_owner if authenticated else None,
                grant=Amount.zero(),
                refund_grant_to=None,
                kind=MessageKind.TRACKED if tracked else MessageKind.SIMPLE,
                message=UserMessage(self._application_id, payload, self._loaded.description),
            )
        )

    def message_is_bouncing(self) -> bool | None:
        self._charge(RUNTIME_CALL_FUEL)
        return None if self._message is None else self._message.is_bouncing

    def message_origin_chain_id(self) -> ChainId | None:
        self._charge(RUNTIME_CALL_FUEL)
        return None if self._message is None else self._message.origin

    # -- other applications

    def call_application(
        self, application_id: ApplicationId, operation: Any, *, authenticated: bool = False
    ) -> Any:
        self._charge(RUNTIME_CALL_FUEL)
        execution = self._execution
        transaction = self._transaction
        # Linera requires callees to be declared in the description; we require them to be
        # known on this chain (created here or arrived by a message).
        if not execution.state.applications.contains(application_id):
            raise UnknownApplication(
                f"application {self._application_id} calls {application_id}, unknown on"
                f" chain {execution.block.chain_id}"
            )
        try:
            callee = execution._load(application_id, transaction.meter)
        except BlobsNotFound as error:  # its bytecode is not stored here
            execution.abort_transaction(transaction, error)
        payload = _encode_charged(operation, callee.abi.Operation, "call", self._charge_bytes)

        def operate(contract: Any, abi: Any) -> Any:
            return contract.execute_operation(_decode(payload, abi.Operation, "call"))

        return execution._invoke(
            transaction,
            application_id,
            self._authenticated_owner if authenticated else None,
            self._application_id if authenticated else None,
            None,
            operate,
        )

    # -- blobs

    def read_data_blob(self, blob_id: BlobId) -> bytes:
        size = self._charge_blob_read(blob_id, "read_data_blob")
        try:
            content = self._execution.read_blob(blob_id)
            if len(content) != size:  # the file changed since it was measured
                raise BlobsNotFound([blob_id])
        except BlobsNotFound as error:
            self._execution.abort_transaction(self._transaction, error)
        return content

    def assert_data_blob_exists(self, blob_id: BlobId) -> None:
        self._charge_blob_read(blob_id, "assert_data_blob_exists")
        try:
            self._execution.verify_blob(blob_id)
        except BlobsNotFound as error:
            self._execution.abort_transaction(self._transaction, error)

    def _charge_blob_read(self, blob_id: BlobId, what: str) -> int:
        """Check the blob id, check that the blob is stored here (fatal if not), and charge
        for reading it by its size: all before any of its bytes are read. Returns the size."""
        self._charge(RUNTIME_CALL_FUEL)
        if not isinstance(blob_id, BlobId) or blob_id.blob_type not in DATA_BLOB_TYPES:
            raise InvalidApplicationData(
                f"{what} needs a data or manifest blob id, got {blob_id!r}"
            )
        try:
            size = self._execution.blob_size(blob_id)
        except BlobsNotFound as error:
            self._execution.abort_transaction(self._transaction, error)
        self._charge(size // BLOB_BYTES_PER_FUEL)
        self._execution.tracker.charge_read(size)
        return size

    # -- tokens

    def transfer(self, source: AccountOwner | None, destination: Account, amount: Amount) -> None:
        self._charge(RUNTIME_CALL_FUEL)
        execution = self._execution
        application_owner = AccountOwner.from_application(self._application_id)
        signer = application_owner if source == application_owner else self._authenticated_owner
        context = replace(execution.block, authenticated_signer=signer)
        system = SystemExecution(execution.state.system, context)
        system.opened_chains = execution.system.opened_chains
        self._transaction.outgoing.extend(
            system.execute_operation(Transfer(owner=source, recipient=destination, amount=amount))
        )


__all__ = ["ContractRuntimeImpl", "UserExecution", "compiled_contract"]
