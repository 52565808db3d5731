"""Stand-in assistants for tests and benchmarks: deterministic, no model, real graphs on the real runtime.

``echo3``: START -> read -> think -> write -> END (three activity nodes; the runtime benchmark's graph).
``scripted``: START -> propose -> (tools)* -> finish -> END; ``propose`` emits the tool calls given in the
input, so tests and benchmarks can drive any mix of policy outcomes through the real guarded node.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from agents.context import ACTIVITY_NODE, RunContext, activity_node, current_emitter
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.registry import AssistantSpec


class EchoState(TypedDict, total=False):
    text: str
    steps: Annotated[list[str], operator.add]


@activity_node("read")
async def read(state: EchoState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    return {"steps": ["read"]}


@activity_node("think")
async def think(state: EchoState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    emitter = current_emitter()
    if emitter:
        emitter.emit("token", {"text": state.get("text", "")})
    return {"steps": ["think"]}


@activity_node("write")
async def write(state: EchoState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    return {"steps": ["write"], "text": (state.get("text") or "").upper()}


def build_echo_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(EchoState, context_schema=RunContext)
    for name, fn in (("read", read), ("think", think), ("write", write)):
        g.add_node(name, fn, metadata=dict(ACTIVITY_NODE))
    g.add_edge(START, "read")
    g.add_edge("read", "think")
    g.add_edge("think", "write")
    g.add_edge("write", END)
    return g


class ScriptedCall(BaseModel):
    id: str = Field(min_length=1)
    name: str
    args: dict[str, Any]


class ScriptedState(TypedDict, total=False):
    tool_calls: list[dict[str, Any]]
    proposed: bool
    pending_tool_calls: list[dict[str, Any]]
    tool_results: Annotated[list[dict[str, Any]], operator.add]


@activity_node("propose")
async def propose(state: ScriptedState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    if state.get("proposed"):
        return {"pending_tool_calls": []}
    calls = [ScriptedCall.model_validate(c).model_dump() for c in state.get("tool_calls") or []]
    return {"pending_tool_calls": calls, "proposed": True}


@activity_node("finish")
async def finish(state: ScriptedState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    return {"proposed": False}


def build_scripted_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(ScriptedState, context_schema=RunContext)
    g.add_node("propose", propose, metadata=dict(ACTIVITY_NODE))
    g.add_node(GUARDED_NODE, guarded_tool_node, metadata=dict(GUARDED_NODE_METADATA))
    g.add_node("finish", finish, metadata=dict(ACTIVITY_NODE))
    g.add_edge(START, "propose")
    g.add_conditional_edges("propose", tool_router("finish"), [GUARDED_NODE, "finish"])
    g.add_edge(GUARDED_NODE, "propose")
    g.add_edge("finish", END)
    return g


ECHO3 = AssistantSpec("echo3", "0", "three-node stand-in graph (benchmarks)", build_echo_graph, {})
SCRIPTED = AssistantSpec(
    "scripted", "0", "proposes the tool calls given in its input (tests)", build_scripted_graph, {}
)
