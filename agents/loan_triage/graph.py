"""Loan triage: START -> intake -> assess -> (tools -> assess)* -> summarize -> END

``intake`` checks completeness; ``assess`` asks for a credit check (bureau band from the ``credit_band``
rules and the champion model's PD), then applies the ``lending`` ruleset and proposes approve (plus a
customer notice) / refer / decline; ``tools`` is the guarded tool node (policy, approvals); ``summarize``
states the outcome, the rules that fired, the policy passages they rest on, the score that was used, and
who confirmed it; the model (when one is configured) only explains (DESIGN.md section 4).
"""

from __future__ import annotations

import operator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agents._llm import ModelUse, acts_on_world, say
from agents._llm import explain as model_explain
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.loan_triage.prompts import EXPLAIN
from guards.outcome import RULES, AuthoredText, Basis, Outcome, actions_of, template

AUTO_APPROVE_LIMIT = 50_000.0
REQUIRED_FIELDS = ("annual_income", "credit_score", "purpose")


class LoanApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, never dropped

    application_id: str = Field(min_length=1, max_length=64)
    applicant_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000)
    annual_income: float | None = Field(default=None, ge=0)
    credit_score: int | None = Field(default=None, ge=300, le=850)
    purpose: str | None = Field(default=None, max_length=500)


class LoanTriageInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    application: LoanApplication
    consent: dict[str, bool] | None = Field(
        default=None, description="Consent by purpose (credit_assessment, customer_communication, ...)."
    )


class LoanTriageOutcome(Outcome):
    """The loan triage outcome: the common fields plus what an approver reads about this application."""

    tools: dict[str, str] = Field(default_factory=dict, description="Tool -> status of this run's calls.")
    missing: list[str] = Field(default_factory=list)
    rules_fired: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    citations: list[dict[str, Any]] = Field(default_factory=list, description="The cited passages, quoted.")
    shadow_score: dict[str, Any] | None = None
    explanation: str | None = None
    explanation_by: str | None = Field(default=None, description="'model' or 'template' (texts has the detail).")
    model: dict[str, Any] | None = Field(default=None, description="What the model did for the explanation.")


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
    await say(text, RULES)  # the rules wrote it: one message, never streamed as if a model were typing
    return {
        **update,
        "round": rnd,
        "pending_tool_calls": calls,
        "messages": [{"role": "assistant", "node": "assess", "content": text, "by": RULES}],
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
    explanation, use = await _explain(state["application"], decision, assessment, missing)
    text = f"Application {state['application']['application_id']}: {decision} (decided by {decided_by})."
    outcome = LoanTriageOutcome(
        decision=decision,
        decided_by=decided_by,
        basis=Basis(
            rules=assessment.get("rulesets", []),
            rules_fired=assessment.get("rules_fired", []),
            score=assessment.get("score"),
            citations=assessment.get("citations", []),
        ),
        actions=actions_of(done.values(), acts_on_world),
        texts=[explanation, AuthoredText(text=text, by=RULES, node="summarize")],
        prompt_versions=[use.sent] if use is not None and use.sent else [],
        tools={name: r["status"] for name, r in sorted(done.items())},
        missing=missing,
        rules_fired=assessment.get("rules_fired", []),
        reasons=assessment.get("reasons", []),
        citations=quote(assessment.get("citations", [])),
        shadow_score=assessment.get("shadow"),
        explanation=explanation.text,
        explanation_by="model" if explanation.by == "model" else "template",
        model=use.public() if use is not None else None,
    )
    return {
        "outcome": outcome.public(),
        "messages": [{"role": "assistant", "node": "summarize", "content": text, "by": RULES}],
    }


async def _explain(
    app: dict[str, Any], decision: str, assessment: dict[str, Any], missing: list[str]
) -> tuple[AuthoredText, ModelUse | None]:
    """The explanation and what the model did for it (None: no model asked). The model explains only where
    the rules decided something; otherwise, or when it cannot answer, a template writes it."""
    if not assessment:
        text = f"Missing: {', '.join(missing)}." if missing else "No decision was proposed."
        return await say(text, template("loan_triage.incomplete")), None
    score = assessment.get("score") or {}
    pd = f"; model PD {score['pd']} ({score['model']} v{score['version']})" if score.get("pd") is not None else ""
    fallback = (
        f"Proposed {assessment['outcome']} for {app['application_id']}: band {assessment['band']}{pd}. "
        + " ".join(assessment["reasons"])
    )
    facts = f"Application: {app}. Decision: {decision}. Rules: {assessment['reasons']}."
    return await model_explain("loan_triage.explain", EXPLAIN, facts, fallback, template("loan_triage.explanation"))


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
