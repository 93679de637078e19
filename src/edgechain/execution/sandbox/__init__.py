"""The contract sandbox: restricted Python, deterministic fuel, no way out.

Contract code runs on every validator, so it must be deterministic, metered and unable to
escape. `compile_contract({"contract": src, "state": src, "abi": src})` checks and compiles
an application's modules (RestrictedPython 9 with a tightened policy, then fuel
instrumentation); `ContractSandbox(compiled)` loads them as real modules; `run_in_sandbox`
or `ContractSandbox.call` runs contract code under a `FuelMeter`.

    compiled = compile_contract(sources)                  # at publication: SandboxViolation
    with ContractSandbox(compiled) as sandbox:
        meter = FuelMeter(1_000_000)
        counter = run_in_sandbox(sandbox, "Counter", meter=meter)
        run_in_sandbox(sandbox, counter.increment, 5, meter=meter)
        meter.used                                         # identical on every validator

**Allowed.** Functions, classes (with `@dataclass` fields), lambdas, comprehensions and
generator expressions, `for`/`while`, `try`/`except`/`finally`, `with`, `raise`, walrus,
f-strings, integers of any size (priced by size), str/bytes/list/tuple/dict, `assert`
(rewritten to an `if … raise AssertionError` so `python -O` cannot skip it), augmented
assignment to names, attributes and items. Imports: the application's own modules
(`import state`, `from .abi import Op`), anything public of `edgechain.sdk` and its submodules
(the names in `__all__`) except what only services use (`Service`, `ServiceRuntime`,
`edgechain.sdk.service`, `edgechain.sdk.graphql`), and from the standard library only `dataclasses` (dataclass, field,
fields, replace, is_dataclass, …; not `asdict`/`make_dataclass`), `typing` (type names,
`cast`; not `get_type_hints`, which evaluates strings), `enum`, and
`from __future__ import annotations`. Dunder methods a class may define: `__init__`,
`__post_init__`, `__repr__`, `__str__`, `__eq__`/`__ne__`/`__lt__`/`__le__`/`__gt__`/`__ge__`,
`__len__`, `__bool__`, `__contains__` (not `__hash__`: see dict keys below).

**Refused at compilation** (`SandboxViolation` with file, line and construct): any other
import (`os`, `time`, `random`, `operator`, …); names and attributes starting with `_`
(so `__class__`, `__subclasses__`, `__globals__`, `__getattribute__`, `__del__`,
`__init_subclass__`, …) and frame attributes (`gi_frame`, `tb_frame`, `f_globals`, …);
calls of `eval`, `exec`, `compile`, `open`, `globals`, `locals`, `vars`, `dir`, `type`, `id`,
`hash`, `set`, `frozenset`, `float`, `format`, `setattr`, `object`, `print` (no output:
contracts have nowhere to print) and the like (`eval`, `exec`, `open`, `globals`, `hash`, …
may not even be named); keyword arguments starting with `_`; float literals and true division `/` (contracts use integers;
`//` floors); set literals and set comprehensions (their iteration order depends on
`PYTHONHASHSEED`); `yield` (generator functions; generator *expressions* are fine);
`global`/`nonlocal` (state lives in views, not module globals); `async`; `match`; `except*`;
annotations that are not type expressions (`typing.get_type_hints` evaluates them; without
`from __future__ import annotations` Python evaluates them itself, through the guards);
rebinding `super`; integer literals above 4000 digits; syntax nested deeper than 100 levels.

**Refused at run time** (fatal `SandboxViolation`, also when contract code catches it):
`getattr`/`hasattr` with private or frame names; `str.format`/`format_map` (they reach
attributes through `{0.__class__}`); attributes of modules other than the allowed names
(`dataclasses.sys` is refused); unbound methods of builtin classes (`str.ljust`) except
`dict.fromkeys`, `int.from_bytes`, `bytes.fromhex`, `str.maketrans`; `register` on a class
(ABCs are shared with the host); assignments into classes, modules or host objects (an SDK
object only takes item assignment); changing a dict or list that a host class, instance or
module holds (contract code reads it as a read-only view or a priced copy); iteration over sets;
results that are floats or sets (`2 ** -1`, `d.keys() & e.keys()`); text (`str`, `repr`,
f-strings, `%`) of values whose default repr holds a memory address; integer text above
`SandboxLimits.max_int_digits` (independent of the host's `sys.set_int_max_str_digits`);
call depth above `SandboxLimits.max_call_depth`; a builtin error message that holds an
object's address (`[].index(obj)`).

**Fuel** (prices in `CostTable`, charged *before* the work, `OutOfFuel` when the meter is
empty): every block of statements pays `statement` × its length when it is entered, so a loop
body pays every iteration (`while True: pass` runs dry); every call of a contract function or
lambda pays `call`; every item a comprehension, `list()`, `sum()`, `sorted()`, `zip()`, `*args`
or an unpacking takes from an iterator pays `iteration`. Operations whose cost scales with
their data pay `element` per element, character, byte or 64-bit integer word, *before* they
run: `'x' * n` and `[0] * n` pay n, `a + b` the result's length, `a ** b` and `a << b` the
result's words (quadratically above 4096 words), `a in b` the length of `b` (times the
item's depth), `a == b` / `<` … the smaller operand's size with everything nested in it,
`list.index`/`count`/`remove` like `in`, slices their length, `sorted`/`list.sort` the
items' nested size × log2(n), `min`/`max` the items' nested size, `str.join`/`replace`/
`ljust`/`expandtabs`/`translate` and `int.to_bytes` their result, other methods of str/bytes/
list/tuple/dict their receiver's length, `bytes(n)` n, f-string and %-format widths their
width, tuple keys and `isinstance` class tuples their length.
So `'x' * 10**10`, `[0] * 10**9`, `10**10**10` are refused before any memory is taken, and
builtins that loop in C over lazy input (`sum(range(10**12))`, `None in range(10**15)`) run
dry. Sizes are read with the builtin types' own `len`/`bit_length`, so a subclass that
overrides `__len__` cannot lie. Fuel depends only on the code and its inputs — never on hashing,
addresses or the host — so the same call uses the same fuel on every validator and under any
`PYTHONHASHSEED` (tested in subprocesses).

**Calls and recursion.** Contract calls nest at most `SandboxLimits.max_call_depth` deep.
During a call the interpreter's recursion limit is set to the caller's depth plus a fixed
headroom (restored after), so recursion that contract code drives through host code (nested
data compared in C, chained generators, dataclass-generated methods) fails at the same point
on every validator, whatever its configured limit or stack. (The limit is process-wide: a
thread more than ~800 frames deep while a contract runs would see a `RecursionError`.) A
`RecursionError` or `MemoryError` is fatal even if contract code catches it.

**Entry points.** `ContractSandbox.call(meter, f, *args)` runs any callable (a contract method,
or host code such as decoding an operation into a contract ABI class) with `meter` charged;
contract code run outside such a call is a violation. A contract's own exceptions become
`ContractFailed` (the message is kept only when it is plain data); `OutOfFuel` and
`SandboxViolation` are raised as such even when contract code caught them, and so is an error
the runtime made fatal with `SandboxGuards.record_fatal` (`BlobsNotFound`: a blob this
validator does not store, which must fail the block here, never become an outcome); other
edgechain errors raised by the runtime pass through.

**Backstop.** `ContractSandbox(compiled, wall_clock_limit=seconds)` stops a call that runs
longer with `ContractTimedOut`, at the next statement block. It is not deterministic: it
exists so that whatever fuel underprices cannot hold a validator, which should then decline
to vote rather than record the outcome.

**Dict keys.** Integers of 61 bits or more (alone, in tuples or in dataclasses) are refused as
dict keys on every path (`d[k]`, `in`, displays, comprehensions, `dict()`, `get`, `setdefault`,
`pop`, `update`, `fromkeys`): such keys can be chosen to share one hash, which turns each dict
operation into an unpriced linear scan. Contract classes cannot define `__hash__` for the same
reason (dataclass-generated hashes are fine). Tuple keys are priced by their size.

**Known limits.** The `is*` string checks and `startswith`-like methods are priced by the
receiver's length whatever the work. The Python-level walks that price nested data are host
work proportional to data already paid for. Module-level mutable objects persist for the lifetime of a
`ContractSandbox`: load a fresh sandbox per block (or per operation) so that validators that
restarted agree. A sandbox is for one thread at a time. Objects the SDK hands to contracts
must keep their host handles in `_private` attributes; containers they hold are shielded one
level deep (a list inside a host dict is not), and host functions reachable from contracts
must bound their own work. The identity of cached `typing` aliases (`List[int] is
List[int]`) depends on the process's history. Metering costs time: about 20-30x plain Python
on attribute- and arithmetic-heavy micro-benchmarks (CPU time, 2-core shared machine).
"""

from edgechain.execution.errors import (
    ContractFailed,
    ContractTimedOut,
    OutOfFuel,
    SandboxViolation,
)
from edgechain.execution.sandbox.fuel import CostTable, FuelMeter, SandboxLimits
from edgechain.execution.sandbox.runner import (
    CompiledContract,
    ContractSandbox,
    compile_contract,
    run_in_sandbox,
)

__all__ = [
    "CompiledContract",
    "ContractFailed",
    "ContractSandbox",
    "ContractTimedOut",
    "CostTable",
    "FuelMeter",
    "OutOfFuel",
    "SandboxLimits",
    "SandboxViolation",
    "compile_contract",
    "run_in_sandbox",
]
