"""Cargo claims: the policy lookup, the facts the ``claims`` ruleset reads, the payout formula (claims handbook
CH-5.1), and the actions: ``pay_claim`` and ``decline_claim`` (high risk: an approver confirms) and
``refer_to_adjuster`` (low risk: it only queues the case for a person).

Dates are compared with the claim's ``reported_on`` date, never the clock, so the same claim and the same
evidence always give the same facts.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools._settings import DATA_DIR
from tools.adapters import ActionReport, submit_action
from tools.extraction import ShipmentFacts
from tools.registry import ExecutionGrant, register_tool

DELAY_SHARE = 0.10
"""Delay payout: 10 % of the declared value (CH-4.3)."""


class CargoPolicy(BaseModel):
    policy_id: str
    holder: str
    start: str
    end: str
    limit: float
    deductible: float
    currency: str


@lru_cache(maxsize=1)
def _policies() -> dict[str, CargoPolicy]:
    data = json.loads((DATA_DIR / "cargo_policies.json").read_text())
    return {p["policy_id"]: CargoPolicy.model_validate(p) for p in data["policies"]}


class GetPolicyArgs(BaseModel):
    policy_id: str = Field(pattern=r"^[A-Z]{2}-\d{3,8}$")


class GetPolicyResult(BaseModel):
    found: bool
    policy: CargoPolicy | None = None


@register_tool(
    name="get_cargo_policy",
    args_schema=GetPolicyArgs,
    result_schema=GetPolicyResult,
    risk="low",
    side_effect=False,
    owner="claims-operations",
    version="1.0.0",
    description="Look up a cargo insurance policy: period, limit, deductible, currency.",
)
def get_cargo_policy(args: GetPolicyArgs, grant: ExecutionGrant) -> GetPolicyResult:
    policy = _policies().get(args.policy_id)
    return GetPolicyResult(found=policy is not None, policy=policy)


def _days(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return float((date.fromisoformat(later) - date.fromisoformat(earlier)).days)


def payout(claim: dict[str, Any], policy: CargoPolicy | None) -> float | None:
    """min(claimed, declared) (delay: 10 % of declared), capped at the limit, less the deductible (CH-5.1)."""
    if policy is None:
        return None
    declared = float(claim["declared_value"])
    base = DELAY_SHARE * declared if claim["claim_type"] == "delay" else min(float(claim["amount_claimed"]), declared)
    return round(min(base, policy.limit) - policy.deductible, 2)


def claim_facts(
    claim: dict[str, Any] | None,
    policy: CargoPolicy | None,
    shipment: ShipmentFacts | None,
    injection_suspected: bool,
    complete: bool,
) -> dict[str, Any]:
    """The ``claims`` ruleset's facts. Unknown evidence stays None: the rules decide what a gap means."""
    if not complete or claim is None:
        return {"complete": False}
    evidence = shipment is not None and shipment.status != "unknown"
    indicators: list[str] = []
    if shipment and shipment.collected_on and claim["incident_on"] < shipment.collected_on:
        indicators.append("incident before collection")
    if float(claim["amount_claimed"]) > float(claim["declared_value"]):
        indicators.append("amount claimed above declared value")
    in_period = None if policy is None else policy.start <= claim["incident_on"] <= policy.end
    return {
        "complete": True,
        "policy_found": policy is not None,
        "claim_type": claim["claim_type"],
        "evidence_available": evidence,
        "injection_suspected": injection_suspected,
        "carrier_status": shipment.status if shipment else None,
        "signed": bool(shipment and shipment.signed_by),
        "damaged_on_delivery": bool(shipment and shipment.damaged),
        "days_since_last_scan": _days(claim["reported_on"], shipment.last_scan_on) if shipment else None,
        "days_late": _days(shipment.delivered_on, shipment.promised_on) if shipment else None,
        "days_delivery_to_report": _days(claim["reported_on"], shipment.delivered_on) if shipment else None,
        "in_policy_period": in_period,
        "payout": payout(claim, policy),
        "fraud_indicators": indicators,
    }


class PayClaimArgs(BaseModel):
    claim_id: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=25_000)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str = Field(min_length=1, max_length=1000)
    rule_ids: list[str] = Field(default_factory=list, max_length=40)


class PayClaimResult(BaseModel):
    payment_id: str
    claim_id: str
    amount: float
    currency: str
    status: Literal["requested"] = Field(description="Payout requested; ``action.delivery`` says if it arrived.")
    action: ActionReport


@register_tool(
    name="pay_claim",
    args_schema=PayClaimArgs,
    result_schema=PayClaimResult,
    risk="high",
    side_effect=True,
    owner="claims-operations",
    version="1.0.0",
    description="Schedule a claim payout to the policyholder (moves money).",
)
def pay_claim(args: PayClaimArgs, grant: ExecutionGrant) -> PayClaimResult:
    payment_id = f"pay:{grant.idempotency_key}"
    payout = {
        "payment_id": payment_id,
        "claim_id": args.claim_id,
        "policy_id": args.policy_id,
        "amount": args.amount,
        "currency": args.currency,
        "reason": args.reason,
    }
    return PayClaimResult(
        payment_id=payment_id,
        claim_id=args.claim_id,
        amount=args.amount,
        currency=args.currency,
        status="requested",
        action=submit_action(grant, "pay_claim", payout),
    )


class ClaimDecisionArgs(BaseModel):
    claim_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=1000)
    rule_ids: list[str] = Field(default_factory=list, max_length=40)


class ClaimDecisionResult(BaseModel):
    claim_id: str
    status: Literal["declined", "referred"]
    reference: str
    action: ActionReport


def _decide_claim(tool: str, status: str, args: ClaimDecisionArgs, grant: ExecutionGrant) -> ClaimDecisionResult:
    decision = {"claim_id": args.claim_id, "status": status, "reason": args.reason, "rule_ids": args.rule_ids}
    return ClaimDecisionResult(
        claim_id=args.claim_id,
        status=status,  # type: ignore[arg-type]
        reference=grant.idempotency_key,
        action=submit_action(grant, tool, decision),
    )


@register_tool(
    name="decline_claim",
    args_schema=ClaimDecisionArgs,
    result_schema=ClaimDecisionResult,
    risk="high",
    side_effect=True,
    owner="claims-operations",
    version="1.0.0",
    description="Decline a claim and send the decision letter (customer-affecting).",
)
def decline_claim(args: ClaimDecisionArgs, grant: ExecutionGrant) -> ClaimDecisionResult:
    return _decide_claim("decline_claim", "declined", args, grant)


@register_tool(
    name="refer_to_adjuster",
    args_schema=ClaimDecisionArgs,
    result_schema=ClaimDecisionResult,
    risk="low",
    side_effect=True,
    owner="claims-operations",
    version="1.0.0",
    description="Put the claim in the adjusters' queue for a person to review.",
)
def refer_to_adjuster(args: ClaimDecisionArgs, grant: ExecutionGrant) -> ClaimDecisionResult:
    return _decide_claim("refer_to_adjuster", "referred", args, grant)
