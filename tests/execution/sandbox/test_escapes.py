"""Run-time refusals: attacks that compile but are stopped by the guards, fatally."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import RunContract

from edgechain.execution.sandbox import ContractFailed, OutOfFuel, SandboxViolation

REFUSED_AT_RUN_TIME = {
    "getattr with a computed dunder": (
        "def main():\n    return getattr(1, '_' + '_class__')",
        "private attribute",
    ),
    "hasattr with a computed dunder": (
        "def main():\n    return hasattr(1, '_' + '_class__')",
        "private attribute",
    ),
    "generator frame by getattr": (
        "def main():\n    g = (x for x in [1])\n    return getattr(g, 'gi' + '_frame')",
        "gi_frame",
    ),
    "generator code by getattr": (
        "def main():\n    g = (x for x in [1])\n    return getattr(g, 'gi_' + 'code')",
        "gi_code",
    ),
    "traceback through the exception": (
        "def main():\n    try:\n        1 // 0\n    except ZeroDivisionError as error:\n"
        "        return getattr(error, '_' + '_traceback__')",
        "private attribute",
    ),
    "with_traceback": (
        "def main():\n    try:\n        1 // 0\n    except ZeroDivisionError as error:\n"
        "        return error.with_traceback(None)",
        "with_traceback",
    ),
    "str.format field attribute": (
        "def main():\n    return '{0.__class__}'.format(1)",
        "str.format()",
    ),
    "str.format on the class": (
        "def main():\n    return str.format('{0.__class__}', 1)",
        "format",
    ),
    "str.format_map": (
        "def main():\n    return '{x.__class__}'.format_map({'x': 1})",
        "format_map",
    ),
    "mro to reach object": ("def main():\n    return Exception.mro()", "mro"),
    "dataclasses.sys": (
        "import dataclasses\ndef main():\n    return dataclasses.sys.modules['os']",
        "'sys' of module 'dataclasses'",
    ),
    "typing.get_type_hints by attribute": (
        "import typing\ndef main():\n    return typing.get_type_hints",
        "get_type_hints",
    ),
    "edgechain internals through the sdk import": (
        "import edgechain.sdk\ndef main():\n    return edgechain.execution",
        "'execution' of module 'edgechain'",
    ),
    "__dataclass_fields__ through getattr": (
        "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int = 1\n"
        "def main():\n    return getattr(P, '_' + '_dataclass_fields__')",
        "private attribute",
    ),
    "unbound str method (unmetered)": (
        "def main():\n    return str.ljust('x', 10 ** 10)",
        "unbound method",
    ),
    "unbound list method": ("def main():\n    return list.extend", "unbound"),
    "assignment into a class": (
        "class X:\n    pass\ndef main():\n    X.y = 1",
        "assignment to a type",
    ),
    "assignment into a library module": (
        "import dataclasses\ndef main():\n    dataclasses.dataclass = None",
        "assignment to a module",
    ),
    "assignment into a sibling module": (
        "import state\ndef main():\n    state.x = 2",
        "assignment to a module",
    ),
    "assignment into a typing object": (
        "from typing import List\ndef main():\n    List.x = 1",
        "assignment into",
    ),
    "float by negative power": ("def main():\n    return 2 ** -1", "negative exponent"),
    "float by pow()": ("def main():\n    return pow(2, -1)", "negative exponent"),
    "set from dict views": (
        "def main():\n    return {'a': 1}.keys() & {'a': 2}.keys()",
        "set",
    ),
    "text of an object with an address": (
        "class X:\n    pass\ndef main():\n    return f'{X()}'",
        "default repr",
    ),
    "str() of a function": ("def main():\n    return str(main)", "default repr"),
    "repr() of a module": (
        "import dataclasses\ndef main():\n    return repr(dataclasses)",
        "default repr",
    ),
    "%-format of an object": (
        "class X:\n    pass\ndef main():\n    return '%s' % (X(),)",
        "default repr",
    ),
    "exception message with an address": (
        "class X:\n    pass\ndef main():\n    return str(ValueError(X()))",
        "default repr",
    ),
    "builtin error message holding an address": (
        "class X:\n    pass\ndef main():\n    try:\n        [].index(X())\n"
        "    except ValueError as error:\n        return error.args[0]",
        "memory address",
    ),
    "builtin error message holding an address, as text": (
        "class X:\n    pass\ndef main():\n    try:\n        [].index(X())\n"
        "    except ValueError as error:\n        return str(error)",
        "memory address",
    ),
    "evaluated annotation reaching sys.modules": (
        "import dataclasses\n@dataclasses.dataclass\nclass C:\n"
        "    x: dataclasses.sys.modules = None\n"
        "def main():\n    return dataclasses.fields(C)[0].type",
        "'sys' of module 'dataclasses'",
    ),
    "evaluated argument annotation": (
        "import dataclasses\ndef f(x: dataclasses.sys = None):\n    pass\ndef main():\n    pass",
        "'sys' of module 'dataclasses'",
    ),
    "huge integer to text": ("def main():\n    return str(10 ** 5000)", "digits"),
    "huge text to integer": ("def main():\n    return int('9' * 5000)", "int()"),
    "%-format star width": ("def main():\n    return '%*d' % (5, 1)", "width"),
    "round to huge digits": ("def main():\n    return round(5, -10 ** 9)", "digits"),
    "iteration over a set result": (
        "def main():\n    return list({'a': 1}.keys() | {'b': 2}.keys())",
        "set",
    ),
    "sum of lists (quadratic)": ("def main():\n    return sum([[1], [2]], [])", "sum()"),
    "decorator probing a dunder": (
        "@(lambda f: hasattr(f, '_' + '_globals__'))\ndef probe():\n    pass\n"
        "def main():\n    return probe",
        "private attribute",
    ),
    "decorator formatting its function": (
        "@(lambda f: f'{f}')\ndef probe():\n    pass\ndef main():\n    return probe",
        "default repr",
    ),
    "registering a virtual subclass on a shared ABC": (
        "from typing import Protocol\nclass P(Protocol):\n    pass\n"
        "def main():\n    return P.register(int)",
        "register",
    ),
}


@pytest.mark.parametrize(
    ("source", "fragment"),
    list(REFUSED_AT_RUN_TIME.values()),
    ids=list(REFUSED_AT_RUN_TIME),
)
def test_attack_is_refused_at_run_time(
    run_contract: RunContract, source: str, fragment: str
) -> None:
    with pytest.raises(SandboxViolation) as caught:
        run_contract(source, siblings={"state": "x = 1\n"})
    assert fragment in str(caught.value)


def test_caught_violation_is_still_fatal(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        def main():
            for name in ("_" + "_class__", "gi_frame", "mro"):
                try:
                    return getattr(1, name)
                except Exception:
                    pass
            return "escaped"
        """
    )
    with pytest.raises(SandboxViolation, match="private attribute"):
        run_contract(source)


