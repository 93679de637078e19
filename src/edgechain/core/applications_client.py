"""Client-side application work: publish a module, create an application, encode JSON
arguments for an ABI, and answer a service query from a followed chain's local state.

JSON values become values of an ABI's declared types (`value_from_json`) by these rules:

=========================================  ==========================================================
declared type                              JSON
=========================================  ==========================================================
dataclass                                  object of its fields (``snake_case`` or ``camelCase``
                                           names; fields with defaults may be left out); a dataclass
                                           of one field also takes that field's value directly when
                                           it is not an object (``BlockHeight``: ``5``)
union of dataclasses ``A | B``             ``{"A": {...}}``: one key, the variant's class name
``X | None``                               ``null`` or an ``X``
other unions (``int | str``)               the first member that reads it
``AccountOwner``, ``ChainId``,             64 hex digits
``ApplicationId``, ``CryptoHash``
``BlobId``                                 ``"TYPE:HEX"`` (``"data:…"``) or bare hex (a data blob),
                                           or ``{"blobType", "hash"}``
``ModuleId``                               ``"CONTRACT_HASH:SERVICE_HASH"`` or its object
``Account``                                ``"OWNER@CHAIN"``, ``"CHAIN"`` or ``{"chainId", "owner"}``
``Amount``                                 tokens as text, exactly: ``"1.5"`` (no floats); an
                                           integer is whole tokens
``int`` / ``bool`` / ``str`` / ``float``   number (or integer text for ``int``) / boolean / string
                                           / number
``bytes``                                  hex text (an optional ``0x`` prefix)
enum                                       a member's name (any case) or value
``list[X]``, ``tuple[X, ...]``,            array (a fixed tuple has exactly its length)
``tuple[X, Y]``
``dict[K, V]``                             object; each key is read as ``K`` from its text
``Any``                                    taken as it is
=========================================  ==========================================================

A value that does not fit raises `JsonArgumentError` (a `ValueError`), whose ``path`` names
the bad element: ``$.accounts["ab…"]: not an amount``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgechain.base.crypto import CryptoHash
from edgechain.base.encoding import encode
from edgechain.base.errors import EdgechainError, EncodingError
from edgechain.base.identifiers import (
    Account,
    AccountOwner,
    ApplicationId,
    BlobId,
    ChainId,
    ModuleId,
)
from edgechain.base.values import Amount, Timestamp
from edgechain.chain.certificate import Certificate
from edgechain.core.client import ChainClient
from edgechain.core.errors import ClientError, JsonArgumentError
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


async def publish_module(
    client: ChainClient, module: ApplicationModule
) -> tuple[ModuleId, Certificate]:
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
    """Canonical bytes of a JSON value read as ``value_type`` (see `value_from_json`).

    Raises `JsonArgumentError` naming ``what`` and the JSON path of the bad element.
    """
    typed = value_from_json(value, value_type, what=what)
    try:
        return encode(typed, value_type)
    except (EncodingError, TypeError, ValueError) as exc:
        raise JsonArgumentError(
            "$", f"cannot be encoded as {_type_name(value_type)}: {exc}", what
        ) from exc


async def publish_and_create(
    client: ChainClient,
    directory: Path,
    parameters: Any,
    argument: Any,
    required_application_ids: list[ApplicationId] | None = None,
) -> tuple[ModuleId, ApplicationId]:
    """Publish an application directory's module and create the application from it, with
    ``parameters`` and ``argument`` given as JSON values of its ABI's types (the work of
    ``edgechain publish-and-create``). Bad JSON is refused before anything is proposed."""
    abi = application_abi(directory)
    parameter_bytes = encode_json(parameters, abi.Parameters, "parameters")
    argument_bytes = encode_json(argument, abi.InstantiationArgument, "argument")
    module_id, _ = await publish_module(client, pack_application(directory))
    application_id, _ = await create_application(
        client, module_id, parameter_bytes, argument_bytes, required_application_ids
    )
    return module_id, application_id


def value_from_json(value: Any, value_type: Any, *, what: str = "") -> Any:
    """``value`` (as `json.loads` gives it) read as a value of ``value_type``, by the rules in
    this module's docstring. Raises `JsonArgumentError` with the bad element's JSON path
    (``what`` prefixes its message: "argument $.accounts[…]: …")."""
    try:
        return _from_json(value, value_type, "$")
    except JsonArgumentError as error:
        if not what:
            raise
        raise JsonArgumentError(error.path, error.reason, what) from error


_HASH_TYPES: dict[Any, Any] = {
    AccountOwner: AccountOwner.from_hex,
    ChainId: ChainId.from_hex,
    ApplicationId: ApplicationId.from_hex,
    CryptoHash: CryptoHash.from_hex,
}
ATTO_DIGITS = 18
"""Decimals of a token amount (an `Amount` counts 10^-18 tokens)."""
_TOKEN_TEXT = re.compile(r"\d+(\.\d*)?|\.\d+")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_HEX_TEXT = re.compile(r"(0x)?([0-9a-fA-F]{2})*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _from_json(value: Any, value_type: Any, path: str) -> Any:
    """``value`` read as ``value_type``; ``path`` is where ``value`` is in the whole JSON value."""
    if value_type is Any or value_type is object:
        return value
    if value_type is None or value_type is type(None):
        if value is not None:
            raise JsonArgumentError(path, f"expected null, found {_json_kind(value)}")
        return None
    origin = typing.get_origin(value_type)
    if origin is typing.Union or isinstance(value_type, types.UnionType):
        return _union_from_json(value, value_type, path)
    if origin is not None:
        return _generic_from_json(value, value_type, origin, path)
    if not isinstance(value_type, type):
        raise JsonArgumentError(path, f"cannot read JSON as {value_type!r}")
    if value_type in _HASH_TYPES:
        return _parsed(value, path, value_type, _HASH_TYPES[value_type], "64 hex digits")
    if value_type is Amount:
        return _amount_from_json(value, path)
    if value_type is Account and isinstance(value, str):
        return _parsed(value, path, Account, Account.parse, "OWNER@CHAIN or CHAIN")
    if value_type is BlobId and isinstance(value, str):
        return _parsed(value, path, BlobId, BlobId.parse, "TYPE:HEX or HEX")
    if value_type is ModuleId and isinstance(value, str):
        return _parsed(value, path, ModuleId, _module_id_from_text, "CONTRACT_HASH:SERVICE_HASH")
    if dataclasses.is_dataclass(value_type):
        return _dataclass_from_json(value, value_type, path)
    if issubclass(value_type, enum.Enum):
        return _enum_from_json(value, value_type, path)
    return _scalar_from_json(value, value_type, path)


def _scalar_from_json(value: Any, value_type: type, path: str) -> Any:
    if value_type is bool:
        if not isinstance(value, bool):
            raise JsonArgumentError(path, f"expected a boolean, found {_json_kind(value)}")
        return value
    if value_type is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
            return int(value)
        raise JsonArgumentError(path, f"expected an integer, found {_json_kind(value)}")
    if value_type is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise JsonArgumentError(path, f"expected a number, found {_json_kind(value)}")
    if value_type is str:
        if not isinstance(value, str):
            raise JsonArgumentError(path, f"expected a string, found {_json_kind(value)}")
        return value
    if value_type is bytes:
        if not isinstance(value, str) or not _HEX_TEXT.fullmatch(value):
            raise JsonArgumentError(path, f"expected bytes as hex text, found {_json_kind(value)}")
        return bytes.fromhex(value.removeprefix("0x"))
    raise JsonArgumentError(path, f"cannot read JSON as {_type_name(value_type)}")


def _parsed(value: Any, path: str, value_type: type, parse: Any, form: str) -> Any:
    if not isinstance(value, str):
        raise JsonArgumentError(
            path, f"not a {value_type.__name__} ({form}): found {_json_kind(value)}"
        )
    try:
        return parse(value)
    except (EdgechainError, ValueError) as exc:
        raise JsonArgumentError(path, f"not a {value_type.__name__} ({form}): {value!r}") from exc


def _module_id_from_text(text: str) -> ModuleId:
    contract, separator, service = text.partition(":")
    if not separator:
        raise ValueError(f"no ':' in {text!r}")
    return ModuleId(CryptoHash.from_hex(contract), CryptoHash.from_hex(service))


def _amount_from_json(value: Any, path: str) -> Amount:
    if isinstance(value, bool) or not isinstance(value, int | str):
        hint = ' (write token amounts as text, e.g. "1.5": floats are not exact)'
        raise JsonArgumentError(
            path,
            f"not an amount: found {_json_kind(value)}{hint if isinstance(value, float) else ''}",
        )
    if isinstance(value, str) and not _TOKEN_TEXT.fullmatch(value):
        raise JsonArgumentError(path, f'not an amount: {value!r} (tokens, e.g. "1.5")')
    # Integer arithmetic, not Decimal's default 28 significant digits: every u128 atto count
    # has an exact text form.
    whole, _, fraction = str(value).partition(".")
    if len(fraction) > ATTO_DIGITS:
        raise JsonArgumentError(
            path, f"not an amount: {value!r} has more than {ATTO_DIGITS} decimals"
        )
    atto = int(whole or "0") * 10**ATTO_DIGITS + int(fraction.ljust(ATTO_DIGITS, "0") or "0")
    try:
        return Amount(atto)
    except EdgechainError as exc:
        raise JsonArgumentError(path, f"not an amount: {exc}") from exc


def _enum_from_json(value: Any, value_type: type[enum.Enum], path: str) -> enum.Enum:
    if isinstance(value, str):
        for member in value_type:
            if member.name.lower() == value.lower():
                return member
    for member in value_type:
        if member.value == value and type(member.value) is type(value):
            return member
    names = ", ".join(member.name for member in value_type)
    raise JsonArgumentError(path, f"not a {value_type.__name__} (one of {names}): {value!r}")


def _union_from_json(value: Any, value_type: Any, path: str) -> Any:
    members = typing.get_args(value_type)
    if value is None and type(None) in members:
        return None
    members = tuple(member for member in members if member is not type(None))
    if len(members) == 1:
        return _from_json(value, members[0], path)
    named = {member.__name__: member for member in members if isinstance(member, type)}
    if isinstance(value, dict) and len(value) == 1:
        ((name, inner),) = value.items()
        if name in named:
            return _from_json(inner, named[name], _field_path(path, name))
    variants = [m for m in members if isinstance(m, type) and dataclasses.is_dataclass(m)]
    for member in members:
        if member in variants:
            continue
        try:
            return _from_json(value, member, path)
        except JsonArgumentError:
            continue
    expected = " or ".join(_type_name(member) for member in members if member not in variants)
    if variants:
        choices = ", ".join(f'{{"{variant.__name__}": {{…}}}}' for variant in variants)
        expected = f"{expected} or one of {choices}" if expected else f"one of {choices}"
    raise JsonArgumentError(path, f"expected {expected}, found {_json_kind(value)}")


def _generic_from_json(value: Any, value_type: Any, origin: Any, path: str) -> Any:
    arguments = typing.get_args(value_type)
    if origin in (list, Sequence, tuple):
        if not isinstance(value, list):
            raise JsonArgumentError(path, f"expected an array, found {_json_kind(value)}")
        if origin is not tuple:
            (item_type,) = arguments or (Any,)
            return [_from_json(item, item_type, f"{path}[{i}]") for i, item in enumerate(value)]
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(
                _from_json(item, arguments[0], f"{path}[{i}]") for i, item in enumerate(value)
            )
        if len(value) != len(arguments):
            raise JsonArgumentError(
                path, f"expected an array of {len(arguments)}, found {len(value)} items"
            )
        return tuple(
            _from_json(item, item_type, f"{path}[{i}]")
            for i, (item, item_type) in enumerate(zip(value, arguments, strict=True))
        )
    if origin is dict:
        key_type, item_type = arguments or (Any, Any)
        if not isinstance(value, dict):
            raise JsonArgumentError(path, f"expected an object, found {_json_kind(value)}")
        result: dict[Any, Any] = {}
        for key, item in value.items():
            item_path = f"{path}[{json.dumps(key)}]"
            try:
                typed_key = _from_json(key, key_type, item_path)
            except JsonArgumentError as error:
                raise JsonArgumentError(item_path, f"key {error.reason}") from error
            if typed_key in result:
                raise JsonArgumentError(item_path, "key repeats an earlier key")
            result[typed_key] = _from_json(item, item_type, item_path)
        return result
    raise JsonArgumentError(path, f"cannot read JSON as {_type_name(value_type)}")


def _dataclass_from_json(value: Any, value_type: type, path: str) -> Any:
    fields = [field for field in dataclasses.fields(value_type) if field.init]
    try:
        hints = typing.get_type_hints(value_type)
    except (NameError, TypeError) as exc:
        raise JsonArgumentError(
            path, f"cannot resolve the field types of {value_type.__name__}: {exc}"
        ) from exc
    if not isinstance(value, dict):
        if len(fields) == 1 and value is not None:
            (field,) = fields
            return value_type(_from_json(value, hints.get(field.name, Any), path))
        raise JsonArgumentError(
            path, f"expected a {value_type.__name__} object, found {_json_kind(value)}"
        )
    by_json_name: dict[str, dataclasses.Field[Any]] = {}
    for field in fields:
        by_json_name[field.name] = field
        by_json_name.setdefault(_camel_case(field.name), field)
    arguments: dict[str, Any] = {}
    for key, item in value.items():
        matched = by_json_name.get(key) if isinstance(key, str) else None
        if matched is None:
            known = ", ".join(field.name for field in fields)
            raise JsonArgumentError(
                _field_path(path, str(key)),
                f"{value_type.__name__} has no such field (fields: {known})",
            )
        if matched.name in arguments:
            raise JsonArgumentError(
                _field_path(path, str(key)), f"field {matched.name} given twice"
            )
        arguments[matched.name] = _from_json(
            item, hints.get(matched.name, Any), _field_path(path, key)
        )
    for field in fields:
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        if field.name not in arguments and not has_default:
            raise JsonArgumentError(
                _field_path(path, _camel_case(field.name)),
                f"missing (a {value_type.__name__} needs {field.name})",
            )
    try:
        return value_type(**arguments)
    except (EdgechainError, TypeError, ValueError) as exc:
        raise JsonArgumentError(path, f"not a valid {value_type.__name__}: {exc}") from exc


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _field_path(path: str, name: str) -> str:
    return f"{path}.{name}" if _IDENTIFIER.fullmatch(name) else f"{path}[{json.dumps(name)}]"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {json.dumps(shown)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_name(value_type: Any) -> str:
    return value_type.__name__ if isinstance(value_type, type) else str(value_type)


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
