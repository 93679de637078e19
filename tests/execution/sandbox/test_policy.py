"""Compile-time refusals: each construct is rejected at publication with file, line and reason."""

from __future__ import annotations

import textwrap

import pytest
from conftest import RunContract

from edgechain.execution.errors import ExecutionError
from edgechain.execution.sandbox import SandboxViolation, compile_contract

REFUSED_AT_COMPILATION = {
    "import os": ("import os", "os"),
    "import time": ("import time", "time"),
    "import random": ("import random", "random"),
    "from os import path": ("from os import path", "os"),
    "import sys": ("import sys", "sys"),
    "operator.attrgetter": ("from operator import attrgetter", "operator"),
    "import importlib": ("import importlib", "importlib"),
    "import builtins": ("import builtins", "builtins"),
    "edgechain internals": ("import edgechain.execution", "edgechain.execution"),
    "from edgechain import base": ("from edgechain import base", "edgechain"),
    "dataclasses.sys by from-import": ("from dataclasses import sys", "sys"),
    "dataclasses.asdict": ("from dataclasses import asdict", "asdict"),
    "typing.get_type_hints": ("from typing import get_type_hints", "get_type_hints"),
    "star import": ("from typing import *", "*"),
    "relative import beyond the app": ("from .. import x", "relative"),
    "unknown sibling": ("from .secrets import key", "secrets"),
    "__import__": ("m = __import__('os')", "__import__"),
    "open": ("f = open('/etc/passwd')", "open"),
    "eval": ("x = eval('1 + 1')", "eval"),
    "exec": ("exec('x = 1')", "exec"),
    "compile": ("c = compile('1', 'f', 'eval')", "compile"),
    "globals": ("g = globals()", "globals"),
    "locals": ("def f():\n    return locals()", "locals"),
    "vars": ("v = vars()", "vars"),
    "getattr literal dunder": ("x = getattr(1, '__class__')", "__class__"),
    "hasattr literal dunder": ("x = hasattr(1, '__class__')", "__class__"),
    "subclasses walk": ("x = ().__class__.__bases__[0].__subclasses__()", "__class__"),
    "type() with 3 args": ("X = type('X', (), {'__del__': None})", "type"),
    "type(x).__mro__": ("m = type(1).__mro__", "type"),
    "gi_frame": ("g = (x for x in [1])\nf = g.gi_frame", "gi_frame"),
    "tb_frame": ("def f(e):\n    return e.__traceback__.tb_frame", "__traceback__"),
    "f_globals": ("def f(frame):\n    return frame.f_globals", "f_globals"),
    "cr_frame": ("def f(c):\n    return c.cr_frame", "cr_frame"),
    "__getattribute__": (
        "class X:\n    def __getattribute__(self, name):\n        return 1",
        "__getattribute__",
    ),
    "__del__": ("class X:\n    def __del__(self):\n        pass", "__del__"),
    "__init_subclass__": (
        "class X:\n    def __init_subclass__(cls):\n        pass",
        "__init_subclass__",
    ),
    "__reduce__": ("class X:\n    def __reduce__(self):\n        return 1", "__reduce__"),
    "metaclass": ("class X(metaclass=list):\n    pass", "metaclass"),
    "print": ("print('hello')", "print"),
    "float literal": ("x = 1.5", "float"),
    "true division": ("x = 3 / 2", "division"),
    "true division in place": ("x = 3\nx /= 2", "division"),
    "set literal": ("s = {1, 2}", "set"),
    "set comprehension": ("s = {x for x in range(3)}", "set"),
    "set()": ("s = set()", "set"),
    "frozenset()": ("s = frozenset()", "set"),
    "float()": ("x = float(1)", "float"),
    "hash()": ("x = hash('a')", "hash"),
    "hash by another name": ("h = hash", "hash"),
    "id()": ("x = id(1)", "id"),
    "str.format via format()": ("x = format(1, 'd')", "format"),
    "yield": ("def g():\n    yield 1", "yield"),
    "yield from": ("def g():\n    yield from [1]", "yield"),
    "global": ("x = 1\ndef f():\n    global x\n    x = 2", "global"),
    "nonlocal": (
        "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2",
        "Nonlocal",
    ),
    "async def": ("async def f():\n    pass", "AsyncFunctionDef"),
    "match": ("match 1:\n    case 1:\n        pass", "Match"),
    "except*": ("try:\n    pass\nexcept* ValueError:\n    pass", "TryStar"),
    "lambda default __builtins__": ("f = lambda b=__builtins__: b", "__builtins__"),
    "lambda default globals": ("f = lambda g=globals: g()", "globals"),
    "decorator reaching globals": (
        "@(lambda f: f.__globals__)\ndef f():\n    pass",
        "__globals__",
    ),
    "f-string attribute": ("x = f'{(1).__class__}'", "__class__"),
    "private name": ("_secret = 1", "_secret"),
    "walrus binding globals": ("def f():\n    return (g := globals)", "globals"),
    "walrus to a private name": ("def f():\n    return (_g := 1)", "_g"),
    "super().__class__": (
        "class X:\n    def f(self):\n        return super().__class__",
        "__class__",
    ),
    "annotation calling code": ("x: open('f') = 1", "annotation"),
    "string annotation calling code": ("x: \"__import__('os')\" = 1", "annotation"),
    "annotation building data": ("x: [0] * 10 = 1", "annotation"),
    "annotated attribute": ("class X:\n    pass\nX.y: int = 1", "plain name"),
    "private keyword argument": (
        "import dataclasses\nx = dataclasses.field(_field_type=None)",
        "_field_type",
    ),
    "chained in": ("x = 1 in [1] in [[1]]", "chained"),
    "matrix multiplication": ("x = [1] @ [2]", "matrix"),
}