def test_caught_out_of_fuel_is_still_fatal(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        def spin():
            while True:
                pass

        def main():
            try:
                spin()
            except Exception:
                return "survived"
        """
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10_000)


def test_deep_recursion_is_refused_and_the_host_is_unharmed(run_contract: RunContract) -> None:
    limit_before = sys.getrecursionlimit()
    source = "def down(n):\n    return down(n + 1)\ndef main():\n    return down(0)"
    with pytest.raises(SandboxViolation, match="call depth"):
        run_contract(source, fuel=10**7)
    assert sys.getrecursionlimit() == limit_before


def test_lambda_recursion_is_refused(run_contract: RunContract) -> None:
    source = "down = lambda n: down(n + 1)\ndef main():\n    return down(0)"
    with pytest.raises(SandboxViolation, match="call depth"):
        run_contract(source, fuel=10**7)


def test_recursion_caught_by_the_contract_is_still_fatal(run_contract: RunContract) -> None:
    source = textwrap.dedent(
        """\
        def down(n):
            return down(n + 1)

        def main():
            try:
                down(0)
            except Exception:
                return "survived"
        """
    )
    with pytest.raises(SandboxViolation, match="call depth"):
        run_contract(source, fuel=10**7)


def test_host_recursion_error_cannot_be_handled(run_contract: RunContract) -> None:
    # Comparing deeply nested lists recurses in C: where it fails depends on the host.
    source = textwrap.dedent(
        """\
        def main():
            a = []
            b = []
            for _ in range(100000):
                a = [a]
                b = [b]
            try:
                return a == b
            except RuntimeError:
                return "handled"
        """
    )
    with pytest.raises(SandboxViolation, match=r"RecursionError|recursion"):
        run_contract(source, fuel=10**7)


def test_forbidden_builtins_do_not_exist_at_run_time(run_contract: RunContract) -> None:
    for name in ("type", "setattr", "id", "set", "float", "format"):
        source = f"def main():\n    f = {name}\n    return f"
        with pytest.raises(ContractFailed, match=f"NameError: name '{name}' is not defined"):
            run_contract(source)


def test_base_exceptions_are_out_of_reach(run_contract: RunContract) -> None:
    for name in ("SystemExit", "KeyboardInterrupt", "BaseException", "GeneratorExit"):
        with pytest.raises(ContractFailed, match="NameError"):
            run_contract(f"def main():\n    raise {name}()")


def test_contract_code_cannot_run_outside_a_metered_call(run_contract: RunContract) -> None:
    run = run_contract("def make():\n    return lambda: 1\ndef main():\n    return make()")
    with pytest.raises(SandboxViolation, match="outside a metered call"):
        run.result()


class HostStore:
    """Stands for an SDK object (a view) handed to contract code."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}
        self.owner = "host"

    def __setitem__(self, key: str, value: int) -> None:
        self.items[key] = value


HostStore.__module__ = "edgechain.sdk.fake"


def test_sdk_objects_take_items_but_not_attributes(run_contract: RunContract) -> None:
    store = HostStore()
    run_contract("def main(store):\n    store['a'] = 1", "main", store)
    assert store.items == {"a": 1}
    source = (
        "def main(store):\n    try:\n        store.owner = 'contract'\n"
        "    except Exception:\n        return 'caught'"
    )
    with pytest.raises(SandboxViolation, match="attribute 'owner' of a host object"):
        run_contract(source, "main", store)
    assert store.owner == "host"


LYING_SUBCLASSES = {
    "str subclass hiding its length": (
        "class S(str):\n    def __len__(self):\n        return 0\n"
        "def main():\n    return S('x') * 10 ** 10"
    ),
    "int subclass hiding its size": (
        "class I(int):\n    def bit_length(self):\n        return 0\n"
        "def main():\n    return I(10) ** 10 ** 10"
    ),
    "list subclass hiding its length from list()": (
        "class L(list):\n    def __len__(self):\n        return 0\n"
        "def main():\n    big = L(range(10 ** 5))\n    for _ in range(10 ** 6):\n        x = list(big)"
    ),
    "str subclass lying to replace pricing": (
        "class S(str):\n    def count(self, sub):\n        return 0\n"
        "def main():\n    return S('x' * 1000).replace('x', 'y' * 10 ** 7)"
    ),
}


@pytest.mark.parametrize("source", list(LYING_SUBCLASSES.values()), ids=list(LYING_SUBCLASSES))
def test_subclasses_cannot_lie_to_the_pricing(run_contract: RunContract, source: str) -> None:
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)


