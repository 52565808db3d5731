"""Lending tools used by the loan triage agent.

``credit_check`` bands the bureau score with the ``credit_band`` ruleset and scores the application with the
credit risk model's ``champion`` (the ``challenger`` in shadow). Side-effecting tools here only record their
action through the adapter seam (``tools.adapters``): simulated unless a webhook is configured, and each
result's ``action`` says which adapter took it and whether it was delivered, queued or only simulated.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.adapters import ActionReport, submit_action
from tools.registry import ExecutionGrant, register_tool
from tools.rules import RulesResult, load_ruleset
from tools.scoring import ModelScore, score_application


class CreditCheckArgs(BaseModel):
    applicant_id: str = Field(min_length=1, max_length=64)
    credit_score: int = Field(ge=300, le=850)
    annual_income: float = Field(ge=0)
    amount: float = Field(gt=0, le=10_000_000)


class CreditCheckResult(BaseModel):
    score_band: Literal["A", "B", "C", "D"]
    debt_to_income_proxy: float
    rules_fired: list[str]
    ruleset_version: str | None = None
    model: ModelScore | None = Field(default=None, description="The champion's PD, or why there is none.")
    shadow: ModelScore | None = Field(default=None, description="The challenger's PD: logged, never decides.")


@register_tool(
    name="credit_check",
    args_schema=CreditCheckArgs,
    result_schema=CreditCheckResult,
    risk="low",
    side_effect=False,
    owner="credit-risk",
    version="1.1.0",
    timeout_s=60.0,
    description="Band the applicant's credit (bureau score, loan-to-income) and score the probability of default.",
)
async def credit_check(args: CreditCheckArgs, grant: ExecutionGrant) -> CreditCheckResult:
    ratio = loan_to_income(args.amount, args.annual_income)
    bands = band_application(args.credit_score, ratio)
    # Loading a model from the registry blocks for a moment on first use: keep the event loop free.
    scored = await asyncio.to_thread(
        score_application,
        {"credit_score": args.credit_score, "annual_income": args.annual_income, "amount": args.amount},
    )
    return CreditCheckResult(
        score_band=bands.outcome,  # type: ignore[arg-type]
        debt_to_income_proxy=round(ratio if ratio is not None else 99.0, 3),
        rules_fired=bands.fired_ids,
        ruleset_version=bands.version,
        model=scored.champion,
        shadow=scored.challenger,
    )


def loan_to_income(amount: float, annual_income: float | None) -> float | None:
    """Requested amount over gross annual income (LP-3.1); None without an income, never a guess."""
    return amount / annual_income if annual_income else None


def band_application(credit_score: float, ratio: float | None) -> RulesResult:
    """The bureau band from the ``credit_band`` ruleset (LP-3.1): the same call the credit check makes."""
    return load_ruleset("credit_band").evaluate({"credit_score": credit_score, "loan_to_income": ratio})


class LoanEvidence(BaseModel):
    """What the lending rules found, carried in a decision's arguments so that the policy's straight-through
    rules (``stp-loan-*``) read validated facts, never free text (lending policy LP-5.4)."""

    rules_outcome: Literal["approve", "decline", "refer", "incomplete"]
    band: Literal["A", "B", "C", "D"] | None = None
    pd: float | None = Field(default=None, ge=0, le=1, description="The champion's PD; None when not scored.")
    model_available: bool = False
    dsti: float | None = Field(default=None, ge=0, description="Debt service to gross monthly income.")
    loan_to_income: float | None = Field(default=None, ge=0)
    stp_eligible: bool = Field(default=False, description="LEND-STP-ELIGIBLE fired and the rules approve.")
    rules_fired: list[str] = Field(default_factory=list, max_length=40)
    ruleset: str = Field(default="", max_length=80)


class LoanDecisionArgs(BaseModel):
    application_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=1000)
    evidence: LoanEvidence | None = Field(
        default=None, description="The lending rules' findings; absent evidence is never straight-through."
    )


class LoanDecisionResult(BaseModel):
    application_id: str
    status: Literal["approved", "declined", "referred"]
    amount: float
    reference: str
    action: ActionReport = Field(description="Which adapter took the decision downstream, and its delivery state.")


def _decide(tool: str, status: str, args: LoanDecisionArgs, grant: ExecutionGrant) -> LoanDecisionResult:
    decision = {"application_id": args.application_id, "status": status, "amount": args.amount, "reason": args.reason}
    return LoanDecisionResult(
        application_id=args.application_id,
        status=status,  # type: ignore[arg-type]
        amount=args.amount,
        reference=grant.idempotency_key,
        action=submit_action(grant, tool, decision),
    )


@register_tool(
    name="approve_loan",
    args_schema=LoanDecisionArgs,
    result_schema=LoanDecisionResult,
    risk="high",
    side_effect=True,
    owner="lending-ops",
    description="Approve the loan in the core banking system (customer-affecting).",
)
def approve_loan(args: LoanDecisionArgs, grant: ExecutionGrant) -> LoanDecisionResult:
    return _decide("approve_loan", "approved", args, grant)


@register_tool(
    name="decline_loan",
    args_schema=LoanDecisionArgs,
    result_schema=LoanDecisionResult,
    risk="high",
    side_effect=True,
    owner="lending-ops",
    description="Decline the loan and trigger the adverse-action notice (customer-affecting).",
)
def decline_loan(args: LoanDecisionArgs, grant: ExecutionGrant) -> LoanDecisionResult:
    return _decide("decline_loan", "declined", args, grant)


@register_tool(
    name="refer_to_underwriter",
    args_schema=LoanDecisionArgs,
    result_schema=LoanDecisionResult,
    risk="low",
    side_effect=True,
    owner="lending-ops",
    description="Put the application in the manual underwriting queue.",
)
def refer_to_underwriter(args: LoanDecisionArgs, grant: ExecutionGrant) -> LoanDecisionResult:
    return _decide("refer_to_underwriter", "referred", args, grant)


class NotifyArgs(BaseModel):
    applicant_id: str = Field(min_length=1, max_length=64)
    channel: Literal["email", "letter", "sms"] = "email"
    message: str = Field(min_length=1, max_length=2000)
    decision: Literal["approved", "declined", "referred"] | None = Field(
        default=None, description="The decision this notice reports: one that was actually taken (LP-6.1)."
    )
    decision_reference: str | None = Field(
        default=None, max_length=200, description="The executed decision's reference (its idempotency key)."
    )


class NotifyResult(BaseModel):
    channel: str
    action: ActionReport = Field(description="Simulated, queued for the webhook, or delivered: never assumed.")


@register_tool(
    name="notify_customer",
    args_schema=NotifyArgs,
    result_schema=NotifyResult,
    risk="medium",
    side_effect=True,
    owner="customer-comms",
    description="Send a message to the customer.",
    # A notice reports a decision that was taken (LP-6.1): the guarded node drops it otherwise.
    depends_on=("approve_loan", "decline_loan", "refer_to_underwriter"),
)
def notify_customer(args: NotifyArgs, grant: ExecutionGrant) -> NotifyResult:
    message = {"applicant_id": args.applicant_id, "channel": args.channel, "message": args.message}
    return NotifyResult(channel=args.channel, action=submit_action(grant, "notify_customer", message))


# -- the lending assessment: application + credit check -> the lending ruleset's verdict ----------------------

RULE_FIELDS = ("term_months", "annual_rate", "monthly_obligations", "employment_status", "age")
"""The fields affordability and plausibility rules need beyond LP-2.1 (LP-2.3): absent, the case is referred."""
STP_RULE = "LEND-STP-ELIGIBLE"
"""The informational rule that marks an approval as straight-through eligible (LP-5.4); it never decides."""


def monthly_instalment(amount: float, annual_rate: float, term_months: int) -> float:
    """The annuity instalment (equal monthly payments, nominal annual rate compounded monthly), as the
    standard European Information Sheet of CCD2 (EU) 2023/2225 quotes it."""
    rate = annual_rate / 12
    if rate == 0:
        return amount / term_months
    return amount * rate / (1 - (1 + rate) ** -term_months)


def debt_service_to_income(app: dict[str, Any]) -> float | None:
    """(new instalment + declared monthly obligations) / gross monthly income (LP-3.6); None when a needed
    figure is missing or the income is zero, so no rule reads a guess."""
    term, rate, obligations = app.get("term_months"), app.get("annual_rate"), app.get("monthly_obligations")
    income = app.get("annual_income")
    if term is None or rate is None or obligations is None or not income:
        return None
    instalment = monthly_instalment(float(app["amount"]), float(rate), int(term))
    return round((instalment + float(obligations)) / (float(income) / 12), 4)


class LoanAssessment(BaseModel):
    """The lending rules' verdict on one application, with everything the decision record needs (LP-7)."""

    outcome: Literal["approve", "decline", "refer", "incomplete"]
    band: str | None
    rules_fired: list[str]
    reasons: list[str]
    citations: list[str]
    rulesets: list[str]
    evidence: LoanEvidence
    missing: list[str] = Field(default_factory=list, description="Fields a rule needs that are absent (LP-2.3).")
    score: dict[str, Any] | None = None
    shadow: dict[str, Any] | None = None