@pytest.mark.parametrize(
    ("source", "fragment"),
    list(REFUSED_AT_COMPILATION.values()),
    ids=list(REFUSED_AT_COMPILATION),
)
def test_construct_is_refused_at_compilation(source: str, fragment: str) -> None:
    with pytest.raises(SandboxViolation) as caught:
        compile_contract({"contract": source})
    assert fragment in str(caught.value)
    assert caught.value.filename == "<contract>/contract.py"
    assert isinstance(caught.value.line, int)


def test_violation_names_file_and_line() -> None:
    source = textwrap.dedent(
        """\
        from dataclasses import dataclass

        def ok():
            return 1

        def bad():
            import os
        """
    )
    with pytest.raises(SandboxViolation) as caught:
        compile_contract({"contract": "from .state import X", "state": source})
    assert caught.value.filename == "<contract>/state.py"
    assert caught.value.line == 7
    assert "import of module 'os'" in caught.value.construct
    assert "<contract>/state.py:7" in str(caught.value)
    assert isinstance(caught.value, ExecutionError)


def test_every_error_is_reported_from_the_first_line() -> None:
    with pytest.raises(SandboxViolation) as caught:
        compile_contract({"contract": "x = 1.5\nimport os\nimport sys"})
    assert caught.value.line == 1
    message = str(caught.value)
    assert "float" in message
    assert "line 2: import of module 'os'" in message
    assert "line 3: import of module 'sys'" in message


def test_syntax_error_is_a_violation() -> None:
    with pytest.raises(SandboxViolation, match="syntax error") as caught:
        compile_contract({"contract": "def f(:\n"})
    assert caught.value.line == 1


def test_unparsable_sources_are_violations() -> None:
    with pytest.raises(SandboxViolation, match=r"unparsable|syntax error"):
        compile_contract({"contract": "x = 1\x00"})
    with pytest.raises(SandboxViolation, match=r"unparsable|syntax error|nested"):
        compile_contract({"contract": "x = " + "-" * 200_000 + "1"})


