"""Tool registry: name -> spec (schemas, risk, version, owner) and the only way to run a tool."""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ValidationError

RiskLevel = Literal["low", "medium", "high"]


class ToolArgumentsInvalid(ValueError):
    """Arguments that don't match the tool's schema; the message names each bad field."""


@dataclass(frozen=True)
class ExecutionGrant:
    """Proof that the guarded path cleared this call: issued by the runtime's execute_tool activity."""

    run_id: str
    tool_call_id: str
    approval_id: str | None
    idempotency_key: str
    _token: object = field(repr=False, compare=False, default=None)


_GRANT_TOKEN = object()


def issue_grant(run_id: str, tool_call_id: str, approval_id: str | None) -> ExecutionGrant:
    """Only the runtime calls this (from the execute_tool activity, after checking the approval record)."""
    return ExecutionGrant(run_id, tool_call_id, approval_id, f"{run_id}:{tool_call_id}", _GRANT_TOKEN)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args_schema: type[BaseModel]
    result_schema: type[BaseModel]
    risk: RiskLevel
    side_effect: bool
    version: str
    owner: str
    timeout_s: float
    _fn: Callable[..., Any] = field(repr=False)
    source: Any = field(default=None, repr=False, compare=False)
    """The langchain-core tool this spec was made from (``register_langchain_tool``); None for our own tools."""
    risk_from: str = "code"
    """Where ``risk`` was declared: ``code`` (register_tool), ``project`` (the project file), ``metadata``
    (the tool's own ``metadata``) or ``default`` (declared nowhere, so treated as high)."""
    depends_on: tuple[str, ...] = ()
    """The decision tools this action presupposes (a customer notice presupposes ``approve_loan`` or
    ``decline_loan``). The guarded tool node never runs it beside one of them in the same step, runs it after
    one executed as proposed, and drops it, with the reason recorded, when that decision was rejected, denied,
    answered instead, edited or never taken (``agents.guarded.unmet_dependency``)."""

    def validate_args(self, args: Any) -> dict[str, Any]:
        """Validate and normalise arguments; the error names every bad field."""
        if not isinstance(args, dict):
            raise ToolArgumentsInvalid(f"tool {self.name!r}: arguments must be an object, got {type(args).__name__}")
        try:
            return self.args_schema.model_validate(args).model_dump(mode="json")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsInvalid(f"tool {self.name!r}: invalid arguments: {problems}") from exc

    async def run(self, args: dict[str, Any], grant: ExecutionGrant) -> dict[str, Any]:
        if grant._token is not _GRANT_TOKEN:
            raise PermissionError(f"tool {self.name!r} can only run through the guarded tool node")
        parsed = self.args_schema.model_validate(args)
        out = self._fn(parsed, grant)
        if inspect.isawaitable(out):
            out = await out
        return self.result_schema.model_validate(out).model_dump(mode="json")

    def as_langchain_tool(self) -> Any:
        """The tool as a langchain-core ``StructuredTool`` for ``bind_tools``: schema only.

        A model bound to it sees the name, description and argument schema; invoking it directly raises,
        because the only way to run a tool is the guarded tool node (policy, approvals, audit).
        """
        from langchain_core.tools import StructuredTool

        name = self.name

        def refuse(**_: Any) -> Any:
            raise PermissionError(f"tool {name!r} can only run through the guarded tool node")

        async def arefuse(**_: Any) -> Any:
            refuse()

        return StructuredTool.from_function(
            func=refuse,
            coroutine=arefuse,
            name=self.name,
            description=self.description or self.name,
            args_schema=self.args_schema,
            metadata={"risk": self.risk, "side_effect": self.side_effect, "version": self.version, "owner": self.owner},
        )

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "owner": self.owner,
            "risk": self.risk,
            "side_effect": self.side_effect,
            "timeout_s": self.timeout_s,
            "risk_from": self.risk_from,
            "depends_on": list(self.depends_on),
            "args_schema": self.args_schema.model_json_schema(),
            "result_schema": self.result_schema.model_json_schema(),
        }


