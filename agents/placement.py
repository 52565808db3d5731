"""Where a node without Steward metadata runs: in the workflow when its code provably does no I/O.

A plain LangGraph node may do anything (HTTP calls, files, a model, the clock), so by default it runs as an
activity (``agents.registry.DEFAULT_NODE_OPTIONS``): retried, timed out, recorded the moment it finishes. That
costs two round trips to the Temporal server and a history entry per node, which is most of a run's cost when
the node only reshapes its state (``return {"trail": ["first"]}``). Such a node buys nothing from being an
activity: run in the workflow it is replayed, never re-executed, and gives the same result.

``inline_reason`` reads the node's bytecode and says yes only when everything it can reach is known not to
touch the world: its state argument and local values, literals, module constants, a short list of builtins
(``len``, ``dict``, ``sorted``... no ``open``, ``print``, ``hash``, ``id``), LangGraph's ``interrupt`` /
``Command`` / ``Send``, and other functions of the same module that pass the same test. Anything else (an
imported module, an object captured in a closure, ``config`` / ``runtime`` parameters, an ``import`` statement,
a set, whose iteration order changes between processes and so between a run and its replay) keeps the node an
activity. The test is conservative on purpose: a wrong "no" costs a round trip, a wrong "yes" would put I/O in
workflow code. The workflow sandbox stays in force for inlined nodes as for any workflow code.

A project turns this off with ``"steward": {"inline_pure_nodes": false}``; a node's own ``execute_in``
always wins.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import types
from typing import Any

SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "dict", "divmod", "enumerate",
        "filter", "float", "format", "hex", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max",
        "min", "next", "oct", "ord", "pow", "range", "repr", "reversed", "round", "slice", "sorted", "str", "sum",
        "tuple", "zip",
        "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError",
        "LookupError", "NotImplementedError", "RuntimeError", "StopIteration", "TypeError", "ValueError",
        "ZeroDivisionError",
    }
)  # fmt: skip
"""Builtins that compute from their arguments only. ``set``/``frozenset``/``hash``/``id`` are left out: their
results depend on the process (string hashing is randomised), so a replay in another worker could differ."""

_LANGGRAPH_CALLS = {("langgraph.types", "interrupt"), ("langgraph.types", "Command"), ("langgraph.types", "Send")}
"""LangGraph calls that are workflow-safe: the Temporal plugin handles ``interrupt`` in workflow nodes."""

_STATE_ONLY_PARAMS = 1
_IMPURE_OPS = {"IMPORT_NAME", "IMPORT_FROM", "IMPORT_STAR", "STORE_GLOBAL", "DELETE_GLOBAL", "BUILD_SET", "SET_ADD"}
_GLOBAL_OPS = {"LOAD_GLOBAL", "LOAD_NAME"}


def _constant(value: Any) -> bool:
    """An immutable value whose iteration order does not depend on the process."""
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return True
    if isinstance(value, tuple):
        return all(_constant(v) for v in value)
    return False


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out.extend(_code_objects(const))
    return out


def _value_reason(name: str, value: Any, module: str, seen: set[int]) -> str | None:
    """Why a global or captured value makes the caller impure, or None when it is safe to use."""
    if _constant(value):
        return None
    if (getattr(value, "__module__", None), getattr(value, "__name__", None)) in _LANGGRAPH_CALLS:
        return None
    if isinstance(value, types.FunctionType) and value.__module__ == module:
        return _function_reason(value, seen, node=False)
    if isinstance(value, types.ModuleType):
        return f"uses the module {value.__name__!r}"
    return f"uses {name!r} (a {type(value).__name__} from {getattr(value, '__module__', None) or '?'})"


def _function_reason(fn: types.FunctionType, seen: set[int], node: bool) -> str | None:
    if id(fn) in seen:
        return None
    seen.add(id(fn))
    code = fn.__code__
    if node:
        params = list(inspect.signature(fn).parameters.values())
        if len(params) != _STATE_ONLY_PARAMS or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return "takes more than its state (config, runtime, store or writer reach outside the state)"
    cells = dict(zip(code.co_freevars, fn.__closure__ or (), strict=True))
    for name, cell in cells.items():
        try:
            value = cell.cell_contents
        except ValueError:
            return f"captures {name!r} before it is set"
        if (why := _value_reason(name, value, fn.__module__, seen)) is not None:
            return f"captures {name!r}: {why}"
    glob = fn.__globals__
    for c in _code_objects(code):
        for ins in dis.get_instructions(c):
            if ins.opname in _IMPURE_OPS:
                what = "builds a set" if "SET" in ins.opname else f"{ins.opname.lower().replace('_', ' ')}"
                return f"{what} ({c.co_name}, line {ins.positions.lineno if ins.positions else '?'})"
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and str(ins.argval).startswith("__"):
                return f"reads the attribute {ins.argval!r}"
            if ins.opname in _GLOBAL_OPS:
                name = str(ins.argval)
                if name in glob:
                    if (why := _value_reason(name, glob[name], fn.__module__, seen)) is not None:
                        return why
                elif hasattr(builtins, name):
                    if name not in SAFE_BUILTINS:
                        return f"calls the builtin {name!r}"
                else:
                    return f"uses {name!r}, which is not defined"
    return None


def inline_reason(fn: Any) -> str | None:
    """None when ``fn`` (a node's function) provably reads only its state; otherwise why it must be an activity."""
    if not isinstance(fn, types.FunctionType):
        return f"is a {type(fn).__name__}, not a plain function"
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return "is a generator"
    return _function_reason(fn, set(), node=True)