def test_module_names_must_be_public_and_not_shadow_libraries() -> None:
    with pytest.raises(SandboxViolation, match="shadows"):
        compile_contract({"contract": "x = 1", "typing": "y = 2"})
    with pytest.raises(SandboxViolation, match="public identifier"):
        compile_contract({"contract": "x = 1", "_hidden": "y = 2"})
    with pytest.raises(SandboxViolation, match="no 'contract' module"):
        compile_contract({"state": "y = 2"})


def test_allowed_program_compiles() -> None:
    source = textwrap.dedent(
        """\
        \"\"\"A contract that uses what contracts may use.\"\"\"
        from __future__ import annotations

        import dataclasses
        import enum
        from dataclasses import dataclass, field
        from typing import ClassVar, Optional

        import edgechain.sdk
        from . import state
        from .state import Balance


        class Kind(enum.Enum):
            A = 1
            B = 2


        @dataclass(frozen=True)
        class Op:
            kind: Kind
            amount: int = 0
            note: Optional[str] = None
            names: list[str] = field(default_factory=list)
            LIMIT: ClassVar[int] = 10


        class Base:
            def __init__(self, value: int) -> None:
                self.value = value


        class Child(Base):
            def __init__(self) -> None:
                super().__init__(3)

            def __repr__(self) -> str:
                return f"Child({self.value})"


        def main(op: Op) -> int:
            total = 0
            for index, name in enumerate(op.names):
                if (size := len(name)) > 2:
                    total += size * index
            assert total >= 0, "never negative"
            squares = [n ** 2 for n in range(4)]
            table = {n: n // 2 for n in squares if n % 2 == 0}
            try:
                total += table[99]
            except KeyError:
                total -= 1
            return total + dataclasses.replace(op, amount=2).amount
        """
    )
    compiled = compile_contract({"contract": source, "state": "class Balance:\n    pass\n"})
    assert sorted(compiled.code) == ["contract", "state"]


def test_deep_nesting_is_refused_whatever_the_host_stack() -> None:
    source = "x = " + "[" * 150 + "]" * 150
    with pytest.raises(SandboxViolation, match="nested deeper"):
        compile_contract({"contract": source})
    compile_contract({"contract": "x = " + "[" * 60 + "]" * 60})


def test_huge_integer_literals_are_refused_in_any_base() -> None:
    with pytest.raises(SandboxViolation, match="4000 decimal digits"):
        compile_contract({"contract": "x = 0x" + "f" * 5000})
    with pytest.raises(SandboxViolation, match=r"syntax error|4000"):
        compile_contract({"contract": "x = " + "9" * 5000})
    compile_contract({"contract": "x = " + "9" * 3000})


SERVICE_ONLY_IMPORTS = {
    "Service from the SDK": ("from edgechain.sdk import Service", "Service"),
    "ServiceRuntime from the SDK": (
        "from edgechain.sdk import Contract, ServiceRuntime",
        "Service",
    ),
    "the service module": ("from edgechain.sdk.service import Service", "edgechain.sdk.service"),
    "the graphql module": ("import edgechain.sdk.graphql", "edgechain.sdk.graphql"),
}


@pytest.mark.parametrize(
    ("source", "fragment"),
    list(SERVICE_ONLY_IMPORTS.values()),
    ids=list(SERVICE_ONLY_IMPORTS),
)
def test_what_only_services_use_is_hidden_from_contracts(source: str, fragment: str) -> None:
    with pytest.raises(SandboxViolation, match=r"not allowed|is for services") as caught:
        compile_contract({"contract": source})
    assert fragment in str(caught.value)
    compile_contract({"contract": "from edgechain.sdk import Contract, ContractRuntime\n"})


def test_the_service_base_class_is_refused_at_run_time_too(run_contract: RunContract) -> None:
    for name in ("Service", "ServiceRuntime", "service", "graphql"):
        source = f"import edgechain.sdk\n\ndef main():\n    return edgechain.sdk.{name}\n"
        with pytest.raises(SandboxViolation, match=f"access to '{name}' of module"):
            run_contract(source)
    assert run_contract("import edgechain.sdk\n\ndef main():\n    return edgechain.sdk.Contract\n")
