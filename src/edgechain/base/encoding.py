"""Canonical encoding of protocol values: deterministic CBOR, directed by type annotations.

Every value that is hashed, signed or sent is encoded here, so that every validator
computes the same bytes for the same value. The encoding is type-directed (like BCS in
Linera): the decoder is told the type it expects and checks the shape against it.

Rules:
- ``int``, ``str``, ``bytes``, ``bool`` and ``None`` are CBOR's own; floats are refused.
- a frozen dataclass is an array of its fields in declaration order, except a class
  that sets ``CANONICAL_TRANSPARENT = True`` and has one field, which is that field;
- an ``Enum`` is its value;
- ``list[T]`` and ``tuple[T, ...]`` are arrays, ``tuple[A, B]`` a fixed-length array,
  ``dict[K, V]`` a map (CBOR's canonical key order);
- a union of several dataclasses is ``[class name, value]``; ``X | None`` is the value or null.

Decoding rejects anything that does not re-encode to exactly the same bytes
(non-canonical integers, unsorted maps, indefinite lengths, tags, floats, trailing bytes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import cbor2

from edgechain.base.errors import EncodingError

T = TypeVar("T")

MAX_ENCODED_SIZE = 1 << 31
"""Encoded values above this size are refused (blobs travel beside, not inside, messages)."""


def encode(value: Any, tp: Any = None) -> bytes:
    """Return the canonical bytes of ``value`` (of declared type ``tp`` where it is a union)."""
    try:
        return cbor2.dumps(to_plain(value, tp), canonical=True)
    except EncodingError:
        raise
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError) as exc:
        raise EncodingError(f"cannot encode {type(value).__name__}: {exc}") from exc


def decode(data: bytes | bytearray | memoryview, cls: type[T] | Any) -> T:
    """Decode canonical bytes into a value of type ``cls``; raise EncodingError otherwise."""
    raw_bytes = bytes(data)
    if len(raw_bytes) > MAX_ENCODED_SIZE:
        raise EncodingError(f"encoded value of {len(raw_bytes)} bytes exceeds the limit")
    try:
        plain = cbor2.loads(raw_bytes)
    except Exception as exc:  # cbor2 raises a variety of errors on garbage
        raise EncodingError(f"malformed CBOR for {_type_name(cls)}: {exc}") from exc
    try:
        canonical = cbor2.dumps(plain, canonical=True)
    except Exception as exc:
        raise EncodingError(f"undecodable CBOR value for {_type_name(cls)}: {exc}") from exc
    if canonical != raw_bytes:
        raise EncodingError(f"non-canonical encoding of {_type_name(cls)}")
    return typing.cast(T, from_plain(plain, cls))


def to_plain(value: Any, tp: Any = None) -> Any:
    """Turn a protocol value into CBOR-ready builtins (lists, dicts, ints, bytes, str).

    ``tp`` is the declared type where known; it decides how union members are tagged.
    Encoders are built once per declared type (kept on each dataclass with its schema), so
    that hashing and signing -- done for every block, vote and message -- walk a value
    without re-inspecting its type annotations.
    """
    if tp is None or isinstance(tp, type):
        return _plain_of_value(value)  # a class declares nothing a value does not carry
    if _is_long_lived(tp):
        return _encoder_for_type(tp)(value)
    return _build_encoder(tp)(value)


_Encoder = Callable[[Any], Any]


def _is_long_lived(tp: Any) -> bool:
    """Whether every class a declared type names lives as long as the process (builtins,
    typing, edgechain's own): only such types are cached. Classes made at run time --
    contract classes, created anew for every block -- must not be kept alive by a cache."""
    if isinstance(tp, type):
        module = getattr(tp, "__module__", "")
        return module in ("builtins", "typing", "types") or module.startswith("edgechain.")
    arguments = typing.get_args(tp)
    if not arguments:
        return tp is None or tp is Any or tp is Ellipsis
    return all(
        argument is Ellipsis or argument is None or _is_long_lived(argument)
        for argument in arguments
    )


@functools.lru_cache(maxsize=1024)
def _encoder_for_type(tp: Any) -> _Encoder:
    """An encoder for a declared type given from outside a dataclass (bounded cache)."""
    return _build_encoder(tp)


def _build_encoder(tp: Any) -> _Encoder:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(tp) if member is not type(None)]
        if len(members) == 1:
            inner = _build_encoder(members[0])
            return lambda value: None if value is None else inner(value)
        return lambda value: (
            None if value is None else [type(value).__name__, _plain_of_value(value)]
        )
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            item_encoder = _build_encoder(args[0])

            def encode_sequence(value: Any) -> Any:
                if not isinstance(value, (list, tuple)):
                    return _plain_of_value(value)
                return [item_encoder(item) for item in value]

            return encode_sequence
        item_encoders = tuple(_build_encoder(arg) for arg in args)

        def encode_fixed_tuple(value: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                return _plain_of_value(value)
            if len(value) != len(item_encoders):
                raise EncodingError(
                    f"expected a tuple of {len(item_encoders)} items, got {len(value)}"
                )
            return [encoder(item) for encoder, item in zip(item_encoders, value, strict=True)]

        return encode_fixed_tuple
    if origin is dict:
        key_encoder, value_encoder = (_build_encoder(arg) for arg in typing.get_args(tp))

        def encode_mapping(value: Any) -> Any:
            if not isinstance(value, Mapping):
                return _plain_of_value(value)
            return {key_encoder(key): value_encoder(item) for key, item in value.items()}

        return encode_mapping
    return _plain_of_value


def _plain_of_value(value: Any) -> Any:
    cls = type(value)
    if cls is int or cls is str or cls is bytes or cls is bool or value is None:
        return value
    schema = cls.__dict__.get(_SCHEMA_ATTRIBUTE)
    if schema is None and dataclasses.is_dataclass(cls):
        schema = _schema(cls)
    if isinstance(schema, _Schema):
        if schema.transparent:
            return schema.encoders[0](getattr(value, schema.names[0]))
        return [
            encoder(getattr(value, name))
            for name, encoder in zip(schema.names, schema.encoders, strict=True)
        ]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bool, str, bytes, int)):
        return value
    if isinstance(value, float):
        raise EncodingError("floats are not part of the protocol")
    if isinstance(value, (list, tuple)):
        return [_plain_of_value(item) for item in value]
    if isinstance(value, Mapping):
        return {_plain_of_value(key): _plain_of_value(item) for key, item in value.items()}
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise EncodingError(f"cannot encode a value of type {type(value).__name__}")


def from_plain(raw: Any, tp: Any) -> Any:
    """Rebuild a value of type ``tp`` from decoded CBOR builtins, checking every shape.

    Like encoders, decoders are built once per declared type (a dataclass keeps its fields'
    decoders with its schema), so decoding does not re-inspect annotations.
    """
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(raw, tp)
    if _is_long_lived(tp):
        return _decoder_for_type(tp)(raw)
    return _build_decoder(tp)(raw)


_Decoder = Callable[[Any], Any]


@functools.lru_cache(maxsize=1024)
def _decoder_for_type(tp: Any) -> _Decoder:
    """A decoder for a declared type given from outside a dataclass (bounded cache)."""
    return _build_decoder(tp)


def _expect(kind: type, what: str) -> _Decoder:
    def decode_exact(raw: Any) -> Any:
        if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
            raise EncodingError(f"expected {what}, got {type(raw).__name__}")
        return raw

    return decode_exact


_SCALAR_DECODERS: dict[Any, _Decoder] = {
    bool: _expect(bool, "a bool"),
    int: _expect(int, "an integer"),
    str: _expect(str, "a string"),
    bytes: _expect(bytes, "bytes"),
}


def _decode_null(raw: Any) -> None:
    if raw is not None:
        raise EncodingError(f"expected null, got {type(raw).__name__}")


def _build_decoder(tp: Any) -> _Decoder:
    if tp is Any:
        raise EncodingError("typing.Any is not decodable")
    if tp is None or tp is type(None):
        return _decode_null
    scalar = _SCALAR_DECODERS.get(tp) if isinstance(tp, type) else None
    if scalar is not None:
        return scalar
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _build_union_decoder(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_type = tp

        def decode_enum(raw: Any) -> Any:
            try:
                return enum_type(raw)
            except (ValueError, TypeError) as exc:
                raise EncodingError(f"{raw!r} is not a {enum_type.__name__}") from exc

        return decode_enum
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        cls = tp
        return lambda raw: _decode_dataclass(raw, cls)  # fields resolved lazily: types may recurse
    if origin in (list, tuple, dict):
        return _build_container_decoder(tp, origin)
    raise EncodingError(f"unsupported type in protocol schema: {tp!r}")


def _decoder_or_refusal(tp: Any) -> _Decoder:
    """A field's decoder; a field of an undecodable type refuses when decoded, not before
    (such a class can still be encoded, e.g. to be hashed)."""
    try:
        return _build_decoder(tp)
    except EncodingError as refusal:
        message = str(refusal)

        def refuse(raw: Any) -> Any:
            raise EncodingError(message)

        return refuse


def _decode_dataclass(raw: Any, cls: type) -> Any:
    schema = _schema(cls)
    if schema.transparent:
        values = [schema.decoders[0](raw)]
    else:
        if not isinstance(raw, list):
            raise EncodingError(f"expected an array for {cls.__name__}, got {type(raw).__name__}")
        if len(raw) != len(schema.names):
            raise EncodingError(
                f"{cls.__name__} has {len(schema.names)} fields, the encoding has {len(raw)}"
            )
        values = [decoder(item) for decoder, item in zip(schema.decoders, raw, strict=True)]
    try:
        return cls(*values)
    except EncodingError:
        raise
    except (ValueError, TypeError) as exc:
        raise EncodingError(f"invalid {cls.__name__}: {exc}") from exc
    except Exception as exc:  # a validating __post_init__ raising a protocol error
        if exc.__class__.__module__.startswith("edgechain."):
            raise EncodingError(f"invalid {cls.__name__}: {exc}") from exc
        raise


def _build_container_decoder(tp: Any, origin: Any) -> _Decoder:
    args = typing.get_args(tp)
    if origin is dict:
        key_decoder, value_decoder = (_build_decoder(arg) for arg in args)

        def decode_mapping(raw: Any) -> Any:
            if not isinstance(raw, dict):
                raise EncodingError(f"expected a map, got {type(raw).__name__}")
            return {key_decoder(key): value_decoder(value) for key, value in raw.items()}

        return decode_mapping
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        item_decoder = _build_decoder(args[0])
        make = list if origin is list else tuple

        def decode_sequence(raw: Any) -> Any:
            if not isinstance(raw, list):
                raise EncodingError(f"expected an array, got {type(raw).__name__}")
            return make(item_decoder(item) for item in raw)

        return decode_sequence
    item_decoders = tuple(_build_decoder(arg) for arg in args)

    def decode_fixed_tuple(raw: Any) -> Any:
        if not isinstance(raw, list):
            raise EncodingError(f"expected an array, got {type(raw).__name__}")
        if len(raw) != len(item_decoders):
            raise EncodingError(f"expected a tuple of {len(item_decoders)}, got {len(raw)} items")
        return tuple(decoder(item) for decoder, item in zip(item_decoders, raw, strict=True))

    return decode_fixed_tuple


def _build_union_decoder(members: tuple[Any, ...]) -> _Decoder:
    non_none = [member for member in members if member is not type(None)]
    nullable = len(non_none) < len(members)
    if len(non_none) == 1:
        inner = _build_decoder(non_none[0])
        if not nullable:
            return inner
        return lambda raw: None if raw is None else inner(raw)
    variants = {getattr(member, "__name__", None): _build_decoder(member) for member in non_none}

    def decode_variant(raw: Any) -> Any:
        if nullable and raw is None:
            return None
        if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str)):
            raise EncodingError("expected a [variant, value] pair for a union")
        decoder = variants.get(raw[0])
        if decoder is None:
            raise EncodingError(f"unknown variant {raw[0]!r}")
        return decoder(raw[1])

    return decode_variant


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


@dataclasses.dataclass(frozen=True, slots=True)
class _Schema:
    """What encoding needs to know of a dataclass, computed once per class."""

    names: tuple[str, ...]
    """Field names in declaration order."""
    hints: dict[str, Any]
    """Resolved type hints of the fields."""
    transparent: bool
    """Whether the class encodes as its single field."""
    encoders: tuple[Callable[[Any], Any], ...]
    """One encoder per field, built from its declared type."""
    decoders: tuple[Callable[[Any], Any], ...]
    """One decoder per field, built from its declared type."""


_SCHEMA_ATTRIBUTE = "_edgechain_encoding_schema"


def _schema(cls: type) -> _Schema:
    # Kept on the class itself (not in a module-level cache), so that classes created per
    # block -- contract classes in the sandbox -- take their schema with them when collected.
    schema = cls.__dict__.get(_SCHEMA_ATTRIBUTE)
    if isinstance(schema, _Schema):
        return schema
    names = tuple(field.name for field in dataclasses.fields(cls))
    hints = typing.get_type_hints(cls)
    schema = _Schema(
        names=names,
        hints=hints,
        transparent=bool(getattr(cls, "CANONICAL_TRANSPARENT", False)) and len(names) == 1,
        encoders=tuple(_build_encoder(hints[name]) for name in names),
        decoders=tuple(_decoder_or_refusal(hints[name]) for name in names),
    )
    with contextlib.suppress(AttributeError, TypeError):  # an immutable class: recompute later
        setattr(cls, _SCHEMA_ATTRIBUTE, schema)
    return schema


def _field_names(cls: type) -> tuple[str, ...]:
    return _schema(cls).names


def _hints(cls: type) -> dict[str, Any]:
    return _schema(cls).hints


def _is_transparent(cls: type) -> bool:
    return _schema(cls).transparent
