"""Every case of the loan triage handbook and traffic suites through the agent's deterministic decision path:
the real ``intake`` and ``assess`` nodes, the real lending and credit-band rulesets, the real action policy
(``guards/policies/default.yaml``, straight-through rules included), the guarded node's dependency check, and
the case's scripted approver; no model, no Temporal (fast). The credit model's PD is the model card's data law
(``agents.loan_triage.suites.law_pd``); tests/integration/test_loan_triage_agent.py checks that the
registered champion puts every case on the same side of the PD lines.

This is the quick check for each category of issue 16's lending work: affordability, income plausibility,
product scope, the mandate, the fail-safe path, missing fields, the notice after the decision, and the
straight-through tier (with the traffic suite's rates at the end)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agents.guarded import unmet_dependency
from agents.loan_triage.graph import _decision_of, assess, intake
from agents.loan_triage.suites import SMOKE, classic_cases, handbook_cases, law_pd, traffic_cases
from evals.scorers import values_match
from guards.policy import PolicyInput, load_policy_engine
from guards.types import Principal
from tools import get_tool
from tools.lending import band_application, loan_to_income

SUITES = Path(__file__).parents[2] / "evals" / "suites"
REQUESTER = Principal(id="eval-requester", roles=["operator"])
POLICY = load_policy_engine()


def _suite(name: str) -> list[dict[str, Any]]:
    lines = (SUITES / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


HANDBOOK, TRAFFIC = _suite("loan_triage_handbook"), _suite("loan_triage_traffic")
CLASSIC = [c for c in _suite("loan_triage") if c["id"] not in ("guard-no-consent", "guard-prompt-injection")]
"""The eval CLI/gate suite; its consent and injection cases rest on the input guards (tested where they live)."""


@dataclass
class FakeRuntime:
    context: dict[str, Any]


def _credit_output(args: dict[str, Any]) -> dict[str, Any]:
    ratio = loan_to_income(args["amount"], args["annual_income"])
    bands = band_application(args["credit_score"], ratio)
    scored = bool(args["annual_income"])
    pd = round(law_pd(args["credit_score"], args["annual_income"], args["amount"]), 4) if scored else None
    return {
        "score_band": bands.outcome,
        "rules_fired": bands.fired_ids,
        "ruleset_version": bands.version,
        "model": {"status": "scored", "pd": pd, "version": "law"} if scored else {"status": "unavailable"},
    }


def _execute(call: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    if call["name"] == "credit_check":
        return _credit_output(args)
    return {"amount": args.get("amount"), "reference": f"ref-{call['id']}"}


def _gate(call: dict[str, Any], args: dict[str, Any]) -> Any:
    tool = get_tool(call["name"])
    return POLICY.decide(
        PolicyInput(
            tool=call["name"],
            risk=tool.risk,
            side_effect=tool.side_effect,
            args=args,
            tenant="default",
            requester=REQUESTER,
            assistant_id="loan_triage",
        )
    )


async def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """The run the agent makes for the case: outcome fields, trajectory, approvals asked."""
    rt = FakeRuntime({"run_id": "r"})
    state: dict[str, Any] = {"application": case["input"]["application"], "tool_results": []}
    state.update({k: v for k, v in (await intake(state, rt)).items() if k != "messages"})  # type: ignore[arg-type]
    trajectory: list[dict[str, Any]] = []
    approvals: list[dict[str, Any]] = []
    for _ in range(8):
        out = await assess(state, rt)  # type: ignore[arg-type]
        state.update({k: v for k, v in out.items() if k not in ("messages", "tool_results")})
        calls = out["pending_tool_calls"]
        if not calls:
            break
        for call in calls:
            args = dict(call["args"])
            base = {"run_id": "r", "tool": call["name"], "tool_call_id": call["id"], "args": args}
            unmet = unmet_dependency(call["name"], [], state["tool_results"])
            verdict = _gate(call, args)
            if unmet is not None:
                result = {**base, "status": "dropped", "reason": unmet[0]}
            elif verdict.effect == "deny":
                result = {**base, "status": "denied", "reason": verdict.reason}
            elif verdict.effect == "allow":
                result = {**base, "status": "executed", "output": _execute(call, args)}
            else:
                approvals.append(
                    {
                        "tool": call["name"],
                        "required_role": verdict.required_role,
                        "approvals_required": verdict.approvals_required,
                    }
                )
                scripted = case["decisions"].get(call["name"], "reject")
                action = scripted if isinstance(scripted, str) else scripted["action"]
                who = {"decided_by": "eval-approver", "approval_id": f"apr-{call['id']}"}
                if action != "reject" and verdict.approvals_required == 2:
                    who["decided_by"] = "eval-approver-2"  # the second approval lets it run
                if action == "reject":
                    comment = scripted.get("comment") if isinstance(scripted, dict) else None
                    result = {**base, "status": "rejected", "reason": comment or "rejected", **who}
                else:
                    if action == "edit":
                        args = {**args, **scripted["args"]}
                    result = {**base, "args": args, "status": "executed", "output": _execute(call, args), **who}
            state["tool_results"].append(result)
            trajectory.append({"tool": call["name"], "args": call["args"], "status": result["status"]})
    done = {r["tool"]: r for r in state["tool_results"]}
    decision, decided_by, _ = _decision_of(done, bool(state["completeness"]["complete"]))
    assessment = state.get("assessment") or {}
    missing = list(state["completeness"]["missing"]) + list(assessment.get("missing") or [])
    outcome = {"decision": decision, "decided_by": decided_by, "band": assessment.get("band"), "missing": missing}
    return {"outcome": outcome, "trajectory": trajectory, "approvals": approvals}


def check(case: dict[str, Any], got: dict[str, Any]) -> list[str]:
    exp, problems = case["expected"], []
    for key, want in exp["outcome"].items():
        if not values_match(want, got["outcome"].get(key)):
            problems.append(f"outcome.{key}: expected {want!r}, got {got['outcome'].get(key)!r}")
    tools = [(c["tool"], c.get("status")) for c in exp["trajectory"]]
    actual = [(c["tool"], c["status"]) for c in got["trajectory"]]
    if tools != actual:
        problems.append(f"trajectory: expected {tools}, got {actual}")
    else:
        for want, call in zip(exp["trajectory"], got["trajectory"], strict=True):
            for k, v in (want.get("args") or {}).items():
                if not values_match(v, call["args"].get(k)):
                    problems.append(f"{call['tool']}.args.{k}: expected {v!r}, got {call['args'].get(k)!r}")
    want_approvals = [{k: a.get(k) for k in ("tool", "required_role", "approvals_required") if k in a}
                      for a in exp["approvals"]]  # fmt: skip
    got_approvals = [{k: a[k] for k in w} for w, a in zip(want_approvals, got["approvals"], strict=False)]
    if len(want_approvals) != len(got["approvals"]) or want_approvals != got_approvals:
        problems.append(f"approvals: expected {exp['approvals']}, got {got['approvals']}")
    return problems


def test_the_suites_are_what_the_generator_writes_and_cite_the_policy() -> None:
    """The committed files are the generator's output (so a reviewer reads the method in one place), every
    case cites a section that exists, and no two cases differ only in their ids."""
    from tools.corpus import get_section

    assert [c["id"] for c in HANDBOOK] == [c["id"] for c in handbook_cases()] and len(HANDBOOK) >= 100
    assert [c["id"] for c in TRAFFIC] == [c["id"] for c in traffic_cases()] and len(TRAFFIC) >= 40
    assert [c["id"] for c in _suite("loan_triage")] == [c["id"] for c in classic_cases()]
    assert [c["id"] for c in _suite("smoke")] == list(SMOKE)
    for c in HANDBOOK + TRAFFIC:
        assert c["cites"] and all(get_section(cite).text for cite in c["cites"]), c["id"]
    for suite in (HANDBOOK, TRAFFIC):
        bodies = [json.dumps({k: v for k, v in c["input"]["application"].items() if "_id" not in k}) for c in suite]
        seen = {b for b in bodies}
        dupes = len(bodies) - len(seen)
        # Same application, different approver script (a rejected or edited decision) is a different case.
        scripted = sum(1 for c in suite if any(isinstance(d, dict) for d in c["decisions"].values()))
        assert dupes <= scripted, f"{dupes} cases differ only in their ids"


@pytest.mark.parametrize("case", HANDBOOK, ids=lambda c: c["id"])
async def test_handbook_case(case: dict[str, Any]) -> None:
    assert check(case, await run_case(case)) == []


@pytest.mark.parametrize("case", CLASSIC, ids=lambda c: c["id"])
async def test_classic_case(case: dict[str, Any]) -> None:
    assert check(case, await run_case(case)) == []


@pytest.mark.parametrize("case", TRAFFIC, ids=lambda c: c["id"])
async def test_traffic_case(case: dict[str, Any]) -> None:
    assert check(case, await run_case(case)) == []


async def test_traffic_straight_through_rate_and_risky_actions_routed() -> None:
    """On the deterministic path: how many traffic cases are decided with no person, how many of those are
    right, and whether every risky action (the lending ruleset's risky_actions, LP-5.5) went to a person."""
    from evals.automation import handbook_risky_actions, risky_definition

    risky = handbook_risky_actions()
    automated = correct = risky_total = risky_routed = 0
    for case in TRAFFIC:
        got = await run_case(case)
        asked = {a["tool"] for a in got["approvals"]}
        if got["outcome"]["decision"] in ("approved", "declined") and not got["approvals"]:
            automated += 1
            correct += not check(case, got)
        for call in got["trajectory"]:
            if call["status"] in ("executed", "rejected") and risky_definition(call, risky):
                risky_total += 1
                risky_routed += call["tool"] in asked
    assert automated / len(TRAFFIC) >= 0.65 and correct == automated
    assert risky_total > 0 and risky_routed == risky_total