HOST_CALLBACK_TRICKS = {
    "sort key str": "class X:\n    pass\ndef main():\n    items = [X(), X()]\n    items.sort(key=str)",
    "sorted key repr": "class X:\n    pass\ndef main():\n    return sorted([X(), X()], key=repr)",
    "map str": "class X:\n    pass\ndef main():\n    return list(map(str, [X()]))",
    "property str": ("class X:\n    text = property(str)\ndef main():\n    return X().text"),
    "classmethod str": ("class X:\n    name = classmethod(str)\ndef main():\n    return X.name()"),
}


@pytest.mark.parametrize(
    "source", list(HOST_CALLBACK_TRICKS.values()), ids=list(HOST_CALLBACK_TRICKS)
)
def test_builtins_handed_to_host_code_stay_guarded(run_contract: RunContract, source: str) -> None:
    with pytest.raises(SandboxViolation, match="default repr"):
        run_contract(source)


def test_bytes_constructor_through_a_variable_is_priced(run_contract: RunContract) -> None:
    source = (
        "class Holder:\n    def __init__(self):\n        self.make = bytes\n"
        "def main():\n    maker = bytes\n    holder = Holder()\n"
        "    return [maker, holder.make][0](10 ** 10)"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)
    with pytest.raises(OutOfFuel):
        run_contract(source.replace("[maker, holder.make][0]", "holder.make"), fuel=10**6)


def test_super_works_and_cannot_be_rebound(run_contract: RunContract) -> None:
    source = (
        "class Base:\n    def __init__(self, value):\n        self.value = value\n"
        "    def describe(self):\n        return 'base'\n"
        "class Child(Base):\n    def __init__(self):\n        super().__init__(3)\n"
        "    def describe(self):\n        return super().describe() + '+child'\n"
        "def main():\n    child = Child()\n    return (child.value, child.describe())"
    )
    assert run_contract(source).result == (3, "base+child")
    with pytest.raises(SandboxViolation, match="'super' may not be rebound"):
        run_contract("super = bytes\ndef main():\n    return super(10 ** 10)")
    with pytest.raises(SandboxViolation, match="'super' may not be rebound"):
        run_contract("def main(super=bytes):\n    return super(10 ** 10)")


