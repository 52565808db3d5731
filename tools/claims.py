"""Cargo claims: the policy lookup, the facts the ``claims`` ruleset reads, the payout formula (claims handbook
CH-5.1), the proposed action, and the actions: ``pay_claim`` and ``decline_claim`` (high risk: an approver
confirms, unless the policy's straight-through tier lets a small carrier-confirmed payout run, CH-8) and
``refer_to_adjuster`` (low risk: it only queues the case for a person).

Dates are compared with the claim's ``reported_on`` date, never the clock, so the same claim and the same
evidence always give the same facts. Every threshold (notice periods, time bars, authority limits, the
straight-through cap) lives in the versioned ruleset ``tools/data/rules/claims.yaml``; the policy terms
(limit, deductible, delay share, currency, transport convention) live in ``tools/data/cargo_policies.json``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools._settings import DATA_DIR
from tools.adapters import ActionReport, submit_action
from tools.extraction import ShipmentFacts
from tools.registry import ExecutionGrant, register_tool

Convention = Literal["CMR", "MC99", "HVR"]
"""The liability regime of the carriage the policy covers: CMR (road), the Montreal Convention 1999 (air),
the Hague-Visby Rules (sea). It decides the notice periods and time bars (claims handbook CH-4.5)."""

EvidenceSource = Literal["carrier_api", "carrier_page", "model", "none"]
"""Where the carrier facts came from: the carrier's API, the labelled fields of its page read by rules, a
model reading the page (grounded, but never the sole basis of a payout without a person, CH-8), or nothing."""


class CargoPolicy(BaseModel):
    policy_id: str
    holder: str
    holder_id: str
    start: str
    end: str
    limit: float
    deductible: float
    currency: str
    convention: Convention | None = None
    delay_share: float = Field(default=0.0, ge=0, le=1)
    """The share of the declared value a covered delay pays (CH-4.3): a term of the policy, not of the code."""


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
    version="1.1.0",
    description="Look up a cargo insurance policy: holder, period, limit, deductible, currency, convention.",
)
def get_cargo_policy(args: GetPolicyArgs, grant: ExecutionGrant) -> GetPolicyResult:
    policy = _policies().get(args.policy_id)
    return GetPolicyResult(found=policy is not None, policy=policy)


def _days(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return float((date.fromisoformat(later) - date.fromisoformat(earlier)).days)


def _days_without_sundays(later: str | None, earlier: str | None) -> float | None:
    """Days after ``earlier`` up to ``later``, Sundays not counted (CMR art. 30(1)). Public holidays are not
    known here: they can only lengthen the period, and a decline for late notice is confirmed by a person."""
    if not later or not earlier:
        return None
    start, end = date.fromisoformat(earlier), date.fromisoformat(later)
    if end <= start:
        return float((end - start).days)
    return float(sum(1 for i in range(1, (end - start).days + 1) if (start + timedelta(days=i)).weekday() != 6))


def payout(claim: dict[str, Any], policy: CargoPolicy | None) -> float | None:
    """The smaller of the amount claimed and the declared value (delay: the policy's delay share of the declared
    value, and never more than claimed), capped at the policy limit, less the deductible (CH-5.1)."""
    if policy is None:
        return None
    declared, claimed = float(claim["declared_value"]), float(claim["amount_claimed"])
    base = policy.delay_share * declared if claim["claim_type"] == "delay" else declared
    return round(min(base, claimed, policy.limit) - policy.deductible, 2)


def _date_conflicts(claim: dict[str, Any], s: ShipmentFacts | None) -> list[str]:
    """Dates that cannot all be true (CH-2.4); each names the fields, so the adjuster knows what to ask."""
    pairs: list[tuple[str, str | None, str, str | None]] = [
        ("reported_on", claim.get("reported_on"), "incident_on", claim.get("incident_on"))
    ]
    if s is not None:
        pairs += [
            ("shipment.delivered_on", s.delivered_on, "shipment.collected_on", s.collected_on),
            ("shipment.last_scan_on", s.last_scan_on, "shipment.collected_on", s.collected_on),
            ("shipment.promised_on", s.promised_on, "shipment.collected_on", s.collected_on),
        ]
        if claim["claim_type"] in ("damage", "delay"):
            pairs.append(("reported_on", claim.get("reported_on"), "shipment.delivered_on", s.delivered_on))
        if claim["claim_type"] in ("damage", "loss"):
            pairs.append(("shipment.delivered_on", s.delivered_on, "incident_on", claim.get("incident_on")))
    return [f"{a} ({va}) is before {b} ({vb})" for a, va, b, vb in pairs if va and vb and va < vb]


def _missing_evidence(claim: dict[str, Any], policy: CargoPolicy | None, s: ShipmentFacts | None) -> list[str]:
    """Fields a rule needs that the policy or the carrier did not give: named, never defaulted (CH-2.5)."""
    missing: list[str] = []
    if policy is not None and policy.convention is None:
        missing.append("policy.convention")
    if s is not None and s.status == "delivered" and claim["claim_type"] in ("damage", "delay"):
        if not s.delivered_on:
            missing.append("shipment.delivered_on")
        if claim["claim_type"] == "delay" and not s.promised_on:
            missing.append("shipment.promised_on")
    return missing


def _duplicates(claim: dict[str, Any]) -> list[str]:
    """Earlier claims on the same policy, shipment and incident date (CH-7.2), from the claim history the
    claims system sends with the claim."""
    number = claim["shipment"]["tracking_number"]
    return [
        p["claim_id"]
        for p in claim.get("prior_claims") or []
        if p["claim_id"] != claim["claim_id"]
        and (p["policy_id"], p["tracking_number"], p["incident_on"])
        == (claim["policy_id"], number, claim["incident_on"])
    ]


def _limitation_start(claim: dict[str, Any], s: ShipmentFacts | None) -> str | None:
    """When the limitation period starts (CH-4.6): delivery for damage and delay; for a loss the day the goods
    should have arrived (the promised date), else the incident date."""
    if s is None:
        return None
    if claim["claim_type"] == "loss":
        return s.promised_on or claim.get("incident_on")
    return s.delivered_on


def claim_facts(
    claim: dict[str, Any] | None,
    policy: CargoPolicy | None,
    shipment: ShipmentFacts | None,
    injection_suspected: bool,
    complete: bool,
    evidence_source: str = "none",
) -> dict[str, Any]:
    """The ``claims`` ruleset's facts. Unknown evidence stays None: the rules decide what a gap means."""
    if not complete or claim is None:
        return {"complete": False}
    evidence = shipment is not None and shipment.status != "unknown"
    s = shipment if evidence else None
    indicators: list[str] = []
    if s and s.collected_on and claim["incident_on"] < s.collected_on:
        indicators.append("incident before collection")
    if float(claim["amount_claimed"]) > float(claim["declared_value"]):
        indicators.append("amount claimed above declared value")
    in_period = None if policy is None else policy.start <= claim["incident_on"] <= policy.end
    delivered_on = s.delivered_on if s else None
    return {
        "complete": True,
        "policy_found": policy is not None,
        "claim_type": claim["claim_type"],
        "evidence_available": evidence,
        "evidence_source": evidence_source if evidence else "none",
        "injection_suspected": injection_suspected,
        "carrier_status": s.status if s else None,
        "signed": bool(s and s.signed_by),
        "damaged_on_delivery": bool(s and s.damaged),
        "days_since_last_scan": _days(claim["reported_on"], s.last_scan_on) if s else None,
        "days_late": _days(delivered_on, s.promised_on) if s else None,
        "days_delivery_to_report": _days(claim["reported_on"], delivered_on),
        "days_delivery_to_report_no_sundays": _days_without_sundays(claim["reported_on"], delivered_on),
        "days_to_report_from_limitation_start": _days(claim["reported_on"], _limitation_start(claim, s)),
        "convention": policy.convention if policy else None,
        "policy_currency": policy.currency if policy else None,
        "currency_matches": None if policy is None else claim["currency"] == policy.currency,
        "claimant_is_holder": None if policy is None else claim["claimant_id"] == policy.holder_id,
        "duplicate": bool(_duplicates(claim)),
        "date_conflicts": _date_conflicts(claim, s),
        "missing_evidence": _missing_evidence(claim, policy, s),
        "in_policy_period": in_period,
        "payout": payout(claim, policy),
        "fraud_indicators": indicators,
    }


