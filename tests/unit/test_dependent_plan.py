"""How the router plans a step's tool calls by their declared dependencies (``agents.guarded.plan_tool_calls``)
and when a dependent call may run (``unmet_dependency``); the real path is tests/integration/
test_dependent_actions.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agents.guarded import plan_tool_calls, unmet_dependency
from tools.registry import get_tool, register_tool


class Args(BaseModel):
    x: str = ""


class Out(BaseModel):
    ok: bool = True


def _fn(args: Args, grant: Any) -> dict[str, Any]:
    return {"ok": True}


PLAN_TOOLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("plan_approve", ()),
    ("plan_decline", ()),
    ("plan_notify", ("plan_approve", "plan_decline")),
    ("plan_pay", ("plan_approve",)),
    ("plan_receipt", ("plan_pay",)),
    ("plan_lookup", ()),
    ("plan_cycle_a", ("plan_cycle_b",)),
    ("plan_cycle_b", ("plan_cycle_a",)),
)


@pytest.fixture(autouse=True, scope="module")
def plan_tools() -> Any:
    """This module's tools, registered for its tests only: the registry is process-wide, and other tests
    (every side-effecting tool reports its action) read all of it."""
    from tools.registry import _REGISTRY

    for name, deps in PLAN_TOOLS:
        register_tool(name=name, args_schema=Args, result_schema=Out, risk="low", side_effect=True, depends_on=deps)(
            _fn
        )
    yield
    for name, _ in PLAN_TOOLS:
        _REGISTRY.pop(name, None)


def call(name: str) -> dict[str, Any]:
    return {"id": f"c-{name}", "name": name, "args": {}}


def names(task: dict[str, Any]) -> list[str]:
    return [task["call"]["name"], *(c["name"] for c in task.get("then") or [])]


def test_a_dependent_call_is_chained_behind_its_decision_and_independent_calls_stay_apart() -> None:
    tasks = plan_tool_calls([call("plan_notify"), call("plan_approve"), call("plan_lookup")], [])
    assert [names(t) for t in tasks] == [["plan_approve", "plan_notify"], ["plan_lookup"]]


def test_a_chain_is_ordered_so_each_call_follows_what_it_depends_on() -> None:
    tasks = plan_tool_calls([call("plan_receipt"), call("plan_notify"), call("plan_pay"), call("plan_approve")], [])
    assert [names(t) for t in tasks] == [["plan_approve", "plan_notify", "plan_pay", "plan_receipt"]]


def test_calls_without_dependencies_each_get_a_task() -> None:
    tasks = plan_tool_calls([call("plan_approve"), call("plan_lookup")], [{"tool": "plan_approve", "output": 1}])
    assert [names(t) for t in tasks] == [["plan_approve"], ["plan_lookup"]]
    assert all("prior" not in t for t in tasks)


def test_earlier_results_of_the_decisions_travel_with_the_dependent_call_without_their_outputs() -> None:
    earlier = [
        {"run_id": "r", "tool": "plan_approve", "status": "executed", "output": {"big": "x" * 100}},
        {"run_id": "r", "tool": "plan_lookup", "status": "executed"},
    ]
    (task,) = plan_tool_calls([call("plan_notify")], earlier)
    assert task["prior"] == [{"run_id": "r", "tool": "plan_approve", "status": "executed"}]


def test_a_circular_declaration_never_runs() -> None:
    tasks = plan_tool_calls([call("plan_cycle_a"), call("plan_cycle_b")], [])
    assert [names(t) for t in tasks] == [["plan_cycle_a"], ["plan_cycle_b"]]
    for t in tasks:
        assert unmet_dependency(t["call"]["name"], [], []) is not None


def ok(tool: str, **kw: Any) -> dict[str, Any]:
    return {"tool": tool, "status": "executed", **kw}


@pytest.mark.parametrize(
    ("chained", "earlier", "expected"),
    [
        ([ok("plan_approve")], [], None),
        ([], [ok("plan_decline")], None),
        ([], [ok("plan_approve", edited=True, decided_by="bob")], None),  # proposed after the edited decision
        ([ok("plan_approve", edited=True, decided_by="bob")], [], "which was edited by bob"),
        (
            [{"tool": "plan_approve", "status": "rejected", "decided_by": "bob", "reason": "no"}],
            [],
            "rejected by bob: no",
        ),
        ([{"tool": "plan_approve", "status": "denied", "reason": "policy"}], [], "which was denied: policy"),
        ([{"tool": "plan_approve", "status": "responded", "decided_by": "eve"}], [], "which was responded by eve"),
        ([], [], "which this run has not taken"),
        ([], [ok("plan_lookup")], "which this run has not taken"),
    ],
)
def test_a_dependent_call_runs_only_after_its_decision_executed_as_proposed(
    chained: list[dict[str, Any]], earlier: list[dict[str, Any]], expected: str | None
) -> None:
    unmet = unmet_dependency("plan_notify", chained, earlier)
    if expected is None:
        assert unmet is None
    else:
        assert unmet is not None and expected in unmet[0]


def test_the_declaration_is_public_and_a_tool_cannot_depend_on_itself() -> None:
    assert get_tool("plan_notify").public()["depends_on"] == ["plan_approve", "plan_decline"]
    with pytest.raises(ValueError, match="cannot depend on itself"):
        register_tool(
            name="plan_self",
            args_schema=Args,
            result_schema=Out,
            risk="low",
            side_effect=False,
            depends_on=("plan_self",),
        )(_fn)