_REGISTRY: dict[str, ToolSpec] = {}

ToolFn = Callable[[Any, ExecutionGrant], dict[str, Any] | BaseModel | Awaitable[dict[str, Any] | BaseModel]]


def register_tool(
    *,
    name: str,
    args_schema: type[BaseModel],
    result_schema: type[BaseModel],
    risk: RiskLevel,
    side_effect: bool,
    version: str = "1.0.0",
    owner: str = "platform",
    timeout_s: float = 30.0,
    description: str = "",
    depends_on: tuple[str, ...] | list[str] = (),
) -> Callable[[ToolFn], ToolFn]:
    """Register a tool; the decorated function receives (parsed_args, grant) and returns the result.

    ``depends_on``: the decision tools this action presupposes (see ``ToolSpec.depends_on``).
    """
    if name in depends_on:
        raise ValueError(f"tool {name!r} cannot depend on itself")

    def deco(fn: ToolFn) -> ToolFn:
        if name in _REGISTRY and _REGISTRY[name]._fn is not fn:
            raise ValueError(f"tool {name!r} is already registered")
        _REGISTRY[name] = ToolSpec(
            name=name,
            description=description or (inspect.getdoc(fn) or "").split("\n")[0],
            args_schema=args_schema,
            result_schema=result_schema,
            risk=risk,
            side_effect=side_effect,
            version=version,
            owner=owner,
            timeout_s=timeout_s,
            _fn=fn,
            depends_on=tuple(depends_on),
        )
        return fn

    return deco


def get_tool(name: str) -> ToolSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"tool {name!r} not found; known: {sorted(_REGISTRY)}") from None


@contextmanager
def project_tools() -> Iterator[None]:
    """Scope the langchain tools a project registers to that project.

    Loading a project first forgets the tools the previous project registered (a reloaded or different
    project may bring another tool under the same name, which is not a conflict), and gives them back if the
    load fails, so a broken reload leaves the last good project's tools in force. Steward's own tools stay.
    """
    previous = {name: spec for name, spec in _REGISTRY.items() if spec.source is not None}
    for name in previous:
        del _REGISTRY[name]
    try:
        yield
    except BaseException:
        for name in [n for n, spec in _REGISTRY.items() if spec.source is not None]:
            del _REGISTRY[name]
        _REGISTRY.update(previous)
        raise


def dependencies_of(name: str) -> tuple[str, ...]:
    """The decision tools a registered tool presupposes (``ToolSpec.depends_on``); none for an unknown tool,
    which the policy denies anyway."""
    spec = _REGISTRY.get(name)
    return spec.depends_on if spec is not None else ()


def list_tools() -> list[ToolSpec]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def langchain_tools(names: list[str]) -> list[Any]:
    """The named tools as langchain-core tools (schema only), for ``chat_model.bind_tools(...)``."""
    return [get_tool(n).as_langchain_tool() for n in names]


# -- langchain-core tools -------------------------------------------------------------------------------------
# A user's ``@tool`` / ``StructuredTool`` / ``BaseTool`` becomes a registered tool like ours: same schema check,
# guards, policy, approvals, ledger and audit. Registering *seals* the tool object: its ``run``/``arun`` (which
# ``invoke``, ``ainvoke`` and ``__call__`` go through) refuse unless the execute_tool activity holds a grant for
# the call, so a node that calls the tool directly, outside the guarded node, gets a clear error instead of an
# unguarded side effect.

LANGCHAIN_DECLARATION_KEYS = ("risk", "side_effect", "owner", "version", "timeout_s", "depends_on")
"""What a project file (or ``tool.metadata``) may declare about a langchain tool."""

