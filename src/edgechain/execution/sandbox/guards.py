"""The run-time half of the sandbox: guards, metered helpers and safe builtins of one contract.

`SandboxGuards` holds the state of one loaded contract (its meter while a call runs, the
call depth, the first fatal violation) and provides every name the instrumented code calls:
RestrictedPython's hooks (`_getattr_`, `_getitem_`, `_write_`, `_getiter_`, …), the fuel
hooks (`_fuel_`, `_enter_`, `_leave_`, `_lambda_`) and the size-pricing helpers (`_binop_`,
`_contains_`, `_text_`, `_star_`, …), plus the builtins a contract sees.

A violation or an exhausted meter is *fatal*: it is recorded, every later hook raises it
again, and the runner raises it when the call returns, so `except Exception:` in contract
code cannot swallow it.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import functools
import importlib
import itertools
import operator
import re
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NoReturn

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from edgechain.execution.errors import OutOfFuel, SandboxViolation
from edgechain.execution.sandbox.fuel import CostTable, FuelMeter, SandboxLimits
from edgechain.execution.sandbox.policy import (
    SDK_PACKAGE,
    SERVICE_ONLY_SDK_NAMES,
    STDLIB_ALLOWED_NAMES,
    is_sdk_module,
)

CONTRACT_FILENAME_PREFIX = "<contract>/"
"""Prefix of the file name of every code object compiled from contract source."""

REFUSED_ATTRIBUTES = frozenset(
    {
        "tb_frame", "tb_next", "tb_lasti", "tb_lineno",
        "f_back", "f_builtins", "f_code", "f_generator", "f_globals", "f_locals", "f_trace",
        "f_lasti", "f_lineno",
        "co_code", "co_consts", "co_names",
        "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
        "cr_await", "cr_frame", "cr_code", "cr_origin", "cr_running",
        "ag_await", "ag_frame", "ag_code", "ag_running",
        "mro", "with_traceback", "throw",
    }
)  # fmt: skip
"""Public attribute names that lead to frames, code or class internals; refused on any object."""

REFUSED_TYPES: tuple[type, ...] = (
    types.FrameType,
    types.TracebackType,
    types.CodeType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
)
"""Objects whose attributes a contract may not read at all."""

BUILTIN_METHOD_TYPES: tuple[type, ...] = (
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.BuiltinMethodType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
)
"""What reading a method of a builtin class gives: C code that Python does not meter."""

SIZED_BUILTINS: tuple[type, ...] = (str, bytes, list, tuple, dict)

GUARDED_BASES: tuple[type, ...] = (str, bytes, list, tuple, dict, int)

NOT_PLAIN_TYPES: tuple[type, ...] = (
    type,
    super,
    BaseException,
    types.ModuleType,
    *REFUSED_TYPES,
    *GUARDED_BASES,
)
"""Objects whose attribute reads need the full guard (all others take the fast path)."""
"""Builtin classes whose construction (also of subclasses) is priced by `_call_`."""
"""Builtin types whose methods are priced by the size of the data they touch."""

CLASS_LEVEL_METHODS = frozenset({"fromkeys", "from_bytes", "fromhex", "maketrans"})
"""Methods that may be read from a builtin class itself (`dict.fromkeys`); others only on instances."""

CHEAP_METHODS = frozenset(
    {
        "append", "keys", "values", "items", "popitem", "clear",
        "bit_length", "bit_count", "conjugate", "as_integer_ratio", "is_integer",
        "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isascii",
        "isdecimal", "isnumeric", "isidentifier", "isprintable", "istitle",
    }
)  # fmt: skip
"""Methods of builtin types that cost no more than the statement calling them (the `is*`
checks scan the string, but their cost was paid when the string was built, once per call)."""

_WIDTH_DIGITS = re.compile(r"\d+")

_ADDRESS_TEXT = re.compile(r" at 0x[0-9a-fA-F]+")
"""How CPython's default repr shows an object's address (`<X object at 0x7f…>`)."""

_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "<<": operator.lshift,
    ">>": operator.rshift,
    "|": operator.or_,
    "^": operator.xor,
    "&": operator.and_,
}

_COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_COMPARED_BY_CONTENT: tuple[type, ...] = (str, bytes, list, tuple, dict)

_NESTED_TYPES: tuple[type, ...] = (list, tuple, dict, str, bytes)
"""What `deep_size` looks inside (or measures) among a container's elements."""

_INPLACE_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
}

_KEYED_DICT_METHODS = frozenset({"get", "setdefault", "pop"})
"""Dict methods that hash one key: priced as one element, the key checked."""

_HASH_EXACT = 2**61 - 1
"""Integers strictly between -(2**61 - 1) and 2**61 - 1 hash to distinct values."""

_SMALL_INT = 2**63 - 1
"""Integers of one 64-bit word: `+ - * // % >> & | ^` on two of them are priced at zero."""

_FREE_SMALL_INT_OPERATORS = frozenset({"+", "-", "*", "//", "%", ">>", "&", "|", "^"})
_FREE_SMALL_INT_INPLACE = frozenset(op + "=" for op in _FREE_SMALL_INT_OPERATORS)

SAFE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    ArithmeticError, AssertionError, AttributeError, Exception, IndexError, KeyError,
    LookupError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError,
    ValueError, ZeroDivisionError,
)  # fmt: skip
"""Exception classes a contract may raise and catch."""


def int_words(value: int) -> int:
    """The number of 64-bit words of `value` (at least 1)."""
    return int.bit_length(value) // 64 + 1


def int_cost(words: int) -> int:
    """Elements charged for making an integer of `words` words (grows quadratically when big)."""
    return words + words * words // 4096


_LENGTH_TYPES: tuple[type, ...] = (str, bytes, list, tuple, dict, range)


def true_len(value: Any) -> int:
    """The length of a builtin container, ignoring a `__len__` a subclass may define."""
    for base in _LENGTH_TYPES:
        if isinstance(value, base):
            length: int = base.__len__(value)  # type: ignore[attr-defined]
            return length
    return len(value)


