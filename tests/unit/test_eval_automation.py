"""Straight-through metrics (``evals.automation``) on hand-built per-case results: what counts as automated,
how right it was, whether every risky action went to a person, and time to decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.automation import RiskyAction, automation_metrics, handbook_risky_actions, is_straight_through
from evals.observation import observe
from evals.scorers import aggregate

RISKY = [
    RiskyAction(tool="approve_loan", when="amount > 25000", cites=["lending-policy#LP-5.1"]),
    RiskyAction(tool="pay_claim"),
]


def call(tool: str, status: str = "executed", cid: str | None = None, **args: Any) -> dict[str, Any]:
    return {"tool_call_id": cid or f"c-{tool}", "tool": tool, "status": status, "args": args, "step": 1}


def approval(tool: str, cid: str | None = None, status: str = "approved") -> dict[str, Any]:
    return {"approval_id": f"a-{tool}", "tool": tool, "tool_call_id": cid or f"c-{tool}", "status": status,
            "required_role": "approver", "decided_by": "eval-approver"}  # fmt: skip


def case(
    decision: str | None,
    calls: list[dict[str, Any]] = (),  # type: ignore[assignment]
    approvals: list[dict[str, Any]] = (),  # type: ignore[assignment]
    outcome_ok: bool | None = True,
    status: str = "success",
    run_latency_s: float | None = 1.0,
    decided_by: str = "rules",
) -> dict[str, Any]:
    checks: dict[str, Any] = {"status": {"passed": status == "success", "detail": ""}}
    checks["outcome"] = None if outcome_ok is None else {"passed": outcome_ok, "detail": ""}
    return {
        "case_id": f"k-{decision}",
        "status": status,
        "passed": bool(outcome_ok) and status == "success",
        "checks": checks,
        "outcome": {"decision": decision, "decided_by": decided_by, "actions": []} if decision else None,
        "trajectory": list(calls),
        "approvals": list(approvals),
        "latency_s": 1.0,
        "run_latency_s": run_latency_s,
        "tags": [],
    }


def test_only_a_final_decision_no_person_touched_is_straight_through() -> None:
    assert is_straight_through(case("approved", [call("approve_loan", amount=5000.0)]))
    assert is_straight_through(case("paid", [call("pay_claim", amount=100.0)]))
    # A person approved (or edited) it: touched.
    assert not is_straight_through(case("approved", [call("approve_loan")], [approval("approve_loan")]))
    edited = approval("approve_loan", status="edited")
    assert not is_straight_through(case("approved", [call("approve_loan")], [edited]))
    assert not is_straight_through(case("approved", decided_by="bob"))
    # Hand-offs never count, even with no person in sight yet.
    for handoff in ("referred", "escalated", "review", "documents_requested", "incomplete", "no-decision"):
        assert not is_straight_through(case(handoff))
    assert not is_straight_through(case("approved-rejected"))
    assert not is_straight_through(case("approved", status="error"))
    # An approval requested and still pending (the case timed out waiting) is a person's work too.
    assert not is_straight_through(case("approved", approvals=[approval("approve_loan", status="pending")]))


def test_rates_over_a_suite() -> None:
    results = [
        case("approved", [call("approve_loan", amount=5000.0)], run_latency_s=1.0),  # automated, right
        case("paid", [call("pay_claim", amount=50.0)], outcome_ok=False, run_latency_s=2.0),  # automated, wrong
        case("approved", [call("approve_loan", amount=90000.0)], [approval("approve_loan")], run_latency_s=3.0),
        case("referred", [call("refer_to_underwriter")], run_latency_s=4.0),
        case(None, status="error", run_latency_s=9.0),
    ]
    m = automation_metrics(results, RISKY)
    assert m["straight_through_rate"] == pytest.approx(2 / 5) and m["straight_through_cases"] == 2
    assert m["automated_correct_rate"] == pytest.approx(1 / 2)
    # Risky: approve_loan over 25,000 (routed) and pay_claim (always risky; executed with no person).
    assert m["risky_actions"] == 2 and m["risky_routed_rate"] == pytest.approx(1 / 2)
    # Time to decision: the four cases that reached one, the failed run excluded.
    assert m["decision_p50_s"] == 2.0 and m["decision_p95_s"] == 4.0


def test_every_risky_action_routed_is_100_percent_and_blocked_calls_are_counted_apart() -> None:
    results = [
        case("approved", [call("approve_loan", amount=30000.0)], [approval("approve_loan")]),
        case("declined", [call("pay_claim", status="denied")]),
        case("declined", [call("pay_claim", status="dropped", cid="c-2")]),
        case("approved", [call("approve_loan", amount=1000.0)]),  # not risky under the condition
    ]
    m = automation_metrics(results, RISKY)
    assert m["risky_routed_rate"] == 1.0 and m["risky_actions"] == 1 and m["risky_blocked"] == 2


def test_a_condition_that_cannot_be_evaluated_counts_the_action_as_risky() -> None:
    results = [case("approved", [call("approve_loan")])]  # no amount: "amount > 25000" cannot be evaluated
    m = automation_metrics(results, RISKY)
    assert m["risky_actions"] == 1 and m["risky_routed_rate"] == 0.0


def test_automated_correct_rate_is_absent_without_automated_cases_and_aggregate_logs_the_metrics() -> None:
    m = aggregate([case("referred")], RISKY)
    assert m["straight_through_rate"] == 0.0 and "automated_correct_rate" not in m
    assert "risky_routed_rate" not in m and m["decision_p50_s"] == 1.0


def test_risky_actions_come_from_the_rulesets(tmp_path: Path) -> None:
    (tmp_path / "lending.yaml").write_text(
        "ruleset: lending\nversion: '9'\nrisky_actions:\n"
        "  - {tool: approve_loan, when: 'amount > 25000', reason: over the STP limit,"
        " cites: [lending-policy#LP-5.4]}\n"
        "  - {tool: decline_loan, reason: adverse action}\n"
    )
    (tmp_path / "other.yaml").write_text("ruleset: other\nversion: '1'\n")
    defs = handbook_risky_actions(tmp_path)
    assert [(d.tool, d.when, d.source) for d in defs] == [
        ("approve_loan", "amount > 25000", "lending@9"),
        ("decline_loan", None, "lending@9"),
    ]


def test_without_declarations_the_registrys_high_risk_actions_stand_in(tmp_path: Path) -> None:
    import tools.lending  # noqa: F401 - registers the lending tools

    defs = handbook_risky_actions(tmp_path)
    assert {"approve_loan", "decline_loan"} <= {d.tool for d in defs}
    assert all(d.source == "tool-registry" for d in defs)


def test_a_dropped_dependent_call_is_observed_as_dropped() -> None:
    events = [
        {"type": "tool_call_proposed", "data": {"tool_call_id": "r2-approve_loan", "tool": "approve_loan", "args": {}}},
        {"type": "tool_call_dropped", "data": {"tool_call_id": "r2-notify", "tool": "notify_customer", "args": {},
                                               "reason": "approve_loan was rejected", "depends_on": "approve_loan"}},
    ]  # fmt: skip
    obs = observe("run", events)
    assert {c.tool: c.status for c in obs.calls} == {"approve_loan": "pending", "notify_customer": "dropped"}