_RISKS: tuple[str, ...] = get_args(RiskLevel)
_RUNNING_GRANT: contextvars.ContextVar[ExecutionGrant | None] = contextvars.ContextVar("steward_grant", default=None)


class LangchainToolOutput(BaseModel):
    """A langchain tool returns anything; the ledger and the audit keep it as JSON under ``content``."""

    content: Any = None


class ToolRegistrationError(ValueError):
    """A langchain tool Steward cannot register; the message names the tool, the key and why."""


def _declared(tool: Any, declared: Mapping[str, Any], key: str) -> tuple[Any, str] | None:
    if declared.get(key) is not None:
        return declared[key], "project"
    meta = getattr(tool, "metadata", None) or {}
    if meta.get(key) is not None:
        return meta[key], "metadata"
    return None


def _args_model(tool: Any) -> type[BaseModel]:
    """The arguments the model sends (langchain's ``tool_call_schema``), refusing tools Steward cannot check."""
    name = getattr(tool, "name", "?")
    if getattr(tool, "args_schema", None) is None:
        raise ToolRegistrationError(
            f"tool {name!r} has no args schema: give it one (args_schema=YourModel, or use @tool on a typed "
            "function) so Steward can validate its arguments before the policy sees them"
        )
    schema = tool.tool_call_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise ToolRegistrationError(
            f"tool {name!r}: args schema is a {type(tool.args_schema).__name__}; Steward needs a pydantic model "
            "(args_schema=YourModel) to validate arguments"
        )
    full = tool.args_schema
    hidden = set(full.model_fields if isinstance(full, type) and issubclass(full, BaseModel) else tool.args)
    hidden -= set(schema.model_fields)
    if hidden:
        raise ToolRegistrationError(
            f"tool {name!r} takes injected arguments {sorted(hidden)} (InjectedState, InjectedToolCallId, "
            "ToolRuntime, ...), which Steward's guarded tool node does not supply; pass them as plain arguments"
        )
    return schema


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else str(value)


def _seal(tool: Any) -> None:
    """Make the tool object refuse to run outside the execute_tool activity (idempotent)."""
    if tool.__dict__.get("_steward_sealed"):
        return
    name = tool.name

    def check() -> None:
        grant = _RUNNING_GRANT.get()
        if grant is None or grant._token is not _GRANT_TOKEN:
            raise PermissionError(
                f"tool {name!r} is registered with Steward and runs only through the guarded tool node "
                "(a ToolNode in your graph, or agents.guarded): policy, approvals and audit. "
                "Call it from a ToolNode instead of invoking it directly from a node"
            )

    run, arun = tool.run, tool.arun

    @functools.wraps(run)
    def sealed_run(*args: Any, **kwargs: Any) -> Any:
        check()
        return run(*args, **kwargs)

    @functools.wraps(arun)
    async def sealed_arun(*args: Any, **kwargs: Any) -> Any:
        check()
        return await arun(*args, **kwargs)

    # Instance attributes shadow the class's methods; object.__setattr__ because tools are pydantic models.
    object.__setattr__(tool, "run", sealed_run)
    object.__setattr__(tool, "arun", sealed_arun)
    object.__setattr__(tool, "_steward_sealed", True)


def _same_tool(a: Any, b: Any) -> bool:
    """The same tool rebuilt (a graph is built per consumer; a module-level graph is deep-copied)."""
    if a is b:
        return True
    if type(a) is not type(b) or a.name != b.name:
        return False
    fns = ("func", "coroutine")
    if any(getattr(a, f, None) is not None for f in fns):
        return all(getattr(a, f, None) is getattr(b, f, None) for f in fns)
    return True  # a BaseTool subclass: its code is its class