def test_contract_called_from_a_deep_host_stack_still_gets_its_depth(
    run_contract: RunContract,
) -> None:
    limit_before = sys.getrecursionlimit()
    source = "def down(n):\n    if n == 0:\n        return 'bottom'\n    return down(n - 1)\n"
    source += "def main():\n    return down(95)"

    def nest(levels: int) -> object:
        if levels == 0:
            return run_contract(source, fuel=10**6).result
        return nest(levels - 1)

    assert nest(limit_before - 150) == "bottom"
    assert sys.getrecursionlimit() == limit_before


SUPER_BYPASSES = {
    "super().__init__ of a list subclass": (
        "class L(list):\n    def __init__(self, source):\n        super().__init__(source)\n"
        "def main():\n    return L(range(10 ** 12))"
    ),
    "super().__init__ of a dict subclass": (
        "class D(dict):\n    def __init__(self, source):\n        super().__init__(source)\n"
        "def main():\n    return D((i, i) for i in range(10 ** 12))"
    ),
    "super().extend of a list subclass": (
        "class L(list):\n    def grow(self, source):\n        super().extend(source)\n"
        "def main():\n    L().grow(range(10 ** 12))"
    ),
}


@pytest.mark.parametrize("source", list(SUPER_BYPASSES.values()), ids=list(SUPER_BYPASSES))
def test_builtin_methods_reached_through_super_are_priced(
    run_contract: RunContract, source: str
) -> None:
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**5)


def test_named_tuples_and_builtin_subclasses_construct_normally(run_contract: RunContract) -> None:
    source = (
        "from typing import NamedTuple\n"
        "class Point(NamedTuple):\n    x: int\n    y: int\n"
        "class Names(list):\n    pass\n"
        "class Labels(dict):\n    def __init__(self, pairs):\n        super().__init__(pairs)\n"
        "def main():\n    point = Point(1, 2)\n"
        "    return (point.x + point.y, Names([1, 2]), Labels([('a', 1)]), point)"
    )
    total, names, labels, point = run_contract(source).result
    assert (total, names, labels, tuple(point)) == (3, [1, 2], {"a": 1}, (1, 2))


def test_membership_in_dict_values_is_priced(run_contract: RunContract) -> None:
    source = (
        "def main():\n    table = {i: i for i in range(1000)}\n"
        "    for _ in range(10 ** 6):\n        x = -1 in table.values()"
    )
    with pytest.raises(OutOfFuel):
        run_contract(source, fuel=10**6)


def test_annotations_stay_text_under_future_annotations(run_contract: RunContract) -> None:
    source = (
        "from __future__ import annotations\nimport dataclasses\nfrom typing import ClassVar\n"
        "@dataclasses.dataclass\nclass C:\n    x: dataclasses.sys.modules = None\n"
        "    LIMIT: ClassVar[int] = 3\n"
        "def main():\n    return [field.type for field in dataclasses.fields(C)]"
    )
    assert run_contract(source).result == ["dataclasses.sys.modules"]


def test_evaluated_annotations_still_work(run_contract: RunContract) -> None:
    source = (
        "import dataclasses\nimport typing\n@dataclasses.dataclass\nclass C:\n"
        "    x: typing.Optional[int] = None\n    tags: list[str] = dataclasses.field(default_factory=list)\n"
        "    LIMIT: typing.ClassVar[int] = 3\n"
        "def main():\n    return [field.name for field in dataclasses.fields(C)]"
    )
    assert run_contract(source).result == ["x", "tags"]


class SharedHostClass:
    """Stands for an SDK class with class-level containers shared by every application."""

    registry: dict[str, int] = {}  # noqa: RUF012 - the shared state under attack
    names: list[str] = []  # noqa: RUF012

    def __init__(self) -> None:
        self.cache: dict[str, int] = {}


SharedHostClass.__module__ = "edgechain.sdk.fake"


