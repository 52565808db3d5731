"""Loan triage: START -> intake -> assess -> (tools -> assess)* -> summarize -> END

``intake`` checks completeness; ``assess`` asks for a credit check (bureau band from the ``credit_band``
rules and the champion model's PD), then applies the ``lending`` ruleset and proposes approve (plus a
customer notice) / refer / decline; ``tools`` is the guarded tool node (policy, approvals); ``summarize``
states the outcome, the rules that fired, the policy passages they rest on, the score that was used, and
who confirmed it; the model (when one is configured) only explains (DESIGN.md section 4).
"""

from __future__ import annotations

import asyncio
import operator
import os
from datetime import timedelta
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field
from temporalio import activity

from agents._llm import explain as model_explain
from agents._llm import prompt_ref
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node, current_emitter
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.loan_triage.prompts import EXPLAIN, PROMPT_VERSION
from agents.registry import AssistantSpec

AUTO_APPROVE_LIMIT = 50_000.0
REQUIRED_FIELDS = ("annual_income", "credit_score", "purpose")


class LoanApplication(BaseModel):
    application_id: str = Field(min_length=1, max_length=64)
    applicant_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000)
    annual_income: float | None = Field(default=None, ge=0)
    credit_score: int | None = Field(default=None, ge=300, le=850)
    purpose: str | None = Field(default=None, max_length=500)


class LoanTriageInput(BaseModel):
    application: LoanApplication
    consent: dict[str, bool] | None = Field(
        default=None, description="Consent by purpose (credit_assessment, customer_communication, ...)."
    )


class LoanTriageState(TypedDict, total=False):
    application: dict[str, Any]
    completeness: dict[str, Any]
    round: int
    pending_tool_calls: list[dict[str, Any]]
    tool_results: Annotated[list[dict[str, Any]], operator.add]
    messages: Annotated[list[dict[str, Any]], operator.add]
    assessment: dict[str, Any]
    outcome: dict[str, Any]


def _run_results(state: dict[str, Any], run_id: str) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in state.get("tool_results") or [] if r.get("run_id") == run_id}


async def _think(text: str) -> None:
    """Stream the explanation as tokens, as the real model does; optionally slow (crash tests)."""
    delay = float(os.environ.get("STEWARD_STANDIN_DELAY_S", "0") or 0)
    emitter = current_emitter()
    words = text.split(" ")
    for i, word in enumerate(words):
        if emitter:
            emitter.emit("token", {"text": word + (" " if i < len(words) - 1 else "")})
        if delay:
            await asyncio.sleep(delay / len(words))
            if activity.in_activity():
                activity.heartbeat(i)