def data_size(value: object) -> int:
    """The size in elements that pricing uses: length of builtin containers, words of integers."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return int_words(value)
    if isinstance(value, str | bytes | list | tuple | dict):
        return true_len(value)
    return 1


class ItemWriteProxy:
    """Lets contract code assign items of an SDK object (`view[key] = value`) but not attributes."""

    __slots__ = ("_guards", "_target")
    _target: Any
    _guards: SandboxGuards

    def __init__(self, target: object, guards: SandboxGuards) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_guards", guards)

    def __getitem__(self, key: object) -> object:
        return self._target[key]

    def __setitem__(self, key: object, value: object) -> None:
        self._target[key] = value

    def __delitem__(self, key: object) -> None:
        del self._target[key]

    def __setattr__(self, name: str, value: object) -> NoReturn:
        self._guards.violation(f"assignment to attribute '{name}' of a host object")

    def __delattr__(self, name: str) -> NoReturn:
        self._guards.violation(f"deletion of attribute '{name}' of a host object")


class SandboxGuards:
    """The hooks, helpers and builtins of one loaded contract (see the module docstring)."""

    def __init__(
        self,
        costs: CostTable,
        limits: SandboxLimits,
        import_sibling: Callable[[str], types.ModuleType],
        is_contract_module: Callable[[str], bool],
    ) -> None:
        self.costs = costs
        self.limits = limits
        self.meter: FuelMeter | None = None
        self.depth = 0
        self.fatal: Exception | None = None
        self._import_sibling = import_sibling
        self._is_contract_module = is_contract_module
        self._statement_cost = costs.statement
        self._call_cost = costs.call
        self._plain_types: dict[type, bool] = {}
        self._allowed_names: set[str] = set()
        self._own_types: set[type] = set()
        self._max_int_bits = limits.max_int_digits * 332 // 100
        self._guarded_constructors: dict[type, Callable[..., Any]] = {
            str: self.builtin_str,
            int: self.builtin_int,
            bytes: self.builtin_bytes,
            list: self.builtin_list,
            tuple: self.builtin_tuple,
            dict: self.builtin_dict,
        }

    # -- fatal errors and charging

    def violation(self, construct: str) -> NoReturn:
        """Record and raise a run-time `SandboxViolation`."""
        error = SandboxViolation(construct)
        if self.fatal is None:
            self.fatal = error
        raise error

    def record_fatal(self, error: Exception) -> None:
        """Make a host-side ``error`` fatal for the running call: every later hook (an
        ``except`` handler included) raises it, so contract code cannot catch it. For errors
        that depend on the validator rather than on the chain (a blob it does not store)."""
        if self.fatal is None:
            self.fatal = error

    def charge(self, amount: int) -> None:
        """Charge `amount` fuel to the running call's meter; exhaustion is fatal."""
        meter = self.meter
        if meter is None or self.fatal is not None or not 0 <= amount <= meter._limit - meter._used:
            self._refuse_charge(amount)
        meter._used += amount  # the meter's own check, inlined: this is the hottest path

    def _refuse_charge(self, amount: int) -> NoReturn:
        if self.fatal is not None:
            raise self.fatal
        meter = self.meter
        if meter is None:
            self.violation("contract code ran outside a metered call")
        try:
            meter.charge(amount)
        except OutOfFuel as error:
            self.fatal = error
            raise
        raise AssertionError("unreachable: the meter accepted a charge above what remains")

    def charge_elements(self, count: int) -> None:
        """Charge for `count` elements of data created, copied or scanned."""
        self.charge(max(count, 0) * self.costs.element)

    # -- fuel hooks inserted by the instrumenter

    def fuel(self, statements: int) -> None:
        """`_fuel_(n)`: a block of n statements is entered."""
        amount = statements * self._statement_cost
        meter = self.meter
        if meter is None or self.fatal is not None or amount > meter._limit - meter._used:
            self._refuse_charge(amount)
        meter._used += amount

    def enter(self, statements: int) -> None:
        """`_enter_(n)`: a contract function starts; price the call and check the depth."""
        amount = self._call_cost + statements * self._statement_cost
        meter = self.meter
        if meter is None or self.fatal is not None or amount > meter._limit - meter._used:
            self._refuse_charge(amount)
        meter._used += amount
        if self.depth >= self.limits.max_call_depth:
            self.violation(f"call depth above {self.limits.max_call_depth} (recursion too deep)")
        self.depth += 1

    def leave(self) -> None:
        """`_leave_()`: a contract function returns or raises."""
        self.depth -= 1

    def caught(self) -> None:
        """`_caught_()`: an `except` handler starts; host-dependent errors may not be handled."""
        if self.fatal is not None:
            raise self.fatal
        error = sys.exception()
        if isinstance(error, RecursionError | MemoryError):
            self.violation(f"{type(error).__name__} caught by contract code")

    def wrap_lambda(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`_lambda_(f)`: a contract lambda, priced and depth-checked like a function."""

        @functools.wraps(function)
        def metered_lambda(*args: Any, **kwargs: Any) -> Any:
            self.enter(1)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return metered_lambda

    # -- iteration

    def loop_iter(self, iterable: Iterable[Any]) -> Iterable[Any]:
        """`_loopiter_` for `for` statements: their body pays every iteration; sets are refused."""
        if isinstance(iterable, set | frozenset):
            self.violation("iteration over a set: its order differs between processes")
        return iterable

    def metered_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """`_getiter_`: iterate, charging each item; sets are refused (their order varies)."""
        iterable_type = type(iterable)
        if iterable_type is tuple or iterable_type is dict or iterable_type is str:
            # Built already and unable to grow while iterated (a dict raises if it changes
            # size): its items are paid in one charge. Lists can grow, so they pay per item.
            self.charge(true_len(iterable) * self.costs.iteration)
            return iter(iterable)
        if isinstance(iterable, set | frozenset):
            self.violation("iteration over a set: its order differs between processes")
        iterator = iter(iterable)
        charge = self.charge
        cost = self.costs.iteration

        def items() -> Iterator[Any]:
            for item in iterator:
                charge(cost)
                yield item

        return items()

    def materialize(self, iterable: Iterable[Any]) -> list[Any]:
        """A list of the items of `iterable`, priced per item (sized builtins in one charge)."""
        if isinstance(iterable, set | frozenset):
            self.violation("iteration over a set: its order differs between processes")
        if type(iterable) in _LENGTH_TYPES:
            self.charge(true_len(iterable) * max(self.costs.iteration, self.costs.element))
            return list(iterable)
        return list(self.metered_iter(iterable))

    def iter_unpack_sequence(self, iterable: Any, spec: Any, getiter: Any) -> Any:
        """`_iter_unpack_sequence_`: `for a, b in …`; unpacking each item is metered."""
        return guarded_iter_unpack_sequence(self.loop_iter(iterable), spec, getiter)  # type: ignore[no-untyped-call]

    def unpack_sequence(self, iterable: Any, spec: Any, getiter: Any) -> Any:
        """`_unpack_sequence_`: `a, b = …` through the metered iterator."""
        return guarded_unpack_sequence(iterable, spec, getiter)  # type: ignore[no-untyped-call]

    def star(self, iterable: Iterable[Any]) -> list[Any]:
        """`_star_(x)` for `*x`: priced before Python builds the argument tuple."""
        return self.materialize(iterable)

    def star_kw(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """`_star_kw_(x)` for `**x`: priced by size."""
        if not isinstance(mapping, dict):
            self.violation(f"** unpacking of a {type(mapping).__name__}; use a dict")
        self.charge_elements(true_len(mapping))
        return mapping

    # -- attribute access

    def fast_operators(self) -> dict[str, Callable[..., Any]]:
        """`_binop_`, `_inplacevar_` and `_compare_` with their common case (one-word integers,
        which cost nothing beyond their statement) in closures; the rest goes to the methods."""
        small = _SMALL_INT
        operators = _OPERATORS
        inplace_operators = _INPLACE_OPERATORS
        comparisons = _COMPARISONS
        free = _FREE_SMALL_INT_OPERATORS
        free_inplace = _FREE_SMALL_INT_INPLACE
        slow_binop = self.binop
        slow_inplace = self.inplace
        slow_compare = self.compare
        int_type = int

        def binop(op: str, left: Any, right: Any) -> Any:
            if (
                type(left) is int_type
                and type(right) is int_type
                and op in free
                and -small <= left <= small
                and -small <= right <= small
            ):
                return operators[op](left, right)
            return slow_binop(op, left, right)

        def inplace(op: str, current: Any, value: Any) -> Any:
            if (
                type(current) is int_type
                and type(value) is int_type
                and op in free_inplace
                and -small <= current <= small
                and -small <= value <= small
            ):
                return inplace_operators[op](current, value)
            return slow_inplace(op, current, value)

        def compare(op: str, left: Any, right: Any) -> Any:
            if (
                type(left) is int_type
                and type(right) is int_type
                and -small <= left <= small
                and -small <= right <= small
            ):
                return comparisons[op](left, right)
            return slow_compare(op, left, right)

        return {"_binop_": binop, "_inplacevar_": inplace, "_compare_": compare}

    def fast_getattr(self) -> Callable[..., Any]:
        """`_getattr_`: `guarded_getattr` with its most common case (an attribute of an
        instance of an ordinary class, under a name already checked) in a closure."""
        allowed_names = self._allowed_names
        plain_types = self._plain_types
        guarded_getattr = self.guarded_getattr
        missing = dataclasses.MISSING
        needs_look = frozenset({type, list, dict, set})

        def read_attribute(obj: Any, name: str, default: Any = missing) -> Any:
            if default is missing and name in allowed_names and plain_types.get(type(obj)):
                # An instance of a class the contract defined.
                value = getattr(obj, name)
                value_type = type(value)
                if value_type not in needs_look:
                    return value
                if value_type is not type:
                    own = getattr(obj, "__dict__", None)
                    if own is not None and name in own:
                        return value  # the instance's own container
            return guarded_getattr(obj, name, default)

        return read_attribute

    def guarded_getattr(self, obj: Any, name: str, default: Any = dataclasses.MISSING) -> Any:
        """`_getattr_` and the `getattr` builtin: refuse private names, frames and formatters."""
        if name not in self._allowed_names:
            self._check_attribute_name(name)
        obj_type = type(obj)
        plain = self._plain_types.get(obj_type)
        if plain is None:
            plain = self._plain_types[obj_type] = not issubclass(
                obj_type, NOT_PLAIN_TYPES
            ) and self._is_contract_module(obj_type.__module__)
        if not plain and not issubclass(obj_type, NOT_PLAIN_TYPES):
            plain = True  # a host instance: the same path, its containers shielded below
        if plain:
            # Instances of ordinary classes: only what they return needs a look.
            if default is dataclasses.MISSING:
                value = getattr(obj, name)
            else:
                value = getattr(obj, name, default)
            return self._shielded(obj, name, self.guard_callable(value))
        if isinstance(obj, REFUSED_TYPES):
            self.violation(f"access to attributes of a {type(obj).__name__}")
        if name in ("format", "format_map") and (
            isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
        ):
            self.violation(f"str.{name}() reaches attributes through its fields; use f-strings")
        if isinstance(obj, types.ModuleType):
            return self._module_attribute(obj, name, default)
        if isinstance(obj, BaseException):
            self._check_exception_arguments(obj)
        if name == "register" and isinstance(obj, type):
            # ABCMeta.register would make host classes virtual subclasses of a shared ABC.
            self.violation(f"'{obj.__name__}.register': classes are shared with the host")
        try:
            value = getattr(obj, name)
        except AttributeError:
            if default is dataclasses.MISSING:
                raise
            return default
        if isinstance(obj, type) and issubclass(obj, (*SIZED_BUILTINS, int)):
            if isinstance(value, BUILTIN_METHOD_TYPES):
                if name not in CLASS_LEVEL_METHODS:
                    self.violation(
                        f"unbound method '{obj.__name__}.{name}': call it on a value instead"
                    )
                return self._metered_method(obj, name, value)
            return value
        if isinstance(obj, (*SIZED_BUILTINS, int)):
            return self._metered_method(obj, name, value)
        if isinstance(obj, super) and isinstance(value, BUILTIN_METHOD_TYPES):
            owner = getattr(value, "__self__", None)
            if isinstance(owner, GUARDED_BASES):
                return self._metered_method(owner, name, value)
        return self._shielded(obj, name, self.guard_callable(value))

    def _shielded(self, obj: Any, name: str, value: Any) -> Any:
        """A mutable container the host owns, as a read-only view or a priced copy.

        Contract code may change the lists and dicts it made; one held by a host class,
        instance or module (an SDK class attribute, inherited or not) is shared with other
        applications and the host, so contract code gets a view it cannot change.
        """
        value_type = type(value)
        if value_type is not list and value_type is not dict and value_type is not set:
            return value
        if self._contract_owns_attribute(obj, name):
            return value
        if value_type is dict:
            return types.MappingProxyType(value)
        self.charge_elements(true_len(value) if value_type is list else len(value))
        return list(value) if value_type is list else frozenset(value)

    def _contract_owns_attribute(self, obj: Any, name: str) -> bool:
        if isinstance(obj, types.ModuleType):
            return self._is_contract_module(obj.__name__)
        if not isinstance(obj, type):
            instance_dict = getattr(obj, "__dict__", None)
            if isinstance(instance_dict, dict) and name in instance_dict:
                return self._is_contract_module(type(obj).__module__)
        owner_classes = obj.__mro__ if isinstance(obj, type) else type(obj).__mro__
        for owner in owner_classes:
            if name in vars(owner):
                return self._is_contract_module(owner.__module__)
        return False

    def _check_attribute_name(self, name: object) -> None:
        if type(name) is not str:
            self.violation("attribute name that is not a str")
        if name.startswith("_"):
            self.violation(f"access to private attribute '{name}'")
        if name in REFUSED_ATTRIBUTES:
            self.violation(f"access to attribute '{name}'")
        if len(self._allowed_names) < 4096:
            self._allowed_names.add(name)

    def builtin_hasattr(self, obj: Any, name: str) -> bool:
        """The `hasattr` builtin, through the same guard as `getattr`."""
        marker = object()
        return self.guarded_getattr(obj, name, marker) is not marker

    def _module_attribute(self, module: types.ModuleType, name: str, default: Any) -> Any:
        module_name = module.__name__
        allowed: bool
        if self._is_contract_module(module_name):
            allowed = True
        elif module_name in STDLIB_ALLOWED_NAMES:
            allowed = name in STDLIB_ALLOWED_NAMES[module_name]
        elif module_name == "edgechain":
            allowed = name == "sdk"
        elif is_sdk_module(module_name):
            allowed = self._sdk_name_allowed(module, name)
        else:
            allowed = False
        if not allowed:
            self.violation(f"access to '{name}' of module '{module_name}'")
        if default is dataclasses.MISSING:
            value = getattr(module, name)
        else:
            value = getattr(module, name, default)
        return self._shielded(module, name, self.guard_callable(value))

    @staticmethod
    def _sdk_name_allowed(module: types.ModuleType, name: str) -> bool:
        if name in SERVICE_ONLY_SDK_NAMES:
            return False
        value = getattr(module, name, None)
        if isinstance(value, types.ModuleType):
            return is_sdk_module(value.__name__)
        exported = getattr(module, "__all__", None)
        if exported is not None:
            return name in exported
        defined_in = getattr(value, "__module__", None)
        if isinstance(defined_in, str):
            return is_sdk_module(defined_in)
        return isinstance(value, int | str | bytes | tuple) or value is None

    def _metered_method(self, obj: Any, name: str, method: Any) -> Any:
        if name in CHEAP_METHODS or not callable(method):
            return method
        guards = self
        if name in _KEYED_DICT_METHODS and isinstance(obj, dict):
            check_key = self.check_key
            charge = self.charge
            element = self.costs.element

            def keyed_method(*args: Any, **kwargs: Any) -> Any:
                if args:
                    check_key(args[0])
                charge(element)
                return method(*args, **kwargs)

            return keyed_method

        def metered_method(*args: Any, **kwargs: Any) -> Any:
            args = guards._price_method_call(obj, name, args, kwargs)
            return method(*args, **kwargs)

        return metered_method

    def _price_method_call(
        self, obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Charge for a builtin method call before it runs; may materialize iterable arguments."""
        if "key" in kwargs:
            kwargs["key"] = self.guard_callable(kwargs["key"])
        for value in (*args, *kwargs.values()):
            if isinstance(value, set | frozenset):
                self.violation(f"a set passed to {type(obj).__name__}.{name}()")
        own_size = data_size(obj) if not isinstance(obj, type) else 0
        argument_size = sum(data_size(value) for value in args)
        if name == "join" and args:
            parts = self.materialize(args[0])
            total = sum(data_size(part) for part in parts) + own_size * true_len(parts)
            self.charge_elements(total)
            return (parts, *args[1:])
        if name in ("extend", "update", "fromkeys") and args:
            items: Any = args[0]
            if not isinstance(items, dict):
                items = self.materialize(items)
                if name == "fromkeys":
                    for key in items:
                        self.check_key(key)
                elif name == "update":
                    self._check_pair_keys(items)
            self.charge_elements(true_len(items) + 1)
            return (items, *args[1:])
        if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
            self.charge_elements(max(args[0], own_size))
            return args
        if name in ("get", "setdefault", "pop") and isinstance(obj, dict):
            if args:
                self.check_key(args[0])
            self.charge_elements(1)
            return args
        if name == "to_bytes":
            length = args[0] if args else kwargs.get("length", 1)
            self.charge_elements(length if isinstance(length, int) else 1)
            return args
        if name in ("index", "count", "remove") and isinstance(obj, list | tuple) and args:
            # Each element is compared with the argument: as deep as it goes, at most.
            self.charge_elements(own_size * self.deep_size(args[0]))
            return args
        self.charge_elements(own_size + argument_size)
        if name == "replace" and true_len(args) >= 2 and isinstance(obj, str | bytes):
            count = str.count(obj, args[0]) if isinstance(obj, str) else bytes.count(obj, args[0])
            if true_len(args) >= 3 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            self.charge_elements(own_size + count * data_size(args[1]))
        elif name == "expandtabs" and isinstance(obj, str | bytes):
            tab_size = args[0] if args else kwargs.get("tabsize", 8)
            tabs = str.count(obj, "\t") if isinstance(obj, str) else bytes.count(obj, b"\t")
            self.charge_elements(tabs * (tab_size if isinstance(tab_size, int) else 8))
        elif name == "translate" and isinstance(obj, str) and args and isinstance(args[0], dict):
            longest = max((data_size(value) for value in dict.values(args[0])), default=1)
            self.charge_elements(own_size * longest)
        elif name == "encode":
            self.charge_elements(own_size * 4)
        elif name == "sort" and isinstance(obj, list):
            self.charge_elements(self.deep_size(obj) * max(int.bit_length(true_len(obj)), 1))
        return args

    # -- items and writes

    def getitem(self, obj: Any, key: Any) -> Any:
        """`_getitem_`: a slice of a builtin sequence is priced by the length it copies, a tuple
        key by its length (hashing it walks it)."""
        if isinstance(key, slice) and isinstance(obj, list | tuple | str | bytes):
            self.charge_elements(true_len(range(*key.indices(true_len(obj)))))
        elif isinstance(obj, dict | types.MappingProxyType):
            self.check_key(key)
        elif isinstance(key, tuple):
            self.charge_elements(true_len(key))
        return obj[key]

    def item_key(self, key: Any) -> Any:
        """`_key_(k)` for a key of a dict display or comprehension, and of `obj[k] = …` with
        several targets: checked like any key that goes into a dict."""
        self.check_key(key)
        return key

    def set_item(self, value: Any, target: Any, key: Any) -> None:
        """`_setitem_(v, obj, k)` for `obj[k] = v`: a dict key is checked first."""
        if isinstance(target, dict):
            self.check_key(key)
        elif isinstance(key, tuple):
            self.charge_elements(true_len(key))
        target[key] = value

    def delete_item(self, target: Any, key: Any) -> None:
        """`_delitem_(obj, k)` for `del obj[k]`: a dict key is checked first."""
        if isinstance(target, dict):
            self.check_key(key)
        del target[key]

    def check_key(self, key: Any) -> None:
        """Refuse a dict key whose hash a contract can make collide with others' (hash flooding
        turns each dict operation linear, unpriced); price a tuple key by its length.

        Strings and bytes hash with a per-process secret; integers hash to themselves below
        2**61 - 1, but larger ones wrap (`k * (2**61 - 1)` all hash to 0), and so do tuples and
        dataclasses made of them. Contract classes cannot define `__hash__`.
        """
        key_type = type(key)
        if key_type is str or key_type is bytes or key_type is bool or key is None:
            return
        if key_type is int:
            if not -_HASH_EXACT < key < _HASH_EXACT:
                self._refuse_colliding_key()
            return
        self._check_key_parts(key, 0)

    def _check_key_parts(self, key: Any, depth: int) -> None:
        if depth > 16:
            self.violation("a dict key nested deeper than 16 levels")
        if isinstance(key, int):
            if not -_HASH_EXACT < key < _HASH_EXACT:
                self._refuse_colliding_key()
        elif isinstance(key, tuple):
            self.charge_elements(true_len(key))
            for part in key:
                self._check_key_parts(part, depth + 1)
        elif dataclasses.is_dataclass(key) and not isinstance(key, type):
            fields = dataclasses.fields(key)
            self.charge_elements(len(fields))
            for field in fields:
                self._check_key_parts(getattr(key, field.name), depth + 1)

    def _refuse_colliding_key(self) -> NoReturn:
        self.violation(
            "an integer dict key of 61 bits or more: such keys can be chosen to share a hash"
        )

    def builtin_isinstance(self, value: Any, classes: Any) -> bool:
        """The `isinstance` builtin: a tuple of classes is priced by its (nested) size."""
        self._price_class_tuple(classes)
        return isinstance(value, classes)

    def builtin_issubclass(self, cls: Any, classes: Any) -> bool:
        """The `issubclass` builtin: a tuple of classes is priced by its (nested) size."""
        self._price_class_tuple(classes)
        return issubclass(cls, classes)

    def _price_class_tuple(self, classes: Any) -> None:
        pending = [classes]
        while pending:
            current = pending.pop()
            if isinstance(current, tuple):
                self.charge_elements(true_len(current))
                pending.extend(current)

    def write(self, obj: Any) -> Any:
        """`_write_`: the object an assignment `obj.attr = …` or `obj[key] = …` may change."""
        obj_type = type(obj)
        if obj_type is list or obj_type is dict or obj_type in self._own_types:
            return obj
        if isinstance(obj, list | dict):
            return obj
        if isinstance(obj, (type, types.ModuleType, *REFUSED_TYPES)):
            self.violation(f"assignment to a {type(obj).__name__}")
        if self._is_contract_module(obj_type.__module__):
            self._own_types.add(obj_type)
            return obj
        if obj_type.__module__.startswith("edgechain."):
            return ItemWriteProxy(obj, self)
        self.violation(f"assignment into a {type(obj).__name__}")

    def augmented_attribute(self, target: Any, name: str, op: str, value: Any) -> None:
        """`_augattr_(obj, name, op, value)` for `obj.name op= value`."""
        current = self.guarded_getattr(target, name)
        setattr(target, name, self.binop(op[:-1], current, value))

    def augmented_item(self, target: Any, key: Any, op: str, value: Any) -> None:
        """`_augitem_(obj, key, op, value)` for `obj[key] op= value`."""
        if isinstance(target, dict):
            self.check_key(key)
        elif isinstance(key, tuple):
            self.charge_elements(true_len(key))
        current = target[key]
        target[key] = self.binop(op[:-1], current, value)

    def inplace(self, op: str, current: Any, value: Any) -> Any:
        """`_inplacevar_(op, x, y)` for `x op= y` on a name."""
        if (
            type(current) is int
            and type(value) is int
            and -_SMALL_INT <= current <= _SMALL_INT
            and -_SMALL_INT <= value <= _SMALL_INT
            and op in _FREE_SMALL_INT_INPLACE
        ):
            return _INPLACE_OPERATORS[op](current, value)  # one-word integers cost nothing extra
        operator_function = _INPLACE_OPERATORS.get(op)
        if operator_function is None:
            self.violation(f"augmented assignment '{op}'")
        self._price_binop(op[:-1], current, value)
        return self._checked_result(operator_function(current, value))

    def apply(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`_apply_(f, *args, **kwargs)`: arguments were already priced by `_star_`."""
        return self.call_function(function, *args, **kwargs)

    def call_function(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`_call_(f, …)`: builtin constructors (and subclasses) go to their priced versions."""
        function_type = type(function)
        if function_type is type:
            guarded = self._guarded_constructors.get(function)
            if guarded is not None:
                return guarded(*args, **kwargs)
            if issubclass(function, GUARDED_BASES):
                return function(*self._priced_constructor_arguments(function, args), **kwargs)
        elif function_type is types.MethodWrapperType and isinstance(
            function.__self__, GUARDED_BASES
        ):
            # `super().__init__(iterable)` in a list or dict subclass fills it from `iterable`.
            owner_type = type(function.__self__)
            base = next(base for base in GUARDED_BASES if issubclass(owner_type, base))
            return function(*self._priced_builtin_arguments(base, args))
        return function(*args, **kwargs)

    def _priced_constructor_arguments(self, cls: type, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not args:
            return args
        base = next(base for base in GUARDED_BASES if issubclass(cls, base))
        if cls.__new__ is not base.__new__ or (
            cls.__init__ is not base.__init__  # type: ignore[misc]
            and base in (list, dict)
        ):
            # An own constructor (contract code, metered; or host code such as a NamedTuple's)
            # decides what its arguments mean; its super().__init__ call is priced above.
            return args
        return self._priced_builtin_arguments(cls, args)

    def _priced_builtin_arguments(self, cls: type, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Price the arguments of a builtin constructor of `cls` (or of its base's __init__)."""
        if not args:
            return args
        first = args[0]
        if issubclass(cls, list | tuple):
            return (self.materialize(first), *args[1:])
        if issubclass(cls, dict):
            if isinstance(first, dict):
                self.charge_elements(true_len(first))
                return args
            return (self.materialize(first), *args[1:])
        if issubclass(cls, str):
            if true_len(args) == 1:
                self.charge_elements(self.text_size(first))
            else:
                self.charge_elements(data_size(first))
            return args
        if issubclass(cls, bytes):
            if isinstance(first, int):
                self.charge_elements(first)
                return args
            if isinstance(first, str):
                self.charge_elements(4 * true_len(first))
                return args
            return (self.materialize(first), *args[1:])
        if isinstance(first, str | bytes) and true_len(first) > self.limits.max_int_digits:
            self.violation(f"int() of text longer than {self.limits.max_int_digits}")
        return args

    def guard_callable(self, function: Any) -> Any:
        """A callable to hand to host code: builtin constructors replaced by their priced versions."""
        if type(function) is type and (
            function in self._guarded_constructors or issubclass(function, GUARDED_BASES)
        ):
            return functools.partial(self.call_function, function)
        return function

    # -- operators

    def binop(self, op: str, left: Any, right: Any) -> Any:
        """`_binop_(op, a, b)`: price the result's size, compute, refuse floats and sets."""
        if (
            type(left) is int
            and type(right) is int
            and -_SMALL_INT <= left <= _SMALL_INT
            and -_SMALL_INT <= right <= _SMALL_INT
            and op in _FREE_SMALL_INT_OPERATORS
        ):
            return _OPERATORS[op](left, right)  # one-word integers cost nothing extra
        self._price_binop(op, left, right)
        return self._checked_result(_OPERATORS[op](left, right))

    def _checked_result(self, result: Any) -> Any:
        if isinstance(result, float | complex):
            self.violation("an operation produced a float: contracts use integers")
        if isinstance(result, set | frozenset):
            self.violation("an operation produced a set: its order differs between processes")
        return result

    def _price_binop(self, op: str, left: Any, right: Any) -> None:
        left_int = isinstance(left, int)
        right_int = isinstance(right, int)
        if left_int and right_int:
            left_words = int_words(left)
            right_words = int_words(right)
            if op == "**":
                if right < 0:
                    self.violation("a negative exponent makes a float: contracts use integers")
                result_bits = max(int.bit_length(left), 1) * right
                self.charge_elements(int_cost(result_bits // 64 + 1) + int.bit_length(right))
            elif op == "<<":
                self.charge_elements(int_cost(left_words + max(right, 0) // 64) - 1)
            elif op in ("*", "//", "%"):
                self.charge_elements(left_words * right_words - 1)
            elif left_words > 1 or right_words > 1:
                self.charge_elements(max(left_words, right_words))
            return
        if op == "*":
            if left_int and isinstance(right, str | bytes | list | tuple):
                self.charge_elements(true_len(right) * max(left, 0))
                return
            if right_int and isinstance(left, str | bytes | list | tuple):
                self.charge_elements(true_len(left) * max(right, 0))
                return
        if op == "%" and isinstance(left, str | bytes):
            self._price_percent_format(left, right)
            return
        self.charge_elements(data_size(left) + data_size(right) - 2)

    def _price_percent_format(self, template: str | bytes, arguments: Any) -> None:
        text = template.decode("latin-1") if isinstance(template, bytes) else template
        if "*" in text:
            self.violation("'*' width in %-formatting: widths must be written in the template")
        widths = [int(digits) for digits in _WIDTH_DIGITS.findall(text) if true_len(digits) < 12]
        if any(true_len(digits) >= 12 for digits in _WIDTH_DIGITS.findall(text)):
            self.violation("a %-format width above 10**11")
        argument_values = arguments if isinstance(arguments, tuple) else (arguments,)
        size = true_len(text) + sum(widths)
        for value in argument_values:
            size += self.text_size(value)
        self.charge_elements(size)

    def compare(self, op: str, left: Any, right: Any) -> Any:
        """`_compare_(op, a, b)`: containers and text are priced by the smaller one's size,
        nested containers included (comparing walks them in C)."""
        left_type = type(left)
        right_type = type(right)
        if not (left_type is int and right_type is int):
            if issubclass(left_type, _COMPARED_BY_CONTENT) and issubclass(
                right_type, _COMPARED_BY_CONTENT
            ):
                self.charge_elements(min(self.deep_size(left), self.deep_size(right)))
            elif isinstance(left, int) and isinstance(right, int):
                self.charge_elements(min(int_words(left), int_words(right)) - 1)
        return _COMPARISONS[op](left, right)

    def sized(self, value: Any) -> Any:
        """`_sized_(x)`: an operand of a chained comparison, priced by its (deep) size."""
        if isinstance(value, _COMPARED_BY_CONTENT):
            self.charge_elements(self.deep_size(value))
        return value

    def deep_size(self, value: Any) -> int:
        """Elements of `value` with the lists, tuples and dicts inside it (each counted once).

        The walk is host work proportional to data the contract already paid to build; its
        result is charged before the operation it prices, so repeating it runs out of fuel.
        """
        if not isinstance(value, list | tuple | dict):
            return data_size(value)
        total = 0
        seen: set[int] = set()
        pending: list[Any] = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, list | tuple | dict):
                if id(item) in seen:
                    continue
                seen.add(id(item))
                total += true_len(item) + 1
                if isinstance(item, dict):
                    pending.extend(dict.keys(item))
                    pending.extend(dict.values(item))
                else:
                    # Element types are gathered in C: a flat list costs no Python-level loop.
                    nested_types = {
                        element_type
                        for element_type in set(map(type, item))
                        if issubclass(element_type, _NESTED_TYPES)
                    }
                    if nested_types:
                        pending.extend(
                            itertools.compress(
                                item, map(nested_types.__contains__, map(type, item))
                            )
                        )
            else:
                total += data_size(item)
        return total

    def contains(self, container: Any, item: Any) -> bool:
        """`_contains_(b, a)` for `a in b`: priced by what the membership test scans."""
        if isinstance(container, dict | set | frozenset | types.MappingProxyType):
            self.check_key(item)
            self.charge(self.costs.element)
        elif isinstance(container, range):
            if isinstance(item, int):
                self.charge(self.costs.element)
            else:
                self.charge_elements(true_len(container))
        elif isinstance(container, str | bytes):
            self.charge_elements(true_len(container) + data_size(item))
        elif isinstance(container, list | tuple):
            # Each element is compared with the item: as deep as the item goes, at most.
            self.charge_elements(true_len(container) * self.deep_size(item))
        elif isinstance(container, Iterator) or not hasattr(type(container), "__contains__"):
            return any(value == item for value in self.metered_iter(container))
        else:
            self.charge(self.costs.element)
        return item in container

    # -- text

    def text(self, value: Any, conversion: int, spec: str) -> str:
        """`_text_(value, conversion, spec)` for an f-string field."""
        widths = _WIDTH_DIGITS.findall(spec)
        if any(true_len(digits) >= 12 for digits in widths):
            self.violation("an f-string width above 10**11")
        self.charge_elements(self.text_size(value) + sum(int(digits) for digits in widths))
        if conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("a"):
            value = ascii(value)
        elif conversion == ord("s"):
            value = str(value)
        return format(value, spec)

    def text_size(self, value: Any, depth: int = 0) -> int:
        """The priced size of `value`'s text; refuses values whose text varies between runs."""
        if depth > 32:
            self.violation("text of a value nested deeper than 32 levels")
        if value is None or isinstance(value, bool):
            return 5
        if isinstance(value, int):
            if int.bit_length(value) > self._max_int_bits:
                self.violation(f"text of an integer above {self.limits.max_int_digits} digits")
            return int.bit_length(value) // 3 + 2
        if isinstance(value, str):
            return true_len(value) + 2
        if isinstance(value, bytes):
            return 4 * true_len(value) + 3
        if isinstance(value, enum.Enum):
            return 32 + true_len(value.name) + self.text_size(value.value, depth + 1)
        if isinstance(value, list | tuple):
            self.charge_elements(true_len(value))
            return 2 + sum(self.text_size(item, depth + 1) + 2 for item in value)
        if isinstance(value, dict):
            self.charge_elements(true_len(value))
            return 2 + sum(
                self.text_size(key, depth + 1) + self.text_size(item, depth + 1) + 2
                for key, item in dict.items(value)
            )
        if isinstance(value, BaseException):
            self._check_exception_arguments(value)
            return 32 + self.text_size(value.args, depth + 1)
        value_type = type(value)
        if self._has_own_text(value_type):
            return 64
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return true_len(value_type.__qualname__) + sum(
                true_len(field.name) + self.text_size(getattr(value, field.name), depth + 1) + 3
                for field in dataclasses.fields(value)
                if field.repr
            )
        self.violation(
            f"text of a {value_type.__name__}: its default repr differs between validators"
        )

    def _check_exception_arguments(self, error: BaseException) -> None:
        """Refuse an exception whose message a builtin wrote with an object's address in it
        (`[].index(obj)`: "<X object at 0x…> is not in list")."""
        for argument in error.args:
            if isinstance(argument, str) and _ADDRESS_TEXT.search(argument):
                self.violation(
                    f"the message of a {type(error).__name__} holds a memory address, "
                    "which differs between validators"
                )

    def _has_own_text(self, value_type: type) -> bool:
        """Whether the type writes its own text deterministically (contract code or edgechain)."""
        for method_name in ("__repr__", "__str__"):
            method = getattr(value_type, method_name, None)
            code = getattr(method, "__code__", None)
            if code is not None and code.co_filename.startswith(CONTRACT_FILENAME_PREFIX):
                return True
        module = getattr(value_type, "__module__", "")
        return (
            module.startswith("edgechain.")
            and not self._is_contract_module(module)
            and not dataclasses.is_dataclass(value_type)
            and getattr(value_type, "__repr__", None) is not object.__repr__
        )

    def builtin_str(
        self, value: Any = "", encoding: str | None = None, errors: str = "strict"
    ) -> str:
        """The `str` builtin: deterministic text only, priced by size."""
        if encoding is not None:
            if not isinstance(value, bytes):
                self.violation("str(value, encoding) needs bytes")
            self.charge_elements(true_len(value))
            return str(value, encoding, errors)
        self.charge_elements(self.text_size(value))
        return str(value)

    def builtin_repr(self, value: Any) -> str:
        """The `repr` builtin: deterministic text only, priced by size."""
        self.charge_elements(self.text_size(value))
        return repr(value)

    # -- builtins that consume iterables or build data

    def builtin_int(self, value: Any = 0, base: Any = dataclasses.MISSING) -> int:
        """The `int` builtin: parsing is priced and capped at `max_int_digits`."""
        if isinstance(value, str | bytes):
            if true_len(value) > self.limits.max_int_digits:
                self.violation(f"int() of text longer than {self.limits.max_int_digits}")
            self.charge_elements(true_len(value))
            return int(value) if base is dataclasses.MISSING else int(value, base)
        if base is not dataclasses.MISSING:
            self.violation("int() with a base needs text")
        if isinstance(value, float):
            self.violation("int() of a float")
        return int(value)

    def builtin_bytes(
        self, source: Any = b"", encoding: str | None = None, errors: str = "strict"
    ) -> bytes:
        """The `bytes` builtin: the length is paid before the bytes are made."""
        if isinstance(source, int):
            self.charge_elements(source)
            return bytes(source)
        if isinstance(source, str):
            if encoding is None:
                self.violation("bytes(str) needs an encoding")
            self.charge_elements(4 * true_len(source))
            return source.encode(encoding, errors)
        return bytes(self.materialize(source))

    def builtin_list(self, iterable: Iterable[Any] = ()) -> list[Any]:
        """The `list` builtin, priced per item."""
        return self.materialize(iterable)

    def builtin_tuple(self, iterable: Iterable[Any] = ()) -> tuple[Any, ...]:
        """The `tuple` builtin, priced per item."""
        return tuple(self.materialize(iterable))

    def builtin_dict(self, source: Any = (), **kwargs: Any) -> dict[Any, Any]:
        """The `dict` builtin, priced per item, its keys checked."""
        if isinstance(source, dict):
            self.charge_elements(true_len(source) + true_len(kwargs))
            return dict(source, **kwargs)
        self.charge_elements(true_len(kwargs))
        pairs = self.materialize(source)
        self._check_pair_keys(pairs)
        return dict(pairs, **kwargs)

    def _check_pair_keys(self, pairs: list[Any]) -> None:
        for pair in pairs:
            if isinstance(pair, tuple | list) and true_len(pair) == 2:
                self.check_key(pair[0])

    def builtin_sorted(
        self, iterable: Iterable[Any], *, key: Any = None, reverse: bool = False
    ) -> list[Any]:
        """The `sorted` builtin: the items' nested size times log2(n) (each item takes part in
        about log2(n) comparisons; key calls are metered as contract calls)."""
        items = self.materialize(iterable)
        self.charge_elements(self.deep_size(items) * max(int.bit_length(true_len(items)), 1))
        return sorted(items, key=self.guard_callable(key), reverse=reverse)

    def builtin_sum(self, iterable: Iterable[Any], start: Any = 0) -> Any:
        """The `sum` builtin, priced per item and per addition; not of sequences (quadratic)."""
        if isinstance(start, SIZED_BUILTINS):
            self.violation("sum() of sequences is quadratic; use join or extend")
        total = start
        for item in self.metered_iter(iterable):
            if isinstance(item, SIZED_BUILTINS):
                self.violation("sum() of sequences is quadratic; use join or extend")
            total = self.binop("+", total, item)
        return total

    def builtin_min(self, *args: Any, **kwargs: Any) -> Any:
        """The `min` builtin, priced per item and by the items' nested size."""
        if "key" in kwargs:
            kwargs["key"] = self.guard_callable(kwargs["key"])
        items = self.materialize(args[0]) if true_len(args) == 1 else list(args)
        self.charge_elements(self.deep_size(items))  # every item is compared once
        return min(items, **kwargs)

    def builtin_max(self, *args: Any, **kwargs: Any) -> Any:
        """The `max` builtin, priced per item and by the items' nested size."""
        if "key" in kwargs:
            kwargs["key"] = self.guard_callable(kwargs["key"])
        items = self.materialize(args[0]) if true_len(args) == 1 else list(args)
        self.charge_elements(self.deep_size(items))  # every item is compared once
        return max(items, **kwargs)

    def builtin_any(self, iterable: Iterable[Any]) -> bool:
        """The `any` builtin, priced per item."""
        return any(self.metered_iter(iterable))

    def builtin_all(self, iterable: Iterable[Any]) -> bool:
        """The `all` builtin, priced per item."""
        return all(self.metered_iter(iterable))

    def builtin_enumerate(
        self, iterable: Iterable[Any], start: int = 0
    ) -> Iterator[tuple[int, Any]]:
        """The `enumerate` builtin over a metered iterator."""
        return enumerate(self.metered_iter(iterable), start)

    def builtin_zip(
        self, *iterables: Iterable[Any], strict: bool = False
    ) -> Iterator[tuple[Any, ...]]:
        """The `zip` builtin over metered iterators."""
        return zip(*(self.metered_iter(iterable) for iterable in iterables), strict=strict)

    def builtin_map(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """The `map` builtin over metered iterators."""
        return map(
            self.guard_callable(function), *(self.metered_iter(iterable) for iterable in iterables)
        )

    def builtin_filter(self, function: Any, iterable: Iterable[Any]) -> Iterator[Any]:
        """The `filter` builtin over a metered iterator."""
        return filter(self.guard_callable(function), self.metered_iter(iterable))

    def builtin_reversed(self, sequence: Any) -> Iterator[Any]:
        """The `reversed` builtin over a metered iterator."""
        if isinstance(sequence, set | frozenset):
            self.violation("iteration over a set: its order differs between processes")
        return self.metered_iter(reversed(sequence))

    def builtin_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """The `iter` builtin (one argument), metered."""
        return self.metered_iter(iterable)

    def builtin_property(
        self, fget: Any = None, fset: Any = None, fdel: Any = None, doc: str | None = None
    ) -> property:
        """The `property` builtin; builtin constructors as accessors are priced."""
        return property(
            self.guard_callable(fget), self.guard_callable(fset), self.guard_callable(fdel), doc
        )

    def builtin_staticmethod(self, function: Any) -> Any:
        """The `staticmethod` builtin; a builtin constructor is priced."""
        return staticmethod(self.guard_callable(function))

    def builtin_classmethod(self, function: Any) -> Any:
        """The `classmethod` builtin; a builtin constructor is priced."""
        return classmethod(self.guard_callable(function))

    def builtin_pow(self, base: int, exponent: int, modulus: int | None = None) -> int:
        """The `pow` builtin: priced like `**`; with a modulus, by the modulus' size."""
        if modulus is None:
            result: int = self.binop("**", base, exponent)
            return result
        if not all(isinstance(value, int) for value in (base, exponent, modulus)):
            self.violation("pow() of values that are not integers")
        if exponent < 0:
            self.violation("pow() with a negative exponent")
        words = int_words(modulus)
        self.charge_elements(int_cost(words) * max(int.bit_length(exponent), 1))
        return pow(base, exponent, modulus)

    def builtin_divmod(self, left: int, right: int) -> tuple[int, int]:
        """The `divmod` builtin, priced like `//`."""
        self._price_binop("//", left, right)
        result: tuple[int, int] = self._checked_result(divmod(left, right))
        return result

    def builtin_round(self, value: int, digits: int | None = None) -> int:
        """The `round` builtin on integers, with the digits capped."""
        if not isinstance(value, int):
            self.violation("round() of a value that is not an integer")
        if digits is None:
            return value
        if abs(digits) > self.limits.max_int_digits:
            self.violation(f"round() to more than {self.limits.max_int_digits} digits")
        self.charge_elements(int_cost(int_words(value) + abs(digits) // 19))
        return round(value, digits)

    def radix_text(self, convert: Callable[[int], str]) -> Callable[[int], str]:
        """Wrap `hex`, `oct` or `bin`, priced by the integer's size."""

        def converted(value: int) -> str:
            self.charge_elements(int_words(value) * 64)
            return convert(value)

        return converted

    # -- imports

    def import_module(
        self,
        name: str,
        globals_: Mapping[str, Any] | None = None,
        locals_: Mapping[str, Any] | None = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> types.ModuleType:
        """`__import__`: only the application's modules, the SDK and the allowed stdlib names."""
        self.charge(self.costs.import_module)
        names = tuple(fromlist or ())
        for imported in names:
            if not isinstance(imported, str) or imported.startswith("_"):
                self.violation(f"import of private name {imported!r}")
        if level > 1:
            self.violation("relative import beyond the application's own modules")
        if level == 1:
            if name == "":
                for sibling in names:
                    self._import_sibling(sibling)
                return self._import_sibling("")
            return self._import_sibling(name)
        if name in STDLIB_ALLOWED_NAMES:
            for imported in names:
                if imported not in STDLIB_ALLOWED_NAMES[name]:
                    self.violation(f"'{imported}' may not be imported from '{name}'")
            return importlib.import_module(name)
        if is_sdk_module(name):
            module = importlib.import_module(name)
            if not names:
                return importlib.import_module(SDK_PACKAGE.split(".")[0])
            # `from edgechain.sdk… import a, b` reads the names straight off the module that
            # `__import__` returns: hand over a module holding only those, containers shielded.
            selected = types.ModuleType(name)
            for imported in names:
                if not hasattr(module, imported):
                    try:
                        importlib.import_module(f"{name}.{imported}")
                    except ModuleNotFoundError:
                        self.violation(f"'{name}' has no '{imported}'")
                if not self._sdk_name_allowed(module, imported):
                    self.violation(f"'{imported}' may not be imported from '{name}'")
                value = getattr(module, imported)
                setattr(selected, imported, self._shielded(module, imported, value))
            return selected
        try:
            return self._import_sibling(name)
        except KeyError:
            self.violation(f"import of module '{name}' is not allowed")

    # -- the builtins namespace

    def builtins(self) -> dict[str, Any]:
        """The `__builtins__` of a contract module: safe builtins and guarded replacements."""
        namespace: dict[str, Any] = {exception.__name__: exception for exception in SAFE_EXCEPTIONS}
        namespace.update(
            {
                "__build_class__": builtins.__build_class__,
                "__import__": self.import_module,
                "abs": abs,
                "all": self.builtin_all,
                "any": self.builtin_any,
                "bin": self.radix_text(bin),
                "bool": bool,
                "bytes": bytes,
                "callable": callable,
                "chr": chr,
                "classmethod": self.builtin_classmethod,
                "dict": dict,
                "divmod": self.builtin_divmod,
                "enumerate": self.builtin_enumerate,
                "filter": self.builtin_filter,
                "getattr": self.guarded_getattr,
                "hasattr": self.builtin_hasattr,
                # For dataclass-generated __hash__ methods only: the policy refuses the name.
                "hash": hash,
                "hex": self.radix_text(hex),
                "int": int,
                "isinstance": self.builtin_isinstance,
                "issubclass": self.builtin_issubclass,
                "iter": self.builtin_iter,
                "len": len,
                "list": list,
                "map": self.builtin_map,
                "max": self.builtin_max,
                "min": self.builtin_min,
                "next": next,
                # For annotations and isinstance checks; calling it is refused by the policy.
                "object": object,
                "oct": self.radix_text(oct),
                "ord": ord,
                "pow": self.builtin_pow,
                "property": self.builtin_property,
                "range": range,
                "repr": self.builtin_repr,
                "reversed": self.builtin_reversed,
                "round": self.builtin_round,
                "slice": slice,
                "sorted": self.builtin_sorted,
                "staticmethod": self.builtin_staticmethod,
                "str": str,
                "sum": self.builtin_sum,
                "super": super,
                "tuple": tuple,
                "zip": self.builtin_zip,
                "None": None,
                "True": True,
                "False": False,
            }
        )
        return namespace

    def module_globals(self, module_name: str) -> dict[str, Any]:
        """The globals every contract module starts with: builtins and the hooks."""
        return {
            **self.fast_operators(),
            "__name__": module_name,
            "__builtins__": self.builtins(),
            "__metaclass__": type,
            "_getattr_": self.fast_getattr(),
            "_getitem_": self.getitem,
            "_write_": self.write,
            "_getiter_": self.metered_iter,
            "_loopiter_": self.loop_iter,
            "_iter_unpack_sequence_": self.iter_unpack_sequence,
            "_unpack_sequence_": self.unpack_sequence,
            "_apply_": self.apply,
            "_augattr_": self.augmented_attribute,
            "_augitem_": self.augmented_item,
            "_fuel_": self.fuel,
            "_enter_": self.enter,
            "_leave_": self.leave,
            "_lambda_": self.wrap_lambda,
            "_caught_": self.caught,
            "_contains_": self.contains,
            "_sized_": self.sized,
            "_text_": self.text,
            "_star_": self.star,
            "_star_kw_": self.star_kw,
            "_key_": self.item_key,
            "_setitem_": self.set_item,
            "_delitem_": self.delete_item,
            "_call_": self.call_function,
        }
