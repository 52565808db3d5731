"""langchain-core tools as registered tools: where risk comes from, what is refused, and that a registered
tool cannot run outside the guarded path. Also the shape of a graph after its ToolNodes are adopted."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from langchain_core.tools import BaseTool, InjectedToolCallId, StructuredTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel

from agents.guarded import is_guarded_node
from agents.registry import check_graph
from agents.toolnode import adopt_tool_nodes
from tools import registry
from tools.registry import ToolRegistrationError, get_tool, issue_grant, register_langchain_tool


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Tool names a test registers, removed afterwards (the registry is process-wide)."""
    made: list[str] = []
    yield made
    for n in made:
        registry._REGISTRY.pop(n, None)


def make_tool(names: list[str], metadata: dict[str, Any] | None = None, fn: Any = None) -> StructuredTool:
    name = f"lc_{uuid.uuid4().hex[:8]}"
    names.append(name)

    def lookup(customer_id: str, limit: int = 3) -> dict[str, Any]:
        """Look a customer up."""
        return {"customer_id": customer_id, "limit": limit}

    return StructuredTool.from_function(fn or lookup, name=name, metadata=metadata)


def test_risk_from_metadata_and_schema_from_the_tool(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low", "side_effect": False, "owner": "crm", "version": "2"})
    spec = register_langchain_tool(t)
    assert (spec.risk, spec.risk_from, spec.side_effect, spec.owner, spec.version) == (
        "low",
        "metadata",
        False,
        "crm",
        "2",
    )
    assert set(spec.args_schema.model_json_schema()["properties"]) == {"customer_id", "limit"}
    assert get_tool(t.name).public()["risk_from"] == "metadata"


def test_project_declaration_overrides_metadata(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low"})
    spec = register_langchain_tool(t, {"risk": "medium", "side_effect": True, "owner": "ops", "timeout_s": 5})
    assert (spec.risk, spec.risk_from, spec.side_effect, spec.owner, spec.timeout_s) == (
        "medium",
        "project",
        True,
        "ops",
        5.0,
    )


def test_risk_declared_nowhere_is_high_with_a_side_effect(names: list[str]) -> None:
    spec = register_langchain_tool(make_tool(names))
    assert (spec.risk, spec.risk_from, spec.side_effect) == ("high", "default", True)


def test_bad_declarations_are_refused_naming_the_key(names: list[str]) -> None:
    with pytest.raises(ToolRegistrationError, match="risk 'extreme'.*known"):
        register_langchain_tool(make_tool(names, {"risk": "extreme"}))
    with pytest.raises(ToolRegistrationError, match=r"unknown declaration keys \['riks'\]"):
        register_langchain_tool(make_tool(names), {"riks": "low"})
    with pytest.raises(ToolRegistrationError, match="side_effect must be true or false"):
        register_langchain_tool(make_tool(names), {"risk": "low", "side_effect": "no"})


def test_tool_without_args_schema_is_refused() -> None:
    class Bare(BaseTool):
        name: str = "bare_tool_without_schema"
        description: str = "no schema"

        def _run(self, query: str) -> str:
            return query

    with pytest.raises(ToolRegistrationError, match="has no args schema"):
        register_langchain_tool(Bare())
    assert "bare_tool_without_schema" not in {t.name for t in registry.list_tools()}


def test_tool_with_injected_arguments_is_refused(names: list[str]) -> None:
    def needs_id(x: int, call_id: Annotated[str, InjectedToolCallId]) -> int:
        """Uses its call id."""
        return x

    with pytest.raises(ToolRegistrationError, match="injected arguments"):
        register_langchain_tool(make_tool(names, fn=needs_id))


def test_a_name_taken_by_a_steward_tool_is_refused() -> None:
    import tools.lending  # noqa: F401 - registers credit_check

    @tool
    def credit_check(applicant_id: str) -> str:
        """A user's tool that would shadow Steward's."""
        return applicant_id

    with pytest.raises(ToolRegistrationError, match="already registered by a Steward tool"):
        register_langchain_tool(credit_check)
    assert get_tool("credit_check").source is None


def test_a_new_project_may_reuse_a_tool_name_and_a_failed_load_keeps_the_last_good_tools(names: list[str]) -> None:
    first = make_tool(names, {"risk": "low"})

    def other(customer_id: str) -> str:
        """Another project's tool under the same name."""
        return customer_id

    second = StructuredTool.from_function(other, name=first.name, metadata={"risk": "high"})
    with registry.project_tools():
        register_langchain_tool(first)
    with registry.project_tools():  # the next project brings its own tool of that name: no conflict
        register_langchain_tool(second)
    assert get_tool(first.name).risk == "high"
    with pytest.raises(RuntimeError), registry.project_tools():  # a broken reload...
        assert first.name not in {t.name for t in registry.list_tools()}
        raise RuntimeError("graph failed to import")
    assert get_tool(first.name).source is second  # ...leaves the last good project's tool in force
    import tools.lending  # noqa: F401 - Steward's own tools are never forgotten

    with registry.project_tools():
        assert get_tool("credit_check").source is None


def test_a_registered_tool_refuses_to_run_directly(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low"})
    assert t.invoke({"customer_id": "C1"}) == {"customer_id": "C1", "limit": 3}  # before: a plain tool
    register_langchain_tool(t)
    with pytest.raises(PermissionError, match="runs only through the guarded tool node"):
        t.invoke({"customer_id": "C1"})
    with pytest.raises(PermissionError, match="guarded tool node"):
        asyncio.run(t.ainvoke({"customer_id": "C1"}))
    # A copy (a module-level graph is deep-copied per consumer) is sealed too.
    with pytest.raises(PermissionError):
        copy.deepcopy(t).invoke({"customer_id": "C1"})


def test_the_guarded_path_runs_it_with_a_grant(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low"})
    spec = register_langchain_tool(t)
    out = asyncio.run(spec.run({"customer_id": "C9", "limit": 1}, issue_grant("run-1", "call-1", None)))
    assert out == {"content": {"customer_id": "C9", "limit": 1}}
    forged = registry.ExecutionGrant("run-1", "call-1", None, "run-1:call-1")
    with pytest.raises(PermissionError):
        asyncio.run(spec.run({"customer_id": "C9"}, forged))


def test_rebuilding_a_graph_reregisters_the_same_tool(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low"})
    register_langchain_tool(t)
    register_langchain_tool(copy.deepcopy(t))  # same function: accepted
    other = StructuredTool.from_function(lambda customer_id: customer_id, name=t.name, description="other")
    with pytest.raises(ToolRegistrationError, match="already registered by another langchain tool"):
        register_langchain_tool(other)


class _Query(BaseModel):
    q: str


def build_loop(tools: list[Any]) -> StateGraph[Any, Any, Any, Any]:
    async def agent(state: MessagesState) -> dict[str, Any]:
        return {}

    g: StateGraph[Any, Any, Any, Any] = StateGraph(MessagesState)
    g.add_node("agent", agent)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    g.add_edge("agent", END)
    return g


def test_adopted_tool_node_is_a_guarded_workflow_node(names: list[str]) -> None:
    low = make_tool(names, {"risk": "low"})
    high = make_tool(names)
    graph = build_loop([low, high])
    with pytest.raises(ValueError, match="ToolNode that was not guarded"):
        check_graph("loop", build_loop([low]))
    adopt_tool_nodes(graph, {high.name: {"risk": "high", "owner": "payments"}})
    node = graph.nodes["tools"]
    assert node.metadata is not None and node.metadata["execute_in"] == "workflow"
    runnable: Any = node.runnable
    assert is_guarded_node(runnable.afunc or runnable.func)
    check_graph("loop", graph)  # passes now
    assert get_tool(high.name).owner == "payments" and get_tool(low.name).risk == "low"


def test_react_agent_graph_is_adopted(names: list[str]) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langgraph.prebuilt import create_react_agent

    class Bindable(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kw: Any) -> Any:
            return self

    t = make_tool(names, {"risk": "low"})
    compiled = create_react_agent(Bindable(messages=iter([])), [t])
    adopt_tool_nodes(compiled)  # a compiled graph: its .builder is adopted
    adopted: Any = compiled.builder.nodes["tools"].runnable
    assert is_guarded_node(adopted.afunc)


def test_declared_tool_reached_directly_from_a_node_is_sealed(names: list[str]) -> None:
    t = make_tool(names, {"risk": "low"})

    async def direct(state: MessagesState) -> dict[str, Any]:
        return {"messages": [str(t.invoke({"customer_id": "C1"}))]}

    g: StateGraph[Any, Any, Any, Any] = StateGraph(MessagesState)
    g.add_node("direct", direct)
    g.add_edge(START, "direct")
    adopt_tool_nodes(g, {t.name: {"risk": "low"}})
    assert get_tool(t.name).risk_from == "project"
    with pytest.raises(PermissionError, match="Call it from a ToolNode"):
        asyncio.run(g.compile().ainvoke({"messages": []}))