def _details(claim: dict[str, Any], policy: CargoPolicy | None, facts: dict[str, Any]) -> list[str]:
    """What a person needs beside the rule ids: the fields in conflict or missing, the duplicates, the
    currencies. Written by rules from the facts, never by a model."""
    out = [f"date conflict: {c}" for c in facts.get("date_conflicts") or []]
    out += [f"missing: {m}" for m in facts.get("missing_evidence") or []]
    dupes = _duplicates(claim) if facts.get("complete") else []
    if dupes:
        out.append(f"earlier claim(s) on the same policy, shipment and incident: {', '.join(dupes)}")
    if policy is not None and facts.get("currency_matches") is False:
        out.append(f"claim currency {claim['currency']} differs from the policy currency {policy.currency}")
    if policy is not None and facts.get("claimant_is_holder") is False:
        out.append(f"claimant {claim['claimant_id']} is not the policyholder {policy.holder_id}")
    return out


def assess(
    claim: dict[str, Any],
    policy: CargoPolicy | None,
    shipment: ShipmentFacts | None,
    *,
    injection_suspected: bool = False,
    evidence_source: str = "none",
    complete: bool = True,
) -> dict[str, Any]:
    """The claims rules applied to one claim: the outcome, the fired rules with reasons and citations, the
    payout, and the details a person needs. The graph and the suites' unit check both decide through this."""
    from tools.rules import load_ruleset

    facts = claim_facts(claim, policy, shipment, injection_suspected, complete, evidence_source)
    verdict = load_ruleset("claims").evaluate(facts)
    return {
        "outcome": verdict.outcome,
        "rules_fired": verdict.fired_ids,
        "reasons": verdict.reasons(),
        "citations": verdict.citations,
        "ruleset": f"claims@{verdict.version}",
        "facts": facts,
        "details": _details(claim, policy, facts) if complete else [],
        "payout": facts.get("payout"),
        "currency": policy.currency if policy else claim.get("currency"),
        "errors": verdict.errors,
    }