def register_langchain_tool(
    tool: Any,
    declared: Mapping[str, Any] | None = None,
    *,
    owner: str = "unknown",
    version: str = "0",
) -> ToolSpec:
    """Register a langchain-core tool (``@tool``, ``StructuredTool``, ``BaseTool``) and seal it.

    Each of ``risk``, ``side_effect``, ``owner``, ``version``, ``timeout_s``, ``depends_on`` comes from ``declared``
    (the project file's entry for this tool) first, then ``tool.metadata``: the deployer's word overrides the
    author's default. ``depends_on`` names the decision tools this action presupposes (a notice after a refund):
    the tool node runs it only after that decision executed as proposed.
    A risk declared nowhere is ``high`` (a person must approve each call), and an undeclared side effect is
    assumed (True): Steward never guesses in the permissive direction.
    """
    from langchain_core.tools import BaseTool

    if not isinstance(tool, BaseTool):
        raise ToolRegistrationError(f"{tool!r} is not a langchain-core tool (BaseTool)")
    declared = dict(declared or {})
    unknown = sorted(set(declared) - set(LANGCHAIN_DECLARATION_KEYS))
    if unknown:
        raise ToolRegistrationError(
            f"tool {tool.name!r}: unknown declaration keys {unknown}; known: {list(LANGCHAIN_DECLARATION_KEYS)}"
        )
    args_schema = _args_model(tool)
    risk_found = _declared(tool, declared, "risk")
    risk_value, risk_from = risk_found if risk_found is not None else ("high", "default")
    if risk_value not in _RISKS:
        raise ToolRegistrationError(
            f"tool {tool.name!r}: risk {risk_value!r} (from {risk_from}); known: {list(_RISKS)}"
        )
    risk = cast(RiskLevel, risk_value)
    side = _declared(tool, declared, "side_effect")
    if side is not None and not isinstance(side[0], bool):
        raise ToolRegistrationError(f"tool {tool.name!r}: side_effect must be true or false, got {side[0]!r}")
    timeout = _declared(tool, declared, "timeout_s")
    timeout_s = float(timeout[0]) if timeout is not None else 30.0
    if timeout_s <= 0:
        raise ToolRegistrationError(f"tool {tool.name!r}: timeout_s must be positive, got {timeout_s}")
    deps_found = _declared(tool, declared, "depends_on")
    depends_on: tuple[str, ...] = ()
    if deps_found is not None:
        deps = deps_found[0]
        if isinstance(deps, str) or not isinstance(deps, list | tuple) or not all(isinstance(d, str) for d in deps):
            raise ToolRegistrationError(f"tool {tool.name!r}: depends_on must be a list of tool names, got {deps!r}")
        if tool.name in deps:
            raise ToolRegistrationError(f"tool {tool.name!r}: depends_on names the tool itself")
        depends_on = tuple(deps)
    existing = _REGISTRY.get(tool.name)
    if existing is not None and not (existing.source is not None and _same_tool(existing.source, tool)):
        holder = "another langchain tool" if existing.source is not None else "a Steward tool"
        raise ToolRegistrationError(f"tool {tool.name!r} is already registered by {holder}; rename yours")

    async def run_with_grant(parsed: BaseModel, grant: ExecutionGrant) -> dict[str, Any]:
        token = _RUNNING_GRANT.set(grant)
        try:
            out = await tool.ainvoke(dict(parsed))
        finally:
            _RUNNING_GRANT.reset(token)
        return {"content": _jsonable(out)}

    owner_found = _declared(tool, declared, "owner")
    version_found = _declared(tool, declared, "version")
    spec = ToolSpec(
        name=tool.name,
        description=(tool.description or "").split("\n")[0],
        args_schema=args_schema,
        result_schema=LangchainToolOutput,
        risk=risk,
        side_effect=side[0] if side is not None else True,
        version=str(version_found[0]) if version_found is not None else version,
        owner=str(owner_found[0]) if owner_found is not None else owner,
        timeout_s=timeout_s,
        _fn=run_with_grant,
        source=tool,
        risk_from=risk_from,
        depends_on=depends_on,
    )
    _seal(tool)
    _REGISTRY[tool.name] = spec
    return spec