@activity_node("intake")
async def intake(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    app = LoanApplication.model_validate(state.get("application") or {}).model_dump()
    missing = [f for f in REQUIRED_FIELDS if app.get(f) in (None, "")]
    note = "Application complete." if not missing else f"Missing: {', '.join(missing)}."
    return {
        "application": app,
        "completeness": {"complete": not missing, "missing": missing},
        "round": 0,
        "pending_tool_calls": [],
        "messages": [{"role": "assistant", "node": "intake", "content": note}],
    }


def _apply_lending_rules(app: dict[str, Any], credit: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The credit check's band and score through the ``lending`` ruleset: the decision, and why."""
    from tools.rules import load_ruleset

    model = credit.get("model") or {}
    pd = model.get("pd") if model.get("status") == "scored" else None
    income = app.get("annual_income") or 0
    verdict = load_ruleset("lending").evaluate(
        {
            "complete": True,
            "band": credit["score_band"],
            "pd": pd,
            "amount": app["amount"],
            "loan_to_income": app["amount"] / income if income else None,
            "model_available": pd is not None,
        }
    )
    return {
        "run_id": run_id,
        "outcome": verdict.outcome,
        "band": credit["score_band"],
        "rules_fired": list(credit.get("rules_fired") or []) + verdict.fired_ids,
        "reasons": verdict.reasons(),
        "citations": ["lending-policy#LP-3.1", *verdict.citations],
        "rulesets": [f"credit_band@{credit.get('ruleset_version')}", f"lending@{verdict.version}"],
        "score": {k: model.get(k) for k in ("status", "pd", "model", "alias", "version", "reason")} if model else None,
        "shadow": credit.get("shadow"),
    }


@activity_node("assess")
async def assess(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    app = state["application"]
    rnd = int(state.get("round") or 0) + 1
    done = _run_results(dict(state), ctx["run_id"])
    calls: list[dict[str, Any]] = []
    update: dict[str, Any] = {}
    if not state["completeness"]["complete"]:
        text = "The application is incomplete, so no checks can run; the applicant must supply the missing fields."
    elif "credit_check" not in done:
        calls.append(
            {
                "id": f"r{rnd}-credit_check",
                "name": "credit_check",
                "args": {
                    "applicant_id": app["applicant_id"],
                    "credit_score": app["credit_score"],
                    "annual_income": app["annual_income"],
                    "amount": app["amount"],
                },
            }
        )
        text = "A credit check is needed before any decision."
    elif done["credit_check"]["status"] == "executed" and not (
        {"approve_loan", "decline_loan", "refer_to_underwriter"} & set(done)
    ):
        assessment = _apply_lending_rules(app, done["credit_check"]["output"], ctx["run_id"])
        update["assessment"] = assessment
        band, fired = assessment["band"], ", ".join(assessment["rules_fired"])
        base = {"application_id": app["application_id"], "amount": app["amount"]}
        if assessment["outcome"] == "approve":
            calls.append(
                {
                    "id": f"r{rnd}-approve_loan",
                    "name": "approve_loan",
                    "args": {**base, "reason": f"credit band {band}; lending rules {fired}"},
                }
            )
            calls.append(
                {
                    "id": f"r{rnd}-notify_customer",
                    "name": "notify_customer",
                    "args": {
                        "applicant_id": app["applicant_id"],
                        "channel": "email",
                        "message": f"Your application {app['application_id']} has been approved.",
                    },
                }
            )
            text = f"Credit band {band}: the rules support approval; an approver must confirm."
        elif assessment["outcome"] == "decline":
            calls.append(
                {
                    "id": f"r{rnd}-decline_loan",
                    "name": "decline_loan",
                    "args": {**base, "reason": f"credit band {band}; lending rules {fired}"},
                }
            )
            text = f"Credit band {band}: the rules support a decline; an approver must confirm."
        else:
            calls.append(
                {
                    "id": f"r{rnd}-refer_to_underwriter",
                    "name": "refer_to_underwriter",
                    "args": {**base, "reason": f"credit band {band}; manual underwriting; lending rules {fired}"},
                }
            )
            text = f"Credit band {band}: the rules refer this application to an underwriter ({fired})."
    else:
        text = "All proposed actions have been handled."
    await _think(text)
    return {
        **update,
        "round": rnd,
        "pending_tool_calls": calls,
        "messages": [{"role": "assistant", "node": "assess", "content": text, "prompt_version": PROMPT_VERSION}],
    }


@activity_node("summarize")
async def summarize(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.corpus import quote

    ctx = runtime.context
    done = _run_results(dict(state), ctx["run_id"])
    assessment = state.get("assessment") or {}
    if assessment.get("run_id") != ctx["run_id"]:
        assessment = {}
    decision, decided_by = "incomplete", "rules"
    for tool, label in (
        ("approve_loan", "approved"),
        ("decline_loan", "declined"),
        ("refer_to_underwriter", "referred"),
    ):
        if tool in done:
            r = done[tool]
            decision = label if r["status"] == "executed" else f"{label}-{r['status']}"
            decided_by = r.get("decided_by") or "rules"
            break
    else:
        if state.get("completeness", {}).get("complete"):
            decision = "no-decision"
    missing = state.get("completeness", {}).get("missing", [])
    explanation, by, use = await _explain(state["application"], decision, assessment, missing)
    outcome = {
        "decision": decision,
        "decided_by": decided_by,
        "tools": {name: r["status"] for name, r in sorted(done.items())},
        "missing": missing,
        "basis": {"rules": assessment.get("rulesets", []), "score": assessment.get("score")},
        "rules_fired": assessment.get("rules_fired", []),
        "reasons": assessment.get("reasons", []),
        "citations": quote(assessment.get("citations", [])),
        "shadow_score": assessment.get("shadow"),
        "explanation": explanation,
        "explanation_by": by,
        "model": use,
    }
    text = f"Application {state['application']['application_id']}: {decision} (decided by {decided_by})."
    return {"outcome": outcome, "messages": [{"role": "assistant", "node": "summarize", "content": text}]}


async def _explain(
    app: dict[str, Any], decision: str, assessment: dict[str, Any], missing: list[str]
) -> tuple[str, str, dict[str, Any] | None]:
    """(text, "model" | "template", model use): the model explains only where rules decided something."""
    if not assessment:
        text = f"Missing: {', '.join(missing)}." if missing else "No decision was proposed."
        return text, "template", None
    score = assessment.get("score") or {}
    pd = f"; model PD {score['pd']} ({score['model']} v{score['version']})" if score.get("pd") is not None else ""
    template = (
        f"Proposed {assessment['outcome']} for {app['application_id']}: band {assessment['band']}{pd}. "
        + " ".join(assessment["reasons"])
    )
    facts = f"Application: {app}. Decision: {decision}. Rules: {assessment['reasons']}."
    text, use = await model_explain(prompt_ref("loan_triage.explain", EXPLAIN), EXPLAIN, facts, template)
    return text, "model" if use.status == "answered" else "template", use.public()


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    g: StateGraph[Any, Any, Any, Any] = StateGraph(LoanTriageState, context_schema=RunContext)
    g.add_node("intake", intake, metadata=dict(ACTIVITY_NODE))
    # A short heartbeat: a crashed worker's proposal is retried within seconds (tests/.../test_crash_recovery).
    g.add_node("assess", assess, metadata={**MODEL_NODE, "heartbeat_timeout": timedelta(seconds=5)})
    g.add_node(GUARDED_NODE, guarded_tool_node, metadata=dict(GUARDED_NODE_METADATA))
    # The explanation may come from the model: a longer limit, and heartbeats come with each streamed token.
    g.add_node("summarize", summarize, metadata=dict(MODEL_NODE))
    g.add_edge(START, "intake")
    g.add_edge("intake", "assess")
    g.add_conditional_edges("assess", tool_router("summarize"), [GUARDED_NODE, "summarize"])
    g.add_edge(GUARDED_NODE, "assess")
    g.add_edge("summarize", END)
    return g


SPEC = AssistantSpec(
    name="loan_triage",
    version="0.1.0",
    description="Triage a loan application: completeness, credit check, rule-based proposal, approval.",
    build_graph=build_graph,
    input_schema=LoanTriageInput.model_json_schema(),
    subscriptions={"loan.application.received": "application"},
)
