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
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agents._llm import ModelUse, acts_on_world, say
from agents._llm import explain as model_explain
from agents.context import ACTIVITY_NODE, MODEL_NODE, RunContext, activity_node
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.loan_triage.prompts import EXPLAIN
from guards.outcome import RULES, AuthoredText, Basis, Outcome, actions_of, template

if TYPE_CHECKING:
    from tools.lending import LoanAssessment

REQUIRED_FIELDS = ("annual_income", "credit_score", "purpose")
"""LP-2.1: without these nothing is assessed (incomplete). The affordability and plausibility fields below are
optional in the schema so that a gap is a referral naming the field (LP-2.3), never a 422 or a default."""
DECISIONS = {"approve_loan": "approved", "decline_loan": "declined", "refer_to_underwriter": "referred"}


_EARNS: list[JsonValue] = ["earns", "earning", "salary", "wage", "wages", "makes", "gross", "revenu", "revenus",
                            "ingresos", "einkommen", "verdient", "reddito", "stipendio", "pension", "rente",
                            "retraite", "income", "incomes", "net", "take home", "paid"]  # fmt: skip
_YEARLY: list[JsonValue] = ["year", "yearly", "annuel", "annuelle", "anual", "anuales", "jahrlich", "jahres",
                            "jahreseinkommen", "annuo", "annuale", "annui", "pa", "yr", "annum"]  # fmt: skip
_MONTHLY: list[JsonValue] = ["mensuel", "mensuelle", "mensual", "mensuales", "monatlich", "monats",
                             "mensile"]  # fmt: skip
_OWES: list[JsonValue] = [
    "obligations", "mortgage", "rent", "repayments", "repaying", "debt", "debts", "commitments", "outgoings",
    "pays", "paying", "owes", "instalments", "installments", "car loan", "credit card",
]  # fmt: skip
"""Words that name a number in a request (``x-intake-words``): intake gives a number said beside one of them
to that field only ("pays 420 a month on a mortgage" is an obligation, not an income)."""


class LoanApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, never dropped

    application_id: str = Field(min_length=1, max_length=64)
    applicant_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000, json_schema_extra={"x-intake-words": ["borrow", "principal"]})
    currency: str = Field(
        default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217; the product lends in EUR only (LP-1.1)."
    )
    annual_income: float | None = Field(
        default=None,
        ge=0,
        description="Gross annual income.",
        json_schema_extra={"x-intake-words": _EARNS + _YEARLY, "x-intake-near": _EARNS + _YEARLY},
    )
    monthly_income: float | None = Field(
        default=None,
        ge=0,
        description="Gross monthly pay, as declared.",
        json_schema_extra={"x-intake-words": _EARNS + _MONTHLY, "x-intake-near": _EARNS + _MONTHLY + ["month"]},
    )
    credit_score: int | None = Field(
        default=None, ge=300, le=850, json_schema_extra={"x-intake-words": ["bureau", "fico", "rating"]}
    )
    purpose: str | None = Field(default=None, max_length=500)
    term_months: int | None = Field(default=None, ge=6, le=120, description="Repayment term (LP-3.6).")
    annual_rate: float | None = Field(
        default=None,
        ge=0,
        le=0.5,
        description="Nominal annual rate, e.g. 0.069.",
        json_schema_extra={"x-intake-words": ["interest", "apr"]},
    )
    monthly_obligations: float | None = Field(
        default=None,
        ge=0,
        description="Declared existing monthly debt payments; 0 must be stated, not assumed.",
        json_schema_extra={"x-intake-words": _OWES, "x-intake-near": _OWES},
    )
    employment_status: Literal["employed", "self_employed", "retired", "student", "unemployed"] | None = None
    age: int | None = Field(default=None, ge=0, le=120, json_schema_extra={"x-intake-words": ["aged", "old", "born"]})


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
    band: str | None = Field(default=None, description="The bureau band the credit check placed it in (LP-3.1).")
    overridden: dict[str, Any] | None = Field(
        default=None, description="The proposed decision a person rejected (then referred), and who."
    )
    straight_through: bool = Field(
        default=False, description="Approved or declined with no person asked (policy stp-loan-*, LP-5.4)."
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


def _decision_call(rnd: int, tool: str, app: dict[str, Any], assessment: LoanAssessment, why: str) -> dict[str, Any]:
    return {
        "id": f"r{rnd}-{tool}",
        "name": tool,
        "args": {
            "application_id": app["application_id"],
            "amount": app["amount"],
            "reason": why[:1000],
            "evidence": assessment.evidence.model_dump(),
        },
    }


def _propose_decision(rnd: int, app: dict[str, Any], assessment: LoanAssessment) -> tuple[dict[str, Any], str]:
    """The one decision call the rules support (approve, decline or refer) and the rules' message."""
    band, fired = assessment.band or "-", ", ".join(assessment.rules_fired)
    if assessment.outcome == "approve":
        gate = (
            "it may run straight through (LP-5.4)" if assessment.evidence.stp_eligible else "an approver must confirm"
        )
        return (
            _decision_call(rnd, "approve_loan", app, assessment, f"credit band {band}; lending rules {fired}"),
            f"Credit band {band}: the rules support approval; {gate}.",
        )
    if assessment.outcome == "decline":
        return (
            _decision_call(rnd, "decline_loan", app, assessment, f"credit band {band}; lending rules {fired}"),
            f"Credit band {band}: the rules support a decline; an approver must confirm.",
        )
    why = "; ".join(assessment.reasons) or "manual underwriting"
    if app.get("purpose") and "LEND-COMMERCIAL-PURPOSE" in assessment.rules_fired:
        why = f"purpose {app['purpose']!r}: {why}"
    return (
        _decision_call(rnd, "refer_to_underwriter", app, assessment, f"credit band {band}; {why}"),
        f"Credit band {band}: the rules refer this application to an underwriter ({fired}).",
    )


def _notice(rnd: int, app: dict[str, Any], result: dict[str, Any], assessment: dict[str, Any]) -> dict[str, Any]:
    """The customer notice of a decision that actually ran, with what actually ran: the executed amount (an
    approver may have edited it), the principal reasons of a decline (LP-6.2), the referral (LP-6.1)."""
    output = result.get("output") or {}
    decision = DECISIONS[result["tool"]]
    amount = output.get("amount", (result.get("args") or {}).get("amount"))
    app_id = app["application_id"]
    if decision == "approved":
        message = f"Your application {app_id} has been approved for {amount:,.2f} {app.get('currency') or 'EUR'}."
    elif decision == "declined":
        principal = [r.split(": ", 1)[-1] for r in assessment.get("reasons") or [] if "LEND-PD" not in r]
        message = f"Your application {app_id} has been declined. Principal reasons: {'; '.join(principal)}."
    else:
        message = f"Your application {app_id} has been passed to an underwriter, who will contact you."
    return {
        "id": f"r{rnd}-notify_customer",
        "name": "notify_customer",
        "args": {
            "applicant_id": app["applicant_id"],
            "channel": "email",
            "message": message[:2000],
            "decision": decision,
            "decision_reference": str(output.get("reference") or result.get("tool_call_id")),
        },
    }


def _next_step(
    rnd: int, app: dict[str, Any], done: dict[str, dict[str, Any]], assessment: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """After the decision call came back: notify with what ran, refer what a person rejected, or stop.

    The notice is proposed only here, one step after the decision executed, so it can never run beside (or
    after the rejection of) the decision it reports (issue 16)."""
    executed = [t for t in DECISIONS if done.get(t, {}).get("status") == "executed"]
    if "notify_customer" in done:
        return [], "All proposed actions have been handled."
    if executed:
        # A referral after a rejection is the decision that stands: notify that one.
        tool = "refer_to_underwriter" if "refer_to_underwriter" in executed else executed[0]
        return [
            _notice(rnd, app, done[tool], assessment)
        ], f"The decision ran ({DECISIONS[tool]}): notify the applicant."
    overturned = [t for t in ("approve_loan", "decline_loan") if t in done]
    if overturned and "refer_to_underwriter" not in done:
        r = done[overturned[0]]
        who = r.get("decided_by") or "the policy"
        why = f"proposed {DECISIONS[overturned[0]]} was {r['status']} by {who}: {r.get('reason') or '-'}"
        call = {
            "id": f"r{rnd}-refer_to_underwriter",
            "name": "refer_to_underwriter",
            "args": {"application_id": app["application_id"], "amount": app["amount"], "reason": why[:1000]},
        }
        return [call], f"The {DECISIONS[overturned[0]]} did not run ({r['status']}): refer to an underwriter."
    return [], "No decision ran; nothing is sent to the applicant."


@activity_node("assess")
async def assess(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.lending import assess_application

    ctx = runtime.context
    app = state["application"]
    rnd = int(state.get("round") or 0) + 1
    done = _run_results(dict(state), ctx["run_id"])
    calls: list[dict[str, Any]] = []
    update: dict[str, Any] = {}
    decided = set(DECISIONS) & set(done)
    if not state["completeness"]["complete"]:
        text = "The application is incomplete, so no checks can run; the applicant must supply the missing fields."
    elif decided:
        calls, text = _next_step(rnd, app, done, state.get("assessment") or {})
    elif "credit_check" not in done:
        # Above the mandate the policy does not apply at all (LP-4.4): refer before any bureau call.
        screen = assess_application(app, None)
        if "LEND-MANDATE" in screen.rules_fired:
            update["assessment"] = {"run_id": ctx["run_id"], **screen.model_dump(), "outcome": "refer"}
            call, text = _propose_decision(rnd, app, screen.model_copy(update={"outcome": "refer"}))
            calls.append(call)
        else:
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
    elif done["credit_check"]["status"] == "executed":
        assessment = assess_application(app, done["credit_check"]["output"])
        update["assessment"] = {"run_id": ctx["run_id"], **assessment.model_dump()}
        call, text = _propose_decision(rnd, app, assessment)
        calls.append(call)
    else:
        text = "The credit check did not run, so nothing is decided."
    await say(text, RULES)  # the rules wrote it: one message, never streamed as if a model were typing
    return {
        **update,
        "round": rnd,
        "pending_tool_calls": calls,
        "messages": [{"role": "assistant", "node": "assess", "content": text, "by": RULES}],
    }


def _decision_of(done: dict[str, dict[str, Any]], complete: bool) -> tuple[str, str, dict[str, Any] | None]:
    """(decision, decided_by, overridden): the decision that ran; a referral that followed a person's rejection
    is the decision, decided by that person, and ``overridden`` says what they rejected."""
    overturned = next((done[t] for t in ("approve_loan", "decline_loan") if t in done), None)
    for tool, label in DECISIONS.items():
        r = done.get(tool)
        if r is not None and r["status"] == "executed":
            if tool == "refer_to_underwriter" and overturned is not None and overturned["status"] != "executed":
                who = overturned.get("decided_by") or "rules"
                note = {
                    "tool": overturned["tool"],
                    "status": overturned["status"],
                    "by": who,
                    "reason": overturned.get("reason"),
                }
                return label, who, note
            return label, r.get("decided_by") or "rules", None
    for tool, label in DECISIONS.items():
        if tool in done:
            return f"{label}-{done[tool]['status']}", done[tool].get("decided_by") or "rules", None
    return ("no-decision" if complete else "incomplete"), "rules", None


@activity_node("summarize")
async def summarize(state: LoanTriageState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from tools.corpus import quote

    ctx = runtime.context
    done = _run_results(dict(state), ctx["run_id"])
    assessment = state.get("assessment") or {}
    if assessment.get("run_id") != ctx["run_id"]:
        assessment = {}
    decision, decided_by, overridden = _decision_of(done, bool(state.get("completeness", {}).get("complete")))
    missing = list(state.get("completeness", {}).get("missing", [])) + list(assessment.get("missing") or [])
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
        overridden=overridden,
        band=assessment.get("band"),
        straight_through=decision in ("approved", "declined")
        and not any(r.get("approval_id") for r in done.values() if r["tool"] != "credit_check"),
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
