"""Graph wiring rules and the loan triage proposer, without Temporal (fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from agents.guarded import GUARDED_NODE
from agents.loan_triage.graph import assess, build_graph
from agents.registry import check_graph
from runtime.workflow import _merge_into_thread


async def _bad_tools(state: dict[str, Any]) -> dict[str, Any]:
    return {}


def test_a_tools_node_that_is_not_the_guarded_node_is_refused() -> None:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(dict)
    g.add_node(GUARDED_NODE, _bad_tools, metadata={"execute_in": "workflow"})
    g.add_edge(START, GUARDED_NODE)
    g.add_edge(GUARDED_NODE, END)
    with pytest.raises(ValueError, match="must be agents.guarded.guarded_tool_node"):
        check_graph("bad", g)


def test_a_node_without_a_place_to_run_becomes_an_activity_and_an_unknown_place_is_refused() -> None:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(dict)
    g.add_node("x", _bad_tools)
    check_graph("plain", g)
    assert g.nodes["x"].metadata is not None and g.nodes["x"].metadata["execute_in"] == "activity"
    g = StateGraph(dict)
    g.add_node("x", _bad_tools, metadata={"execute_in": "somewhere"})
    with pytest.raises(ValueError, match="node 'x' has execute_in='somewhere'"):
        check_graph("bad", g)


def test_loan_triage_graph_passes_the_checks() -> None:
    check_graph("loan_triage", build_graph())


@dataclass
class FakeRuntime:
    context: dict[str, Any]


async def test_assess_proposes_credit_check_then_rules_based_action() -> None:
    rt = FakeRuntime({"run_id": "r1"})
    app = {
        "application_id": "A",
        "applicant_id": "P",
        "amount": 1000,
        "annual_income": 50000,
        "credit_score": 500,
        "purpose": "x",
    }
    state: dict[str, Any] = {"application": app, "completeness": {"complete": True}, "round": 0}
    first = await assess(state, rt)  # type: ignore[arg-type]
    assert [c["name"] for c in first["pending_tool_calls"]] == ["credit_check"]
    state["tool_results"] = [
        {"run_id": "r1", "tool": "credit_check", "status": "executed", "output": {"score_band": "D"}}
    ]
    second = await assess(state, rt)  # type: ignore[arg-type]
    assert [c["name"] for c in second["pending_tool_calls"]] == ["decline_loan"]
    # Results of an earlier run of the same thread don't count for this run.
    third = await assess(state, FakeRuntime({"run_id": "r2"}))  # type: ignore[arg-type]
    assert [c["name"] for c in third["pending_tool_calls"]] == ["credit_check"]


def test_thread_merge_appends_lists_and_replaces_values() -> None:
    merged = _merge_into_thread(
        {"messages": [1], "application": {"a": 1}, "outcome": {"x": 1}}, {"messages": [2], "application": {"b": 2}}
    )
    assert merged == {"messages": [1, 2], "application": {"b": 2}, "outcome": {"x": 1}}
