"""A user's ``ToolNode`` (and ReAct agents built on it) run every tool call through Steward's guarded path.

``adopt_tool_nodes`` is called by the project loader on every graph it serves (``agents.registry``). For each
``langgraph.prebuilt.ToolNode`` node it

1. registers the node's langchain-core tools (``tools.registry.register_langchain_tool``: schema from the tool,
   risk / side effect / owner / version / timeout from the project file's ``steward.tools.<name>`` entry, else
   from ``tool.metadata``, else high risk), which also *seals* each tool object so that calling it directly from
   some other node raises instead of running unguarded;
2. replaces the node by a workflow-side node that takes the same input as ``ToolNode`` (the graph state, a list
   of messages, or the per-call ``Send`` payloads of ``create_react_agent``) and passes each call to
   ``agents.guarded.run_guarded_call``: the very steps of the guarded tool node (argument schema and ``tool_args``
   guards and the CEL policy in a local activity, ``interrupt()`` for approval answered by the ``decide`` update,
   execution in the ``steward.execute_tool`` activity with its grant and ledger, output guards, audit);
3. returns ``ToolMessage``s exactly where ``ToolNode`` would, so the rest of the user's graph is unchanged.

A call to a tool the ``ToolNode`` was not given is denied (even when Steward knows a tool of that name), with a
``ToolMessage`` of status ``error`` naming the tools it has, so the model can correct itself.

Dependent actions (``depends_on``, see ``agents.guarded``): calls of one node invocation are chained as the
guarded node chains them (a notice runs after its decision executed as proposed, else it is dropped); a call
fanned out on its own beside the decision it presupposes (``Send``) is dropped with a message telling the model
to propose it again once the decision ran, since parallel tasks cannot wait for each other. Earlier decisions
are read from the conversation's ``ToolMessage``s.

Why sequential: calls that reach one node invocation (a hand-built ``tools_condition`` loop) run one after the
other, because one LangGraph task holds one pending ``interrupt()`` at a time; calls fanned out with ``Send``
(``create_react_agent``'s default ``version="v2"``) are separate tasks and wait for approval side by side.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable, coerce_to_runnable
from langgraph.runtime import Runtime
from temporalio.exceptions import ActivityError

from agents.context import RunContext
from agents.guarded import (
    GUARDED_NODE_METADATA,
    ToolCall,
    ToolResult,
    drop_call,
    plan_tool_calls,
    run_call_chain,
)
from tools.registry import LANGCHAIN_DECLARATION_KEYS, dependencies_of, register_langchain_tool

__all__ = ["DECLARATION_KEYS", "adopt_langchain_tools", "adopt_tool_nodes", "is_tool_node"]

DECLARATION_KEYS = LANGCHAIN_DECLARATION_KEYS
"""The keys of a project file's ``steward.tools.<name>`` entry that this module reads."""

InputType = Literal["list", "dict", "tool_calls"]


def is_tool_node(runnable: Any) -> bool:
    """``langgraph.prebuilt.ToolNode`` or a variant of it (langchain's ``create_agent`` has its own class)."""
    from langgraph.prebuilt import ToolNode

    if isinstance(runnable, ToolNode):
        return True
    return isinstance(getattr(runnable, "tools_by_name", None), dict) and hasattr(runnable, "_parse_input")


