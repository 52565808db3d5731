"""Scorers on hand-made event logs: trajectory modes, argument matching, outcome tolerance, approvals, guards."""

from __future__ import annotations

from typing import Any

import pytest

from evals.scorers import (
    ObservedCall,
    aggregate,
    observe,
    outcome_check,
    percentile,
    register_args_matcher,
    score_case,
    trajectory_check,
)
from evals.suites import EvalCase, ExpectedCall


def call(tool: str, step: int = 1, status: str = "executed", **args: Any) -> ObservedCall:
    return ObservedCall(tool_call_id=f"{step}-{tool}", tool=tool, args=args, step=step, status=status)


def exp(tool: str, args: dict[str, Any] | None = None, status: str | None = None) -> ExpectedCall:
    return ExpectedCall(tool=tool, args=args, status=status)  # type: ignore[arg-type]


ACTUAL = [call("credit_check", 1, amount=10), call("approve_loan", 2, amount=10, reason="r")]


@pytest.mark.parametrize(
    ("mode", "expected", "ok"),
    [
        ("strict", ["credit_check", "approve_loan"], True),
        ("strict", ["approve_loan", "credit_check"], False),
        ("unordered", ["approve_loan", "credit_check"], True),
        ("unordered", ["approve_loan"], False),
        ("subset", ["credit_check", "approve_loan", "notify_customer"], True),
        ("subset", ["credit_check"], False),
        ("superset", ["approve_loan"], True),
        ("superset", ["approve_loan", "notify_customer"], False),
    ],
)
def test_trajectory_modes(mode: str, expected: list[str], ok: bool) -> None:
    assert trajectory_check([exp(t) for t in expected], ACTUAL, mode, "subset").passed is ok


def test_argument_matching_exact_subset_ignore_and_custom() -> None:
    want = [exp("credit_check", {"amount": 10}), exp("approve_loan", {"amount": 10.0})]
    assert trajectory_check(want, ACTUAL, "strict", "subset").passed
    exact = trajectory_check(want, ACTUAL, "strict", "exact")
    assert not exact.passed and "step 2: expected approve_loan" in exact.detail
    assert trajectory_check(want, ACTUAL, "strict", {"approve_loan": "ignore", "*": "exact"}).passed
    wrong = [exp("credit_check", {"amount": 11}), exp("approve_loan")]
    assert not trajectory_check(wrong, ACTUAL, "strict", "subset").passed
    assert trajectory_check(wrong, ACTUAL, "strict", "ignore").passed
    register_args_matcher("amount_off_by_one", lambda e, a: abs(e["amount"] - a["amount"]) <= 1)
    assert trajectory_check(wrong, ACTUAL, "strict", {"credit_check": "amount_off_by_one"}).passed


def test_expected_status_must_match() -> None:
    assert not trajectory_check([exp("credit_check", status="denied")], ACTUAL[:1], "strict", "subset").passed
    assert trajectory_check([exp("credit_check", status="executed")], ACTUAL[:1], "strict", "subset").passed


def case(**expected: Any) -> EvalCase:
    return EvalCase.model_validate({"id": "c", "input": {}, "expected": expected})


def test_outcome_fieldwise_exact_and_numeric_tolerance() -> None:
    from evals.scorers import Observation

    obs = Observation(status="success", outcome={"decision": "approved", "score": 0.815, "extra": 1})
    assert outcome_check(case(outcome={"decision": "approved"}), obs).passed
    assert not outcome_check(case(outcome={"decision": "approved"}, outcome_match="exact"), obs).passed
    near = case(outcome={"score": 0.81}, tolerance={"score": 0.01})
    assert outcome_check(near, obs).passed
    far = outcome_check(case(outcome={"score": 0.8}, tolerance={"score": 0.01}), obs)
    assert not far.passed and far.detail == "score: expected 0.8, got 0.815"


def ev(type_: str, ts: float, **data: Any) -> dict[str, Any]:
    return {"type": type_, "data": data, "ts": ts}


def events(parallel_order: tuple[str, str]) -> list[dict[str, Any]]:
    """A run: credit check, then two calls of one step whose events arrive in ``parallel_order``."""
    first, second = parallel_order
    out = [
        ev("run_started", 0.0),
        ev("node_finished", 0.1, node="intake"),
        ev("node_finished", 0.2, node="assess"),
        ev("tool_call_proposed", 0.3, tool_call_id="r1-cc", tool="credit_check", args={"amount": 5}),
        ev("tool_finished", 0.4, tool_call_id="r1-cc", tool="credit_check"),
        ev("node_finished", 0.5, node="assess"),
    ]
    ids = {"approve_loan": "r2-al", "notify_customer": "r2-nc"}
    for tool in (first, second):
        out.append(ev("tool_call_proposed", 0.6, tool_call_id=ids[tool], tool=tool, args={}))
    out += [
        ev("policy_decision", 0.61, tool_call_id="r2-nc", effect="deny", reason="pii"),
        ev("approval_requested", 0.62, approval_id="apr1", tool="approve_loan", tool_call_id="r2-al",
           required_role="senior_approver", approvals_required=2),
        ev("approval_decided", 0.7, approval_id="apr1", status="pending", decided_by="a1"),
        ev("approval_decided", 0.8, approval_id="apr1", status="approved", decided_by="a2"),
        ev("token", 0.85, text="x"),
        ev("token", 0.86, text="y"),
        ev("tool_finished", 0.9, tool_call_id="r2-al", tool="approve_loan"),
        ev("run_finished", 1.5, status="success", outcome={"decision": "approved"}),
    ]  # fmt: skip
    return out