@pytest.mark.parametrize(
    "body",
    [
        "host.registry['x'] = 1",
        "host.cache['x'] = 1",
        "Mine.registry['x'] = 1",
        "Mine().registry['x'] = 1",
    ],
)
def test_host_dicts_are_read_only_to_contracts(run_contract: RunContract, body: str) -> None:
    host = SharedHostClass()
    source = (
        "def main(host, Host):\n    class Mine(Host):\n        pass\n"
        f"    {body}\n    return 'changed'"
    )
    with pytest.raises(SandboxViolation, match="assignment into a mappingproxy"):
        run_contract(source, "main", host, SharedHostClass)
    assert SharedHostClass.registry == {}
    assert host.cache == {}


def test_host_lists_reach_contracts_as_copies(run_contract: RunContract) -> None:
    host = SharedHostClass()
    source = (
        "def main(host, Host):\n    class Mine(Host):\n        pass\n"
        "    host.names.append('a')\n    Mine().names.append('b')\n"
        "    mine = Mine()\n    mine.own = ['c']\n    mine.own.append('d')\n"
        "    return (host.names, mine.own)"
    )
    assert run_contract(source, "main", host, SharedHostClass).result == ([], ["c", "d"])
    assert SharedHostClass.names == []


HASH_FLOODING = {
    "subscript store": "table[key] = 1",
    "subscript read": "value = table[key]",
    "membership": "flag = key in table",
    "display": "table = {key: 1}",
    "comprehension": "table = {k: 1 for k in [key]}",
    "dict() of pairs": "table = dict([(key, 1)])",
    "fromkeys": "table = dict.fromkeys([key])",
    "update with pairs": "table.update([(key, 1)])",
    "setdefault": "table.setdefault(key, 1)",
    "get": "table.get(key)",
    "pop": "table.pop(key, None)",
    "augmented item": "table[0] += 1\n        table[key] += 1",
    "delete": "del table[key]",
    "tuple key": "table[(1, key)] = 1",
    "dataclass key": "table[Key(key)] = 1",
    "negative key": "table[-key] = 1",
}


@pytest.mark.parametrize("statement", list(HASH_FLOODING.values()), ids=list(HASH_FLOODING))
def test_dict_keys_that_can_share_a_hash_are_refused(
    run_contract: RunContract, statement: str
) -> None:
    # All multiples of 2**61 - 1 hash to 0: n such keys make a dict quadratic in C, unpriced.
    source = (
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass Key:\n    value: int\n"
        "def main():\n    table = {0: 0}\n    key = 3 * (2 ** 61 - 1)\n"
        f"    if True:\n        {statement}"
    )
    with pytest.raises(SandboxViolation, match="61 bits"):
        run_contract(source)


def test_ordinary_dict_keys_are_fine(run_contract: RunContract) -> None:
    source = (
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass Key:\n    value: int\n"
        "def main():\n    table = {1: 'a', 'b': 2, (3, 'c'): 4, Key(5): 6, 2 ** 60: 7, -(2 ** 60): 8}\n"
        "    table[Key(9)] = 10\n    del table[1]\n    table.setdefault('z', 0)\n"
        "    return [table.get('b'), (3, 'c') in table, table[Key(5)], len(table)]"
    )
    assert run_contract(source).result == [2, True, 6, 7]


def test_contract_classes_cannot_define_hash() -> None:
    from edgechain.execution.sandbox import compile_contract

    with pytest.raises(SandboxViolation, match="__hash__"):
        compile_contract({"contract": "class K:\n    def __hash__(self):\n        return 0"})


def test_host_recursion_fails_at_the_same_depth_whatever_the_configured_limit(
    run_contract: RunContract,
) -> None:
    # Dataclass-generated __eq__ recurses in host code, not counted as contract calls.
    source = (
        "from dataclasses import dataclass\n@dataclass\nclass Node:\n    child: object\n"
        "def chain(n):\n    node = None\n    for _ in range(n):\n        node = Node(node)\n"
        "    return node\n"
        "def main(n):\n    try:\n        return chain(n) == chain(n)\n"
        "    except RuntimeError:\n        return 'caught'"
    )
    outcomes = []
    previous = sys.getrecursionlimit()
    try:
        for configured in (1000, 20000):
            sys.setrecursionlimit(configured)
            for depth in (100, 3000):
                try:
                    outcomes.append(run_contract(source, "main", depth, fuel=10**7).result)
                except SandboxViolation as error:
                    outcomes.append(type(error).__name__)
    finally:
        sys.setrecursionlimit(previous)
    assert outcomes[:2] == outcomes[2:] == [True, "SandboxViolation"]
