"""Lending tools used by the loan triage agent.

``credit_check`` bands the bureau score with the ``credit_band`` ruleset and scores the application with the
credit risk model's ``champion`` (the ``challenger`` in shadow). Side-effecting tools here only record their
action through the adapter seam (``tools.adapters``): simulated unless a webhook is configured, and each
result's ``action`` says which adapter took it and whether it was delivered, queued or only simulated.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, Field

from tools.adapters import ActionReport, submit_action
from tools.registry import ExecutionGrant, register_tool
from tools.rules import load_ruleset
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
    ratio = args.amount / args.annual_income if args.annual_income else None
    bands = load_ruleset("credit_band").evaluate({"credit_score": args.credit_score, "loan_to_income": ratio})
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


class LoanDecisionArgs(BaseModel):
    application_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=1000)


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
)
def notify_customer(args: NotifyArgs, grant: ExecutionGrant) -> NotifyResult:
    message = {"applicant_id": args.applicant_id, "channel": args.channel, "message": args.message}
    return NotifyResult(channel=args.channel, action=submit_action(grant, "notify_customer", message))
