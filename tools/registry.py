"""Tool registry: name -> spec (schemas, risk, version, owner) and the only way to run a tool."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
) -> Callable[[ToolFn], ToolFn]:
    """Register a tool; the decorated function receives (parsed_args, grant) and returns the result."""

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
        )
        return fn

    return deco


def get_tool(name: str) -> ToolSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"tool {name!r} not found; known: {sorted(_REGISTRY)}") from None


def list_tools() -> list[ToolSpec]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def langchain_tools(names: list[str]) -> list[Any]:
    """The named tools as langchain-core tools (schema only), for ``chat_model.bind_tools(...)``."""
    return [get_tool(n).as_langchain_tool() for n in names]
