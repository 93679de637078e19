"""Compiling contract sources, loading them as real modules, and calling into them under a meter."""

from __future__ import annotations

import ast
import itertools
import sys
import threading
import types
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgechain.base.errors import EdgechainError
from edgechain.execution.errors import (
    ContractFailed,
    ContractTimedOut,
    OutOfFuel,
    SandboxViolation,
)
from edgechain.execution.sandbox.fuel import CostTable, FuelMeter, SandboxLimits
from edgechain.execution.sandbox.guards import CONTRACT_FILENAME_PREFIX, SandboxGuards
from edgechain.execution.sandbox.instrument import instrument_module
from edgechain.execution.sandbox.policy import STDLIB_ALLOWED_NAMES, ContractPolicy, is_sdk_module

MAIN_MODULE = "contract"
"""The module of an application whose names `ContractSandbox.lookup` resolves."""

HOST_STACK_HEADROOM = 400
"""Frames the host keeps free above the deepest contract call (each may add a few host frames)."""

_sandbox_numbers = itertools.count()


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """An application's contract modules, checked by the policy and instrumented for fuel."""

    code: Mapping[str, types.CodeType]
    """Module name (e.g. 'contract', 'state', 'abi') to its compiled, instrumented code."""
    main_module: str = MAIN_MODULE
    """The module whose names entry points are looked up in."""
    costs: CostTable = field(default_factory=CostTable)
    """The fuel prices the code is run with."""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    """The sandbox's hard limits (call depth, integer text size)."""


def _check_module_name(name: str) -> None:
    if not name.isidentifier() or name.startswith("_"):
        raise SandboxViolation(f"module name {name!r} is not a public identifier")
    if name in STDLIB_ALLOWED_NAMES or name == "edgechain" or is_sdk_module(name):
        raise SandboxViolation(f"module name {name!r} shadows an allowed library module")


MAX_NESTING = 100
"""Deepest nesting of syntax a contract may have (checked without recursion, so the verdict
does not depend on the host's stack; the policy's visitors recurse that deep at most)."""