def adopt_tool_nodes(builder: Any, declared_tools: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Guard every ``ToolNode`` of ``builder`` (a ``StateGraph``, or a compiled graph's ``.builder``) in place.

    ``declared_tools``: the project file's ``steward.tools`` (name -> ``{risk, side_effect, owner, version,
    timeout_s}``). Declared langchain tools that the graph's nodes reach as module globals or closure variables
    are registered and sealed too, so a node that invokes one directly gets a clear error, never an unguarded
    call. Raises ``ValueError`` (``ToolRegistrationError``) naming the tool for a tool Steward cannot guard.
    """
    graph = builder if hasattr(builder, "add_node") else getattr(builder, "builder", builder)
    declared = {k: dict(v) for k, v in (declared_tools or {}).items()}
    for name, spec in list(graph.nodes.items()):
        if is_tool_node(spec.runnable):
            tool_node = spec.runnable
            adopt_langchain_tools(list(tool_node.tools_by_name.values()), declared)
            fn = _guarded_tool_calls(
                sorted(tool_node.tools_by_name),
                getattr(tool_node, "_messages_key", "messages"),
                getattr(tool_node, "_handle_tool_errors", False),
            )
            graph.nodes[name] = dataclasses.replace(
                spec,
                runnable=coerce_to_runnable(fn, name=name, trace=False),
                metadata={**(spec.metadata or {}), **GUARDED_NODE_METADATA},
            )
        else:
            adopt_langchain_tools(_reachable_tools(spec.runnable, set(declared)), declared)
            _name_closure(spec.runnable)
    _inline_sync_routers(graph)


def _name_closure(runnable: Any) -> None:
    """Give a node function defined inside another function a qualified name the Temporal plugin accepts.

    ``create_react_agent`` builds its model node as a closure (``create_react_agent.<locals>.call_model``); the
    plugin identifies an activity-side node by ``module.qualname`` (its task cache key, with the node's input)
    and refuses ``<locals>``. Dropping the marker keeps the name stable across processes and replays; two
    graphs made by the same factory share it harmlessly, since a workflow runs one graph and the key also holds
    the input.
    """
    for attr in ("func", "afunc"):
        fn = getattr(runnable, attr, None)
        qualname = getattr(fn, "__qualname__", "")
        if "<locals>." in qualname and getattr(fn, "__module__", "__main__") != "__main__":
            fn.__qualname__ = qualname.replace("<locals>.", "")  # type: ignore[union-attr]


def _inline_sync_routers(graph: Any) -> None:
    """Run synchronous conditional-edge routers inline instead of in a thread.

    The ReAct pattern routes with sync functions (``tools_condition``, ``create_react_agent``'s
    ``should_continue``). Routers run in the workflow, where LangGraph would hand a sync one to a thread
    executor, which the workflow sandbox refuses (``NotImplementedError``). A router only reads the state and
    picks an edge, so calling it inline is what an ``async`` router does anyway.
    """
    for branches in graph.branches.values():
        for branch in branches.values():
            path = branch.path
            if not isinstance(path, RunnableCallable) or path.func is None:
                continue
            if not inspect.iscoroutinefunction(path.func):
                path.afunc = _inline(path.func)


def _inline(func: Callable[..., Any]) -> Callable[..., Any]:
    async def route(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return route


def adopt_langchain_tools(tools: list[Any], declared: Mapping[str, Mapping[str, Any]]) -> None:
    """Register (and seal) each tool with its project-file declaration, if any."""
    for tool in tools:
        register_langchain_tool(tool, declared.get(tool.name))


def _reachable_tools(runnable: Any, names: set[str]) -> list[Any]:
    """Declared langchain tools a node's function can call directly: its module's globals and its closure."""
    from langchain_core.tools import BaseTool

    if not names:
        return []
    found: dict[int, Any] = {}
    for fn in (getattr(runnable, "func", None), getattr(runnable, "afunc", None)):
        fn = getattr(fn, "__wrapped__", fn)
        if fn is None:
            continue
        cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _has_contents(c)]
        for value in [*getattr(fn, "__globals__", {}).values(), *cells]:
            if isinstance(value, BaseTool) and value.name in names:
                found[id(value)] = value
    return list(found.values())


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


# -- the node ------------------------------------------------------------------------------------------------
def _guarded_tool_calls(offered: list[str], messages_key: str, handle_tool_errors: Any) -> Callable[..., Any]:
    """The replacement node for one ``ToolNode``: its tools, its messages key, its error handling."""

    def failed(call: ToolCall, exc: ActivityError) -> ToolResult:
        cause = exc.cause or exc
        return {"tool": call["name"], "status": "failed", "reason": f"{type(cause).__name__}: {cause}"}

    on_error = failed if _handles_errors(handle_tool_errors) else None

    async def guarded_tool_calls(state: Any, config: RunnableConfig, runtime: Runtime[RunContext]) -> Any:
        ctx = runtime.context
        calls, input_type = _parse_input(state, messages_key)
        step = (config.get("metadata") or {}).get("langgraph_step", 0)
        ledger = [
            # Unique per run even when a model reuses call ids across turns: the ledger runs a call id once.
            ToolCall(id=f"{call.get('id') or f'call-{i}'}@{step}", name=call["name"], args=dict(call.get("args") or {}))
            for i, call in enumerate(calls)
        ]
        history = _conversation(state, messages_key)
        earlier = _earlier_results(history, ctx["run_id"])
        siblings = _sibling_tools(history, calls) if input_type == "tool_calls" and len(calls) == 1 else set()
        results: dict[str, ToolResult] = {}
        for task in plan_tool_calls(ledger, []):
            chain = [task["call"], *(task.get("then") or [])]
            beside = [d for d in dependencies_of(chain[0]["name"]) if d in siblings]
            if beside:
                reason = (
                    f"{chain[0]['name']} presupposes {beside[0]}, proposed in the same step; "
                    f"propose it again once {beside[0]} has run"
                )
                done = [await drop_call(ctx, chain[0], reason, beside[0])]
            else:
                done = await run_call_chain(ctx, chain, earlier, offered, on_error)
            results.update({c["id"]: r for c, r in zip(chain, done, strict=True)})
        messages = [_tool_message(call, results[lc["id"]]) for call, lc in zip(calls, ledger, strict=True)]
        return messages if input_type == "list" else {messages_key: messages}

    guarded_tool_calls.__steward_guarded__ = True  # type: ignore[attr-defined]
    return guarded_tool_calls


def _handles_errors(flag: Any) -> bool:
    """ToolNode's ``handle_tool_errors=True`` (or a message) turns a failing tool into an error message.

    Its default handles only invalid arguments, which Steward denies before any execution anyway; exception
    types and handler functions cannot be matched across the activity boundary, so they fail the run as
    ``ToolNode`` would for an unhandled error.
    """
    return flag is True or isinstance(flag, str)


def _parse_input(state: Any, messages_key: str) -> tuple[list[dict[str, Any]], InputType]:
    """The tool calls of a node input, as ``ToolNode._parse_input`` reads them."""
    if isinstance(state, dict) and state.get("__type") == "tool_call_with_context":
        return [dict(state["tool_call"])], "tool_calls"
    if isinstance(state, list) and state and isinstance(state[-1], dict) and state[-1].get("type") == "tool_call":
        return [dict(c) for c in state], "tool_calls"
    if isinstance(state, list):
        messages, input_type = state, "list"
    elif isinstance(state, dict):
        messages, input_type = state.get(messages_key) or [], "dict"
    else:
        messages, input_type = getattr(state, messages_key, None) or [], "dict"
    last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    if last_ai is None:
        raise ValueError(f"tool node input has no AIMessage under {messages_key!r}")
    return [dict(c) for c in last_ai.tool_calls], input_type  # type: ignore[return-value]


def _conversation(state: Any, messages_key: str) -> list[Any]:
    """The messages the node's input carries (a ``Send`` payload carries the graph state beside its call)."""
    if isinstance(state, dict) and state.get("__type") == "tool_call_with_context":
        state = state.get("state")
    if isinstance(state, list):
        return state
    if isinstance(state, dict):
        return list(state.get(messages_key) or [])
    return list(getattr(state, messages_key, None) or [])


def _earlier_results(messages: list[Any], run_id: str) -> list[dict[str, Any]]:
    """What became of earlier calls, from the ``ToolMessage``s Steward wrote (their ``steward`` artifact).

    A conversation spans runs: a decision taken in an earlier turn counts for a notice proposed now."""
    out: list[dict[str, Any]] = []
    for m in messages:
        artifact = getattr(m, "artifact", None) if isinstance(m, ToolMessage) else None
        steward = artifact.get("steward") if isinstance(artifact, dict) else None
        if isinstance(steward, dict):
            out.append({**steward, "run_id": run_id, "tool": m.name})
    return out


def _sibling_tools(messages: list[Any], calls: list[dict[str, Any]]) -> set[str]:
    """The other tools the same model turn asked for, when this call was fanned out on its own."""
    last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    if last_ai is None:
        return set()
    mine = {c.get("id") for c in calls}
    return {c["name"] for c in last_ai.tool_calls if c.get("id") not in mine}


def _content(output: Any) -> str | list[Any]:
    """``ToolNode``'s rendering of a tool's return value as message content."""
    if isinstance(output, str) or (isinstance(output, list) and all(isinstance(x, dict) for x in output)):
        return output
    try:
        return json.dumps(output, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(output)


def _tool_message(call: dict[str, Any], result: ToolResult | dict[str, Any]) -> ToolMessage:
    """What the model reads back: the tool's output, or why Steward did not run it (status ``error``)."""
    status = result.get("status")
    output = result.get("output")
    steward = {k: result.get(k) for k in ("status", "reason", "approval_id", "decided_by", "tool_call_id", "edited")}
    content: str | list[Any]
    if status == "executed" and isinstance(output, dict) and "blocked_by_guard" in output:
        content, ok = f"Error: the tool's output was blocked by a guard: {output['blocked_by_guard']}", False
    elif status == "executed":
        content, ok = _content((output or {}).get("content") if isinstance(output, dict) else output), True
    elif status == "responded":
        content, ok = _content(output), True
    elif status == "denied":
        content, ok = f"Error: Steward denied this call: {result.get('reason')}", False
    elif status == "dropped":
        content, ok = f"Error: Steward did not run this call: {result.get('reason')}", False
    elif status == "rejected":
        who = f" ({result.get('decided_by')})" if result.get("decided_by") else ""
        content, ok = f"Error: a person rejected this call{who}: {result.get('reason')}", False
    else:
        content, ok = f"Error: the tool failed: {result.get('reason')}", False
    return ToolMessage(
        content=content,
        name=call["name"],
        tool_call_id=call.get("id") or "",
        status="success" if ok else "error",
        artifact={"steward": steward},
    )
