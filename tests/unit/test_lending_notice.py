"""Loan triage proposes the customer notice only after the decision ran, with what ran (issue 16's first defect:
a customer was notified "approved" after the approver rejected the loan). Driven through the real ``assess``
node step by step, without Temporal (fast); the guarded path is in tests/integration/test_loan_triage_agent.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.loan_triage.graph import _decision_of, assess

APP = {
    "application_id": "A-7",
    "applicant_id": "P-7",
    "amount": 20000,
    "currency": "EUR",
    "annual_income": 90000,
    "monthly_income": 7000,
    "credit_score": 760,
    "purpose": "car",
    "term_months": 60,
    "annual_rate": 0.069,
    "monthly_obligations": 2100,
    "employment_status": "employed",
    "age": 41,
}


@dataclass
class FakeRuntime:
    context: dict[str, Any]


RT = FakeRuntime({"run_id": "r1"})


def _credit(band: str, pd: float | None = 0.02) -> dict[str, Any]:
    model = {"status": "scored", "pd": pd, "version": "1"} if pd is not None else {"status": "unavailable"}
    return {
        "run_id": "r1",
        "tool": "credit_check",
        "status": "executed",
        "output": {"score_band": band, "rules_fired": [f"R-BAND-{band}"], "ruleset_version": "t", "model": model},
    }


async def _step(state: dict[str, Any]) -> list[dict[str, Any]]:
    out = await assess(state, RT)  # type: ignore[arg-type]
    state.update({k: v for k, v in out.items() if k not in ("messages", "tool_results")})
    return list(out["pending_tool_calls"])


def _ran(call: dict[str, Any], status: str = "executed", **kw: Any) -> dict[str, Any]:
    output = {"amount": call["args"].get("amount"), "reference": f"ref-{call['id']}"} if status == "executed" else None
    return {"run_id": "r1", "tool": call["name"], "tool_call_id": call["id"], "status": status, "args": call["args"],
            "output": output, **kw}  # fmt: skip


async def _to_decision(band: str = "A", **app: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    state: dict[str, Any] = {"application": {**APP, **app}, "completeness": {"complete": True}, "round": 0}
    assert [c["name"] for c in await _step(state)] == ["credit_check"]
    state["tool_results"] = [_credit(band)]
    (decision,) = await _step(state)
    return state, decision


async def test_the_approval_is_proposed_alone_and_the_notice_only_after_it_ran() -> None:
    state, decision = await _to_decision()
    assert decision["name"] == "approve_loan", "no notice in the decision's step"
    edited = {**decision, "args": {**decision["args"], "amount": 15000}}  # the approver lowered the amount
    state["tool_results"].append(_ran(edited, decided_by="bob", approval_id="apr_1"))
    (notice,) = await _step(state)
    assert notice["name"] == "notify_customer"
    assert notice["args"]["decision"] == "approved" and notice["args"]["decision_reference"] == "ref-r2-approve_loan"
    assert "approved for 15,000.00 EUR" in notice["args"]["message"], "the notice carries the amount that ran"
    state["tool_results"].append(_ran(notice))
    assert await _step(state) == []


async def test_a_rejected_approval_is_referred_and_never_notified_as_approved() -> None:
    state, decision = await _to_decision()
    state["tool_results"].append(_ran(decision, "rejected", decided_by="bob", reason="income not verified"))
    (referral,) = await _step(state)
    assert referral["name"] == "refer_to_underwriter"
    assert "rejected by bob: income not verified" in referral["args"]["reason"]
    state["tool_results"].append(_ran(referral))
    (notice,) = await _step(state)
    assert notice["args"]["decision"] == "referred" and "approved" not in notice["args"]["message"]
    done = {r["tool"]: r for r in state["tool_results"]}
    decision_label, by, overridden = _decision_of(done, True)
    assert (decision_label, by) == ("referred", "bob")
    assert overridden is not None and overridden["tool"] == "approve_loan" and overridden["status"] == "rejected"


async def test_a_decline_that_ran_is_notified_with_its_principal_reasons() -> None:
    state, decision = await _to_decision(band="D")
    assert decision["name"] == "decline_loan"
    state["tool_results"].append(_ran(decision, decided_by="bob", approval_id="apr_2"))
    (notice,) = await _step(state)
    assert notice["args"]["decision"] == "declined" and "bureau band D" in notice["args"]["message"]


async def test_a_referral_the_policy_denied_sends_no_notice() -> None:
    state, decision = await _to_decision(band="C")
    assert decision["name"] == "refer_to_underwriter"
    state["tool_results"].append(_ran(decision, "denied", reason="blocked"))
    assert await _step(state) == []
    assert _decision_of({r["tool"]: r for r in state["tool_results"]}, True)[0] == "referred-denied"


async def test_an_amount_above_the_mandate_is_referred_before_any_bureau_call() -> None:
    state: dict[str, Any] = {"application": {**APP, "amount": 6_000_000}, "completeness": {"complete": True}}
    (call,) = await _step(state)
    assert call["name"] == "refer_to_underwriter" and "LEND-MANDATE" in call["args"]["evidence"]["rules_fired"]
