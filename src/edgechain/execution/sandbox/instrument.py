"""Fuel instrumentation: rewrites a policy-checked contract AST so that every step pays first.

Runs *after* RestrictedPython's transform, so the names it inserts (`_fuel_`, `_enter_`, …)
are trusted: the policy has already refused every name starting with `_` in the source, so
contract code can neither call nor rebind them.

- each statement block (module, class and function bodies, loop bodies, branches, handlers)
  starts with `_fuel_(n)`, n the block's statement count: a loop body pays every iteration;
- `for` statements iterate through `_loopiter_` (which refuses sets): the charged body pays
  each iteration; comprehensions keep RestrictedPython's `_getiter_`, which charges per item;
- each function body starts with `_enter_(n)` (call price, depth check) and runs inside
  `try: … finally: _leave_()`; each lambda is wrapped by `_lambda_(…)` to the same effect;
- binary operators become `_binop_(op, a, b)`, which prices the result's size before computing
  it (`'x' * 10**10`, `10**10**10`, `s + s` doubling) and refuses floats and sets;
- calls (other than method calls, whose attribute the guard already checked) become
  `_call_(f, …)`, which routes the builtin constructors `str`, `int`, `bytes`, `list`,
  `tuple`, `dict` (and subclasses) to their priced versions; the names stay the real types,
  so `isinstance` and annotations (read by `typing.get_type_hints`) work;
- `a in b` becomes `_contains_(b, a)`, priced by the size of `b`; `a == b`, `a < b`, …
  become `_compare_(op, a, b)`, priced by the smaller operand's top-level size (chained
  comparisons price each operand through `_sized_`);
- f-string fields become `_text_(value, conversion, spec)`, which refuses non-deterministic
  text (default reprs with addresses) and prices the width;
- every `except` handler starts with `_caught_()`, which makes a caught `RecursionError` or
  `MemoryError` fatal (where they strike depends on the host, so no contract may react to them);
- `*args` and `**kwargs` unpacking become `_star_(…)` / `_star_kw_(…)`, which price the size.
"""

from __future__ import annotations

import ast
from typing import TypeVar

BINARY_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
"""Operator symbols passed to the runtime's `_binop_` ('/' and '@' are refused by the policy)."""

COMPARISON_OPERATORS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
"""Comparison symbols passed to the runtime's `_compare_`."""

_Node = TypeVar("_Node", bound=ast.AST)


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _charge_statement(name: str, count: int) -> ast.stmt:
    return ast.Expr(value=_call(name, ast.Constant(count)))


