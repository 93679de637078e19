"""The compile-time rules of contract code: RestrictedPython's policy, tightened for contracts."""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping

from RestrictedPython.transformer import ALLOWED_FUNC_NAMES, RestrictingNodeTransformer

STDLIB_ALLOWED_NAMES: Mapping[str, frozenset[str]] = {
    "__future__": frozenset({"annotations"}),
    "dataclasses": frozenset(
        {
            "dataclass",
            "field",
            "fields",
            "replace",
            "is_dataclass",
            "FrozenInstanceError",
            "InitVar",
            "KW_ONLY",
            "MISSING",
        }
    ),
    "typing": frozenset(
        {
            "TYPE_CHECKING",
            "Any",
            "ClassVar",
            "Dict",
            "Final",
            "Generic",
            "Iterable",
            "Iterator",
            "List",
            "Literal",
            "Mapping",
            "NamedTuple",
            "Optional",
            "Protocol",
            "Sequence",
            "Tuple",
            "TypeVar",
            "TypedDict",
            "Union",
            "cast",
            "final",
        }
    ),
    "enum": frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "auto", "unique"}),
}
"""The standard-library modules a contract may import, with the names it may take from each."""

SDK_PACKAGE = "edgechain.sdk"
"""The package (and its submodules) that contracts may import anything public from."""

SERVICE_ONLY_SDK_MODULES = frozenset({"edgechain.sdk.service", "edgechain.sdk.graphql"})
"""SDK modules that only services use (the `Service` base class, GraphQL): not for contracts."""

SERVICE_ONLY_SDK_NAMES = frozenset({"Service", "ServiceRuntime"})
"""Public names of the SDK that only services use: hidden from contracts."""

ALLOWED_MAGIC_METHODS: frozenset[str] = ALLOWED_FUNC_NAMES | frozenset(
    {"__post_init__", "__repr__", "__str__", "__len__", "__bool__"}
)
"""Dunder methods a contract class may define; every other `_` name is refused."""

FORBIDDEN_CALLS: Mapping[str, str] = {
    "eval": "eval() runs unrestricted code",
    "exec": "exec() runs unrestricted code",
    "compile": "compile() builds unrestricted code",
    "open": "open() is I/O",
    "input": "input() is I/O",
    "globals": "globals() exposes the sandbox's guards",
    "locals": "locals() exposes frames",
    "vars": "vars() exposes __dict__",
    "dir": "dir() lists private attributes",
    "type": "type() reaches metaclasses and builds classes from dicts",
    "id": "id() differs between validators",
    "hash": "hash() of str and bytes differs between processes",
    "set": "set iteration order differs between processes; use a dict or sorted list",
    "frozenset": "set iteration order differs between processes; use a tuple",
    "float": "contracts use integers only",
    "complex": "contracts use integers only",
    "format": "format() reaches attributes through format specs; use f-strings",
    "setattr": "setattr() bypasses the write guard; assign attributes directly",
    "delattr": "delattr() bypasses the write guard",
    "memoryview": "memoryview() exposes buffers",
    "bytearray": "use bytes",
    "breakpoint": "breakpoint() enters a debugger",
    "help": "help() is I/O",
    "exit": "exit() stops the validator",
    "quit": "quit() stops the validator",
    "object": "object() is not needed by contracts",
}
"""Builtins a contract may not call, with the reason each is refused (none exists at run time)."""

FORBIDDEN_NAMES = frozenset(
    {
        "eval", "exec", "compile", "open", "input", "globals", "locals", "vars", "breakpoint",
        "help", "exit", "quit", "memoryview", "hash",
    }
)  # fmt: skip
"""Builtins whose very name is refused (not only their calls): they would hand out a way out,
or (`hash`, which dataclass-generated `__hash__` methods need at run time) nondeterminism."""

MAX_INT_LITERAL_BITS = 13_000
"""Largest integer literal (about 4000 decimal digits, whatever base it is written in)."""

ANNOTATION_NODES = (
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.BinOp,
    ast.Load,
    ast.BitOr,
)
"""Nodes an annotation may contain: type expressions, which `typing.get_type_hints` may evaluate."""


def is_sdk_module(name: str) -> bool:
    """Whether `name` is `edgechain.sdk` or one of its submodules that contracts may use."""
    in_sdk = name == SDK_PACKAGE or name.startswith(SDK_PACKAGE + ".")
    return in_sdk and name not in SERVICE_ONLY_SDK_MODULES


class ContractPolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer with the contract rules added (see the package docstring)."""

    def __init__(self, filename: str, sibling_modules: Collection[str]) -> None:
        super().__init__()
        self.filename = filename
        self.sibling_modules = frozenset(sibling_modules)
        self.located_errors: list[tuple[int | None, str]] = []
        self.future_annotations = False

    # -- reporting

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self.check_builtin_bindings(node)
        return super().visit_Module(node)  # type: ignore[return-value]

    def check_builtin_bindings(self, tree: ast.Module) -> None:
        """Refuse rebinding `super`: its calls are left unrouted so that `super()` works."""
        for child in ast.walk(tree):
            bound: list[str] = []
            if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
                bound.append(child.id)
            elif isinstance(child, ast.arg):
                bound.append(child.arg)
            elif isinstance(child, ast.alias):
                bound.append(child.asname or child.name)
            elif isinstance(child, ast.FunctionDef | ast.ClassDef | ast.ExceptHandler):
                bound.append(child.name or "")
            if "super" in bound:
                self.error(child, "the name 'super' may not be rebound")

    def error(self, node: ast.AST, info: str) -> None:
        lineno = getattr(node, "lineno", None)
        self.located_errors.append((lineno, info))
        super().error(node, info)

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if (
            allow_magic_methods
            and name in ALLOWED_MAGIC_METHODS
            and getattr(node, "col_offset", 0) != 0
        ):
            return
        super().check_name(node, name, allow_magic_methods=False)  # type: ignore[arg-type]

    # -- numbers: integers only

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float | complex):
            self.error(node, f"float literal {node.value!r} is not allowed: contracts use integers")
        elif isinstance(node.value, int) and int.bit_length(node.value) > MAX_INT_LITERAL_BITS:
            self.error(node, "integer literal above 4000 decimal digits")
        return self.node_contents_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Div):
            self.error(node, "true division '/' makes floats: use '//' on integers")
        if isinstance(node.op, ast.MatMult):
            self.error(node, "matrix multiplication '@' is not allowed")
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        if isinstance(node.op, ast.Div):
            self.error(node, "true division '/=' makes floats: use '//=' on integers")
            return node
        if isinstance(node.op, ast.MatMult):
            self.error(node, "matrix multiplication '@=' is not allowed")
            return node
        if isinstance(node.target, ast.Name):
            return super().visit_AugAssign(node)  # type: ignore[return-value]
        op_text = {
            ast.Add: "+=",
            ast.Sub: "-=",
            ast.Mult: "*=",
            ast.Mod: "%=",
            ast.Pow: "**=",
            ast.LShift: "<<=",
            ast.RShift: ">>=",
            ast.BitOr: "|=",
            ast.BitXor: "^=",
            ast.BitAnd: "&=",
            ast.FloorDiv: "//=",
        }[type(node.op)]
        node = self.node_contents_visit(node)
        target = node.target
        # The visited target reads `_write_(obj).attr` or `_write_(obj)[key]`: the runtime helper
        # reads through the guards, applies the metered operator and writes back.
        if isinstance(target, ast.Attribute):
            call = ast.Call(
                func=ast.Name("_augattr_", ast.Load()),
                args=[target.value, ast.Constant(target.attr), ast.Constant(op_text), node.value],
                keywords=[],
            )
        elif isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
            call = ast.Call(
                func=ast.Name("_augitem_", ast.Load()),
                args=[target.value, target.slice, ast.Constant(op_text), node.value],
                keywords=[],
            )
        else:
            self.error(node, "augmented assignment to a slice is not allowed")
            return node
        statement = ast.Expr(value=call)
        ast.copy_location(statement, node)
        ast.fix_missing_locations(statement)
        return statement

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if len(node.ops) > 1 and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            self.error(node, "a chained comparison with 'in' is not allowed: split it with 'and'")
        return self.node_contents_visit(node)

    # -- sets: their iteration order depends on PYTHONHASHSEED

    def visit_Set(self, node: ast.Set) -> ast.AST:
        self.error(node, "set literals are not allowed: iteration order differs between processes")
        return node

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        self.error(
            node, "set comprehensions are not allowed: iteration order differs between processes"
        )
        return node

    # -- names and calls

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "print":
            self.error(node, "print is not available: contracts have no output")
            return node
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f"'{node.id}' is not available: {FORBIDDEN_CALLS[node.id]}")
            return node
        return super().visit_Name(node)  # type: ignore[return-value]

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name):
            reason = FORBIDDEN_CALLS.get(node.func.id)
            if reason is not None:
                self.error(node, f"{node.func.id}() is not allowed: {reason}")
            if node.func.id in ("getattr", "hasattr") and len(node.args) >= 2:
                name_node = node.args[1]
                if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                    self.check_attribute_name(node, name_node.value)
        return super().visit_Call(node)  # type: ignore[return-value]

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # `super().__init__(…)` is how a subclass initialises its base; the attribute is read
        # from a `super` object directly (the guard refuses every name starting with `_`).
        if (
            node.attr in ("__init__", "__post_init__")
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "super"
        ):
            node.value = self.visit(node.value)
            return node
        return super().visit_Attribute(node)  # type: ignore[return-value]

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        if node.arg is not None and node.arg.startswith("_"):
            self.error(node, f'keyword argument "{node.arg}" starts with "_"')
        return super().visit_keyword(node)  # type: ignore[return-value]

    def check_attribute_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            self.error(node, f'"{name}" is an invalid attribute name because it starts with "_"')

    # -- statements refused or rewritten

    def visit_Global(self, node: ast.Global) -> ast.AST:
        self.error(node, "global statements are not allowed: keep state in the application's views")
        return node

    def visit_Yield(self, node: ast.Yield) -> ast.AST:
        self.error(node, "yield is not allowed: generator frames escape the call-depth guard")
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.AST:
        self.error(node, "yield from is not allowed: generator frames escape the call-depth guard")
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        # `python -O` strips asserts; a rule that some validators skip is not deterministic.
        node = self.node_contents_visit(node)
        raise_statement = ast.Raise(
            exc=ast.Call(
                func=ast.Name("AssertionError", ast.Load()),
                args=[] if node.msg is None else [node.msg],
                keywords=[],
            ),
            cause=None,
        )
        check = ast.If(
            test=ast.UnaryOp(op=ast.Not(), operand=node.test), body=[raise_statement], orelse=[]
        )
        ast.copy_location(check, node)
        ast.fix_missing_locations(check)
        return check

    # -- imports

    def visit_Import(self, node: ast.Import) -> ast.AST:
        for alias in node.names:
            if not self.module_allowed(alias.name) or alias.name == "__future__":
                self.error(node, f"import of module '{alias.name}' is not allowed")
        return super().visit_Import(node)  # type: ignore[return-value]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        module = node.module or ""
        names = [alias.name for alias in node.names]
        if node.level > 1:
            self.error(
                node, "relative imports beyond the application's own modules are not allowed"
            )
        elif node.level == 1:
            if module == "":
                for name in names:
                    if name not in self.sibling_modules:
                        self.error(node, f"'{name}' is not a module of this application")
            elif module not in self.sibling_modules:
                self.error(node, f"'{module}' is not a module of this application")
        elif not self.module_allowed(module):
            self.error(node, f"import from module '{module}' is not allowed")
        elif is_sdk_module(module):
            for name in names:
                if name in SERVICE_ONLY_SDK_NAMES:
                    self.error(node, f"'{name}' is for services; contracts may not import it")
        elif module in STDLIB_ALLOWED_NAMES:
            refused = [name for name in names if name not in STDLIB_ALLOWED_NAMES[module]]
            for name in refused:
                self.error(node, f"'{name}' may not be imported from '{module}'")
            if module == "__future__" and not refused:
                self.future_annotations = True
        return super().visit_ImportFrom(node)  # type: ignore[return-value]

    def module_allowed(self, name: str) -> bool:
        return name in STDLIB_ALLOWED_NAMES or is_sdk_module(name) or name in self.sibling_modules

    # -- annotations: kept as written (dataclasses and typing read them), restricted to types

    def check_annotation(self, annotation: ast.expr) -> None:
        for child in ast.walk(annotation):
            if not isinstance(child, ANNOTATION_NODES):
                self.error(
                    annotation, f"annotation may only name types, found {type(child).__name__}"
                )
                return
            if isinstance(child, ast.BinOp) and not isinstance(child.op, ast.BitOr):
                self.error(annotation, "annotation may only combine types with '|'")
            elif isinstance(child, ast.Name):
                self.check_name(annotation, child.id)
            elif isinstance(child, ast.Attribute):
                self.check_attribute_name(annotation, child.attr)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                self.check_string_annotation(annotation, child.value)
            elif isinstance(child, ast.Constant) and isinstance(child.value, float | complex):
                self.error(annotation, "float literal in an annotation is not allowed")

    def check_string_annotation(self, annotation: ast.expr, text: str) -> None:
        try:
            parsed = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            return  # a plain Literal["text"] value, never evaluated as code
        self.check_annotation(parsed.body)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if not isinstance(node.target, ast.Name):
            self.error(node, "annotated assignment is only allowed to a plain name")
            return node
        self.check_name(node, node.target.id)
        node.annotation = self.checked_annotation(node.annotation)
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def checked_annotation(self, annotation: ast.expr) -> ast.expr:
        """Check an annotation; keep it as written where Python stores it as text, else guard it.

        Under `from __future__ import annotations` Python keeps annotations as strings, which
        dataclasses and the canonical encoding read as written. Otherwise Python evaluates them
        when the class or function is defined, and the values are reachable (a dataclass
        field's `type`), so they go through the same guards as any other expression.
        """
        self.check_annotation(annotation)
        if self.future_annotations:
            return annotation
        visited = self.visit(annotation)
        if not isinstance(visited, ast.expr):
            raise TypeError("an annotation must stay an expression")
        return visited

    def visit_arg(self, node: ast.arg) -> ast.AST:
        if node.annotation is not None:
            node.annotation = self.checked_annotation(node.annotation)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        returns = node.returns
        if returns is not None:
            returns = self.checked_annotation(returns)
            node.returns = None
        visited = super().visit_FunctionDef(node)
        if isinstance(visited, ast.FunctionDef):
            visited.returns = returns
        return visited  # type: ignore[return-value]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        for keyword in node.keywords:
            if keyword.arg is None:
                self.error(node, "class keyword unpacking is not allowed")
        return super().visit_ClassDef(node)  # type: ignore[return-value]