def lending_facts(app: dict[str, Any], credit: dict[str, Any] | None, complete: bool = True) -> dict[str, Any]:
    """The ``lending`` ruleset's facts for an application and (when it ran) its credit check."""
    model = (credit or {}).get("model") or {}
    pd = model.get("pd") if model.get("status") == "scored" else None
    income = app.get("annual_income")
    return {
        "complete": complete,
        "band": (credit or {}).get("score_band"),
        "pd": pd,
        "model_available": pd is not None if credit is not None else None,
        "amount": app["amount"],
        "loan_to_income": loan_to_income(app["amount"], income),
        "annual_income": income,
        "monthly_income": app.get("monthly_income"),
        "term_months": app.get("term_months"),
        "annual_rate": app.get("annual_rate"),
        "monthly_obligations": app.get("monthly_obligations"),
        "dsti": debt_service_to_income(app),
        "employment_status": app.get("employment_status"),
        "age": app.get("age"),
        "purpose": app.get("purpose"),
        "currency": app.get("currency") or "EUR",
    }


def assess_application(app: dict[str, Any], credit: dict[str, Any] | None) -> LoanAssessment:
    """Apply the ``lending`` ruleset. ``credit`` is the credit check's result (a dict), or None for the
    pre-screen that runs before any bureau call (then only the application's own facts can fire)."""
    facts = lending_facts(app, credit)
    verdict = load_ruleset("lending").evaluate(facts)
    stp = verdict.outcome == "approve" and STP_RULE in verdict.fired_ids
    fired = [r for r in verdict.fired if r.id != STP_RULE or stp]  # an STP mark on a referral would mislead
    band_rules = list((credit or {}).get("rules_fired") or [])
    model = (credit or {}).get("model") or {}
    rulesets = [f"lending@{verdict.version}"]
    if credit is not None:
        rulesets.insert(0, f"credit_band@{credit.get('ruleset_version')}")
    citations: dict[str, None] = dict.fromkeys(["lending-policy#LP-3.1"] if credit is not None else [])
    for rule in fired:
        citations.update(dict.fromkeys(rule.cites))
    evidence = LoanEvidence(
        rules_outcome=verdict.outcome,  # type: ignore[arg-type]
        band=facts["band"],
        pd=facts["pd"],
        model_available=bool(facts["model_available"]),
        dsti=facts["dsti"],
        loan_to_income=None if facts["loan_to_income"] is None else round(facts["loan_to_income"], 4),
        stp_eligible=stp,
        rules_fired=band_rules + [r.id for r in fired],
        ruleset=f"lending@{verdict.version}",
    )
    return LoanAssessment(
        outcome=verdict.outcome,  # type: ignore[arg-type]
        band=facts["band"],
        rules_fired=evidence.rules_fired,
        reasons=[f"{r.id}: {r.reason}" for r in fired] + [f"ruleset error: {e}" for e in verdict.errors],
        citations=list(citations),
        rulesets=rulesets,
        evidence=evidence,
        missing=[f for f in RULE_FIELDS if app.get(f) is None],
        score={k: model.get(k) for k in ("status", "pd", "model", "alias", "version", "reason")} if model else None,
        shadow=(credit or {}).get("shadow"),
    )