def _check_nesting(tree: ast.AST, filename: str) -> None:
    pending: list[tuple[ast.AST, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_NESTING:
            raise SandboxViolation(
                f"syntax nested deeper than {MAX_NESTING} levels",
                filename,
                getattr(node, "lineno", None),
            )
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _compile_module(name: str, source: str, siblings: frozenset[str]) -> types.CodeType:
    filename = f"{CONTRACT_FILENAME_PREFIX}{name}.py"
    try:
        tree = ast.parse(source, filename=filename, mode="exec")
    except SyntaxError as error:
        raise SandboxViolation(f"syntax error: {error.msg}", filename, error.lineno) from error
    except (ValueError, RecursionError, MemoryError) as error:
        # Null bytes, or nesting beyond the parser's own (build-time, fixed) limits.
        raise SandboxViolation(f"unparsable source: {error}", filename) from error
    _check_nesting(tree, filename)
    policy = ContractPolicy(filename, siblings)
    restricted = policy.visit(tree)
    if policy.located_errors:
        ordered = sorted(policy.located_errors, key=lambda error: error[0] or 0)
        line = ordered[0][0]
        messages = [message if at == line else f"line {at}: {message}" for at, message in ordered]
        raise SandboxViolation("; ".join(messages), filename, line)
    instrumented = instrument_module(restricted)
    return compile(instrumented, filename, "exec", dont_inherit=True)


def compile_contract(
    sources: Mapping[str, str],
    *,
    main_module: str = MAIN_MODULE,
    costs: CostTable | None = None,
    limits: SandboxLimits | None = None,
) -> CompiledContract:
    """Check and compile an application's contract modules (`{"contract": source, …}`).

    Raises `SandboxViolation` naming the file, the line and the refused construct. Nothing
    runs: module bodies execute when the contract is loaded, under a meter.
    """
    if main_module not in sources:
        raise SandboxViolation(f"no '{main_module}' module among {sorted(sources)}")
    siblings = frozenset(sources)
    for name in sorted(sources):
        _check_module_name(name)
    code = {name: _compile_module(name, sources[name], siblings) for name in sorted(sources)}
    return CompiledContract(
        code=types.MappingProxyType(code),
        main_module=main_module,
        costs=costs or CostTable(),
        limits=limits or SandboxLimits(),
    )


def _unregister(names: list[str]) -> None:
    for name in names:
        sys.modules.pop(name, None)


class ContractSandbox:
    """One loaded instance of a compiled contract: its modules, guards and metered calls.

    Module bodies run on first use (`load`, or an import between the app's modules), under the
    meter of the call that triggers them. Each sandbox registers its modules in `sys.modules`
    under a unique package name (dataclasses and typing look classes' modules up there) and
    removes them on `close()` or when it is garbage-collected.
    """

    def __init__(
        self, compiled: CompiledContract, *, wall_clock_limit: float | None = None
    ) -> None:
        host_digits = sys.get_int_max_str_digits()
        if 0 < host_digits < compiled.limits.max_int_digits:
            # The sandbox's own, lower limit must be the one that decides, on every validator.
            raise SandboxViolation(
                f"the host limits integer text to {host_digits} digits, below the sandbox's "
                f"{compiled.limits.max_int_digits}: unset PYTHONINTMAXSTRDIGITS"
            )
        self.compiled = compiled
        self.wall_clock_limit = wall_clock_limit
        """Seconds a `call` may run before `ContractTimedOut` (None: no backstop)."""
        self.package_name = f"edgechain_sandbox_{next(_sandbox_numbers)}"
        self._package = types.ModuleType(self.package_name)
        self._package.__package__ = self.package_name
        self._package.__path__ = []
        self._modules: dict[str, types.ModuleType] = {}
        self._executing: set[str] = set()
        self._registered: list[str] = [self.package_name]
        # The guards live in the modules' globals, which sys.modules holds: they must not hold
        # the sandbox, or it could never be collected (and its modules never unregistered).
        sandbox_reference = weakref.ref(self)
        package_name = self.package_name

        def import_sibling(name: str) -> types.ModuleType:
            sandbox = sandbox_reference()
            if sandbox is None:
                raise SandboxViolation("import in a contract whose sandbox was closed")
            return sandbox._import_sibling(name)

        def is_contract_module(module_name: str) -> bool:
            return module_name == package_name or module_name.startswith(package_name + ".")

        self.guards = SandboxGuards(
            compiled.costs, compiled.limits, import_sibling, is_contract_module
        )
        sys.modules[self.package_name] = self._package
        self._finalizer = weakref.finalize(self, _unregister, self._registered)

    @property
    def is_loaded(self) -> bool:
        """Whether the main module's body has run (`load`)."""
        return self.compiled.main_module in self._modules

    def close(self) -> None:
        """Remove this sandbox's modules from `sys.modules`."""
        self._finalizer()

    def __enter__(self) -> ContractSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_backstop(self) -> threading.Timer | None:
        """A timer that stops the running call after `wall_clock_limit` seconds.

        Fuel is the deterministic limit; this catches what fuel underprices (see the package
        docstring's known limits) so that a validator is never stuck, at the price of an
        outcome that is not deterministic (`ContractTimedOut`: do not vote).
        """
        if self.wall_clock_limit is None:
            return None
        timer = threading.Timer(self.wall_clock_limit, _trip, (self.guards, self.wall_clock_limit))
        timer.daemon = True
        timer.start()
        return timer

    def _is_contract_module(self, module_name: str) -> bool:
        return module_name == self.package_name or module_name.startswith(self.package_name + ".")

    def _import_sibling(self, name: str) -> types.ModuleType:
        """Load (once) the application's module `name`; '' is the application's package."""
        if name == "":
            return self._package
        loaded = self._modules.get(name)
        if loaded is not None:
            return loaded
        code = self.compiled.code[name]  # KeyError: not a module of this application
        full_name = f"{self.package_name}.{name}"
        module = types.ModuleType(full_name)
        module.__dict__.update(self.guards.module_globals(full_name))
        module.__package__ = self.package_name
        self._modules[name] = module
        sys.modules[full_name] = module
        self._registered.append(full_name)
        try:
            exec(code, module.__dict__)
        except BaseException:
            del self._modules[name]
            sys.modules.pop(full_name, None)
            raise
        setattr(self._package, name, module)
        return module

    def load(self, meter: FuelMeter) -> types.ModuleType:
        """Run the main module's body (and what it imports) under `meter`; return the module."""
        return self.call(meter, self._import_sibling, self.compiled.main_module)  # type: ignore[no-any-return]

    def lookup(self, path: str, *, module_name: str | None = None) -> Any:
        """The object a dotted `path` names in a loaded module (the main one by default),
        e.g. `lookup("CounterContract")` or `lookup("Increment", module_name="abi")`."""
        module_name = module_name or self.compiled.main_module
        module = self._modules.get(module_name)
        if module is None:
            raise SandboxViolation(f"lookup in module '{module_name}' before it was loaded")
        value: Any = module
        for part in path.split("."):
            if part.startswith("_") or not part.isidentifier():
                raise SandboxViolation(f"entry point {path!r} names a private or invalid attribute")
            try:
                value = getattr(value, part)
            except AttributeError as error:
                raise SandboxViolation(f"the contract defines no {path!r}") from error
        return value

    def call(
        self, meter: FuelMeter, function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """Call `function` (contract code, or host code that calls into it) under `meter`.

        Raises `OutOfFuel` or `SandboxViolation` when the contract broke the rules, even if its
        own code caught the error; `ContractFailed` (from the original) when the contract raised
        an exception of its own; edgechain errors raised by the runtime pass through.
        """
        guards = self.guards
        if guards.meter is not None:
            raise SandboxViolation("re-entrant call into a contract that is already running")
        guards.meter = meter
        guards.depth = 0
        guards.fatal = None
        # The same number of free frames on every validator, whatever its own limit or stack:
        # where host-level recursion (nested data compared in C, chained generators) fails is
        # then the same everywhere.
        previous_limit = sys.getrecursionlimit()
        headroom = HOST_STACK_HEADROOM + 4 * self.compiled.limits.max_call_depth
        sys.setrecursionlimit(_current_depth() + headroom)
        timer = self._start_backstop()
        try:
            result = function(*args, **kwargs)
        except (OutOfFuel, SandboxViolation, ContractTimedOut) as error:
            raise (guards.fatal or error) from None
        except RecursionError as error:
            raise SandboxViolation("recursion too deep for the host") from error
        except MemoryError as error:
            raise SandboxViolation("the host ran out of memory") from error
        except EdgechainError:
            if guards.fatal is not None:
                raise guards.fatal from None
            raise
        except Exception as error:
            if guards.fatal is not None:
                raise guards.fatal from None
            raise ContractFailed(_describe_contract_error(error)) from error
        finally:
            if timer is not None:
                timer.cancel()
            guards.meter = None
            guards.depth = 0
            sys.setrecursionlimit(previous_limit)
        if guards.fatal is not None:
            raise guards.fatal
        return result


def _trip(guards: SandboxGuards, seconds: float) -> None:
    if guards.fatal is None and guards.meter is not None:
        # Read by the next fuel charge of the contract (one per statement block).
        guards.fatal = ContractTimedOut(f"contract code ran longer than {seconds} s")


def _is_plain_text_value(value: object, depth: int = 0) -> bool:
    if value is None or isinstance(value, bool | str | bytes):
        return True
    if isinstance(value, int):
        return int.bit_length(value) <= 4000
    if isinstance(value, tuple | list) and depth < 2 and len(value) <= 64:
        return all(_is_plain_text_value(item, depth + 1) for item in value)
    return False


def _describe_contract_error(error: Exception) -> str:
    """The message of a contract's own exception, if its text is the same on every validator."""
    name = type(error).__name__
    text_method = type(error).__str__
    if (
        getattr(text_method, "__code__", None) is None
        and _is_plain_text_value(error.args)
        and " at 0x" not in str(error.args)
    ):
        return f"contract raised {name}: {error}"
    return f"contract raised {name} (its message is not plain data and is withheld)"


def _current_depth() -> int:
    depth = 0
    frame: types.FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def run_in_sandbox(
    target: ContractSandbox | CompiledContract,
    entry: str | Callable[..., Any],
    *args: Any,
    meter: FuelMeter,
    **kwargs: Any,
) -> Any:
    """Call `entry` (a dotted name in the main module, or a callable) under `meter`.

    Loads the contract first if needed (its module bodies are charged to the same meter).
    Given a `CompiledContract`, runs a named entry in a fresh `ContractSandbox` that is dropped
    afterwards (its modules unregistered): fit for plain results. To call into objects the
    contract made, keep a `ContractSandbox` and pass it instead.
    """
    if isinstance(target, CompiledContract):
        if not isinstance(entry, str):
            raise SandboxViolation(
                "a callable entry needs the ContractSandbox it came from, not a CompiledContract"
            )
        sandbox = ContractSandbox(target)
    else:
        sandbox = target
    if not sandbox.is_loaded:
        sandbox.load(meter)
    function = sandbox.lookup(entry) if isinstance(entry, str) else entry
    return sandbox.call(meter, function, *args, **kwargs)