def proposed_action(claim: dict[str, Any], assessment: dict[str, Any], call_id: str) -> dict[str, Any]:
    """The one action the rules' outcome calls for, with the evidence the policy's straight-through rule
    reads carried as schema-validated arguments (rule ids, evidence source, amounts), never as free text."""
    reason = "; ".join(assessment["reasons"] + assessment.get("details", []))[:1000] or "no coverage rule applied"
    base = {"claim_id": claim["claim_id"], "reason": reason, "rule_ids": assessment["rules_fired"]}
    if assessment["outcome"] == "pay":
        args = {
            **base,
            "policy_id": claim["policy_id"],
            "amount": assessment["payout"],
            "amount_claimed": float(claim["amount_claimed"]),
            "currency": assessment["currency"],
            "evidence": assessment["facts"].get("evidence_source") or "none",
        }
        return {"id": f"{call_id}-pay_claim", "name": "pay_claim", "args": args}
    if assessment["outcome"] == "decline":
        return {"id": f"{call_id}-decline_claim", "name": "decline_claim", "args": base}
    return {"id": f"{call_id}-refer_to_adjuster", "name": "refer_to_adjuster", "args": base}


class PayClaimArgs(BaseModel):
    claim_id: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0, le=1_000_000)
    amount_claimed: float | None = Field(default=None, gt=0, le=1_000_000)
    """What the claimant asked for: the payout may never exceed it, also after an approver's edit (CH-5.1)."""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    evidence: EvidenceSource = "none"
    """Where the carrier facts came from; the straight-through rule needs ``carrier_api`` (CH-8)."""
    reason: str = Field(min_length=1, max_length=1000)
    rule_ids: list[str] = Field(default_factory=list, max_length=40)

    @model_validator(mode="after")
    def _not_above_claimed(self) -> PayClaimArgs:
        if self.amount_claimed is not None and self.amount > self.amount_claimed:
            raise ValueError(f"amount {self.amount} is above the amount claimed {self.amount_claimed}")
        return self


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
    version="1.1.0",
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