def _is_plain_constant(node: ast.expr) -> bool:
    """A str, bytes, bool, None or small int literal: a dict key that needs no check."""
    if not isinstance(node, ast.Constant):
        return False
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**61 - 1) < value < 2**61 - 1
    return isinstance(value, str | bytes | bool) or value is None


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_future_import(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


class FuelInstrumenter(ast.NodeTransformer):
    """Inserts the fuel charges and the size-pricing helpers described in the module docstring."""

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body, allow_future=True)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        body = node.body
        head: list[ast.stmt] = []
        if body and _is_docstring(body[0]):
            head, body = body[:1], body[1:]
        if not body:
            body = [ast.Pass()]
        guarded = ast.Try(
            body=self._charged_block(body, charge=False),
            handlers=[],
            orelse=[],
            finalbody=[ast.Expr(value=_call("_leave_"))],
        )
        node.body = [*head, _charge_statement("_enter_", len(body)), guarded]
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.generic_visit(node)
        return _call("_lambda_", node)

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        iterated = node.iter
        if (
            isinstance(iterated, ast.Call)
            and isinstance(iterated.func, ast.Name)
            and iterated.func.id == "_getiter_"
        ):
            iterated.func.id = "_loopiter_"  # the charged body pays for each iteration
        node.body = self._charged_block(node.body)
        node.orelse = self._charged_block(node.orelse)
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body)
        node.orelse = self._charged_block(node.orelse)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body)
        node.orelse = self._charged_block(node.orelse)
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body)
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        self.generic_visit(node)
        node.body = self._charged_block(node.body)
        node.orelse = self._charged_block(node.orelse)
        node.finalbody = self._charged_block(node.finalbody)
        for handler in node.handlers:
            handler.body = [ast.Expr(value=_call("_caught_")), *self._charged_block(handler.body)]
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        if any(
            isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Slice)
            for target in node.targets
        ):
            # `items[a:b] = iterable` fills the list from the iterable in C: price it first.
            node.value = _call("_star_", node.value)
        if len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
                # `obj[k] = v` becomes `_setitem_(v, obj, k)` (Python's order: the value first),
                # which checks a dict key before storing.
                return ast.Expr(value=_call("_setitem_", node.value, target.value, target.slice))
        self._check_item_keys(node.targets)
        return node

    def visit_Delete(self, node: ast.Delete) -> ast.AST:
        self.generic_visit(node)
        if len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
                return ast.Expr(value=_call("_delitem_", target.value, target.slice))
        self._check_item_keys(node.targets)
        return node

    @staticmethod
    def _check_item_keys(targets: list[ast.expr]) -> None:
        for target in targets:
            if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
                target.slice = _call("_key_", target.slice)

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        self.generic_visit(node)
        node.key = _call("_key_", node.key)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        symbol = BINARY_OPERATORS[type(node.op)]
        return _call("_binop_", ast.Constant(symbol), node.left, node.right)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        function = node.func
        if isinstance(function, ast.Name) and function.id.startswith("_"):
            return node  # a hook inserted by RestrictedPython or by this pass
        if isinstance(function, ast.Name) and function.id == "super":
            # Zero-argument super() reads its caller's frame; the policy bars rebinding it.
            return node
        if (
            isinstance(function, ast.Call)
            and isinstance(function.func, ast.Name)
            and function.func.id == "_getattr_"
        ):
            return node  # a method call: the attribute guard already priced what it returns
        node.args = [function, *node.args]
        node.func = ast.Name("_call_", ast.Load())
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            # A chain: each operand is priced by its size once, then compared natively.
            node.left = _call("_sized_", node.left)
            node.comparators = [_call("_sized_", operand) for operand in node.comparators]
            return node
        operation = node.ops[0]
        if isinstance(operation, ast.In | ast.NotIn):
            contains = _call("_contains_", node.comparators[0], node.left)
            if isinstance(operation, ast.NotIn):
                return ast.UnaryOp(op=ast.Not(), operand=contains)
            return contains
        symbol = COMPARISON_OPERATORS.get(type(operation))
        if symbol is None:
            return node  # `is` / `is not`: identity costs nothing
        return _call("_compare_", ast.Constant(symbol), node.left, node.comparators[0])

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        spec: ast.expr = node.format_spec if node.format_spec is not None else ast.Constant("")
        node.value = _call("_text_", node.value, ast.Constant(node.conversion), spec)
        node.conversion = -1
        node.format_spec = None
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = _call("_star_", node.value)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        if node.arg is None:
            node.value = _call("_star_kw_", node.value)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        node.values = [
            _call("_star_kw_", value) if key is None else value
            for key, value in zip(node.keys, node.values, strict=True)
        ]
        node.keys = [
            key if key is None or _is_plain_constant(key) else _call("_key_", key)
            for key in node.keys
        ]
        return node

    def _charged_block(
        self, statements: list[ast.stmt], *, allow_future: bool = False, charge: bool = True
    ) -> list[ast.stmt]:
        if not statements or not charge:
            return statements
        position = 0
        if _is_docstring(statements[0]):
            position = 1
        if allow_future:
            while position < len(statements) and _is_future_import(statements[position]):
                position += 1
        charged = len(statements) - (1 if position and _is_docstring(statements[0]) else 0)
        return [
            *statements[:position],
            _charge_statement("_fuel_", max(charged, 1)),
            *statements[position:],
        ]


def instrument_module(tree: ast.Module) -> ast.Module:
    """Return `tree` with every fuel charge inserted and locations filled in."""
    instrumented = FuelInstrumenter().visit(tree)
    if not isinstance(instrumented, ast.Module):
        raise TypeError("fuel instrumentation must return a module")
    return ast.fix_missing_locations(instrumented)
