"""Lending tools used by the loan triage agent.

Side-effecting tools here only record their effect in their result; the runtime stores every execution in
the app store's tool ledger, which is what a downstream system would consume.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.registry import ExecutionGrant, register_tool


class CreditCheckArgs(BaseModel):
    applicant_id: str = Field(min_length=1, max_length=64)
    credit_score: int = Field(ge=300, le=850)
    annual_income: float = Field(ge=0)
    amount: float = Field(gt=0, le=10_000_000)


class CreditCheckResult(BaseModel):
    score_band: Literal["A", "B", "C", "D"]
    debt_to_income_proxy: float
    rules_fired: list[str]


@register_tool(
    name="credit_check",
    args_schema=CreditCheckArgs,
    result_schema=CreditCheckResult,
    risk="low",
    side_effect=False,
    owner="credit-risk",
    description="Band the applicant's credit from bureau score and loan-to-income.",
)
def credit_check(args: CreditCheckArgs, grant: ExecutionGrant) -> CreditCheckResult:
    ratio = args.amount / args.annual_income if args.annual_income else 99.0
    fired: list[str] = []
    if args.credit_score >= 740 and ratio <= 3:
        band = "A"
        fired.append("R-BAND-A")
    elif args.credit_score >= 670 and ratio <= 4:
        band = "B"
        fired.append("R-BAND-B")
    elif args.credit_score >= 580:
        band = "C"
        fired.append("R-BAND-C")
    else:
        band = "D"
        fired.append("R-BAND-D")
    return CreditCheckResult(score_band=band, debt_to_income_proxy=round(ratio, 3), rules_fired=fired)


class LoanDecisionArgs(BaseModel):
    application_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=1000)


class LoanDecisionResult(BaseModel):
    application_id: str
    status: Literal["approved", "declined", "referred"]
    amount: float
    reference: str


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
    return LoanDecisionResult(
        application_id=args.application_id, status="approved", amount=args.amount, reference=grant.idempotency_key
    )


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
    return LoanDecisionResult(
        application_id=args.application_id, status="declined", amount=args.amount, reference=grant.idempotency_key
    )


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
    return LoanDecisionResult(
        application_id=args.application_id, status="referred", amount=args.amount, reference=grant.idempotency_key
    )


class NotifyArgs(BaseModel):
    applicant_id: str = Field(min_length=1, max_length=64)
    channel: Literal["email", "letter", "sms"] = "email"
    message: str = Field(min_length=1, max_length=2000)


class NotifyResult(BaseModel):
    delivered: bool
    channel: str


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
    return NotifyResult(delivered=True, channel=args.channel)
