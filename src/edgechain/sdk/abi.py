"""ABI declarations: the types an application's operations, messages and responses are encoded as.

Every value crossing the application boundary travels as bytes in the canonical encoding of
``edgechain.base.encoding`` (deterministic CBOR, directed by the declared type), so ABI types
are frozen dataclasses (or ints, strs, bytes, lists, dicts, enums, unions of dataclasses)::

    @dataclass(frozen=True)
    class Increment:
        value: int

    class CounterAbi(Abi):
        Operation = Increment
        Response = int
"""

from __future__ import annotations

from typing import Any, ClassVar


class Abi:
    """Declares an application's types; subclass it and set the ones the application uses.

    Unset types are ``NoneType`` (the value ``None``, encoded as CBOR null).
    """

    Operation: ClassVar[Any] = type(None)
    """What ``execute_operation`` receives (a block's user operation, or another app's call)."""
    Response: ClassVar[Any] = type(None)
    """What ``execute_operation`` returns to a calling application."""
    Message: ClassVar[Any] = type(None)
    """What ``send_message`` sends and ``execute_message`` receives on another chain."""
    Parameters: ClassVar[Any] = type(None)
    """The immutable parameters of the application, visible on every chain."""
    InstantiationArgument: ClassVar[Any] = type(None)
    """What ``instantiate`` receives, on the creator chain only."""