def test_observe_reads_trajectory_approvals_guards_and_tokens_from_events() -> None:
    obs = observe("run-1", events(("notify_customer", "approve_loan")))
    assert [(c.tool, c.step, c.status) for c in obs.calls] == [
        ("credit_check", 2, "executed"),
        ("approve_loan", 3, "executed"),
        ("notify_customer", 3, "denied"),
    ]
    assert obs.guard_blocks == ["notify_customer"]
    [a] = obs.approvals
    assert (a.tool, a.required_role, a.approvals_required, a.status, a.decided_by) == (
        "approve_loan",
        "senior_approver",
        2,
        "approved",
        "a2",
    )
    assert obs.status == "success" and obs.outcome == {"decision": "approved"}
    assert obs.tokens == 2 and obs.tokens_source == "stream" and obs.run_latency_s == pytest.approx(1.5)


def test_parallel_calls_of_one_step_give_the_same_strict_trajectory_in_any_event_order() -> None:
    a = observe("r", events(("notify_customer", "approve_loan")))
    b = observe("r", events(("approve_loan", "notify_customer")))
    assert [c.tool for c in a.calls] == [c.tool for c in b.calls]
    want = [exp("credit_check"), exp("approve_loan"), exp("notify_customer", status="denied")]
    assert trajectory_check(want, a.calls, "strict", "subset").passed
    assert trajectory_check(want, b.calls, "strict", "subset").passed


def test_usage_events_count_model_tokens_and_cost() -> None:
    evs = [ev("llm_call", 0.0, model="gemma", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost=0.002)]
    obs = observe("r", [*evs, ev("token", 0.1), ev("run_finished", 0.2, status="success")])
    assert (obs.tokens, obs.tokens_source, obs.models) == (15, "usage", ["gemma"])
    assert obs.cost == pytest.approx(0.002)


def test_score_and_aggregate_only_count_the_checks_a_case_asks_for() -> None:
    obs = observe("r", events(("approve_loan", "notify_customer")))
    full = case(outcome={"decision": "approved"}, approvals=["approve_loan"], guard_blocks=["notify_customer"])
    checks = score_case(full, obs)
    assert checks["trajectory"] is None and all(c.passed for c in checks.values() if c is not None)
    wrong = score_case(case(approvals=[], guard_blocks=[]), obs.model_copy(update={"status": "timeout"}))
    assert "asked unexpectedly" in wrong["approvals"].detail  # type: ignore[union-attr]
    rows = [
        {"passed": True, "status": "success", "checks": {k: c and c.model_dump() for k, c in checks.items()},
         "latency_s": 1.0, "tokens": 2, "tags": ["a"]},
        {"passed": False, "status": "timeout", "checks": {k: c and c.model_dump() for k, c in wrong.items()},
         "latency_s": 3.0, "tokens": 0, "tags": ["a", "b"]},
    ]  # fmt: skip
    m = aggregate(rows)
    assert m["pass_rate"] == 0.5 and m["approvals_accuracy"] == 0.5 and "trajectory_accuracy" not in m
    assert m["completion_rate"] == 0.5 and m["errors"] == 1.0
    assert m["pass_rate.tag.b"] == 0.0 and m["latency_p95_s"] == 3.0 and percentile([1, 2, 3, 4], 50) == 2


def test_automation_rate_and_time_to_decision() -> None:
    from evals.scorers import aggregate

    def case(decision: str | None, run_latency: float) -> dict:
        return {
            "passed": True,
            "checks": {},
            "latency_s": run_latency,
            "run_latency_s": run_latency,
            "status": "success",
            "outcome": {"decision": decision} if decision else None,
            "tags": [],
        }

    metrics = aggregate(
        [case("approved", 1.0), case("referred", 2.0), case("paid", 3.0), case("escalated", 4.0), case(None, 9.0)]
    )
    assert metrics["automation_rate"] == 0.5
    assert metrics["time_to_decision_p50_s"] == 2.0 and metrics["time_to_decision_p95_s"] == 4.0
