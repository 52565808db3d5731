"""The claims suites written from the claims handbook, not from the code: ``evals/suites/claims_handbook.jsonl``
(every threshold below, at and above it, per convention and currency), ``evals/suites/claims_traffic.jsonl``
(a realistic case mix, see ``evals/README.md``), and the carrier records the demo carrier serves for them
(``tools/data/demo_shipments_claims.json``).

Method: each case is built from one handbook section. The generator sets the claim, picks a policy from
``tools/data/cargo_policies.json`` (the contract: holder, currency, convention, limit, deductible) and writes
the carrier's record so that the section's text decides the case; the expected outcome is written from that
text: the decision, the payout by CH-5.1's formula computed here, and whether a person is asked (CH-6, CH-8).
The thresholds below are copied from the handbook's text with their sections; this module imports neither
the rules engine nor the rulesets, so a moved threshold in ``claims.yaml`` fails a case instead of moving the
expectation with it. ``write_claims_suites()`` regenerates the files; a unit test checks they are current.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
SUITES = ROOT / "evals" / "suites"
SHIPMENTS_FILE = ROOT / "tools" / "data" / "demo_shipments_claims.json"
POLICIES_FILE = ROOT / "tools" / "data" / "cargo_policies.json"
SEED = 20261201
REPORTED = date(2026, 10, 20)
"""Most claims are reported on this day (a Tuesday); the carrier's dates are set relative to it."""

# Thresholds as the handbook states them (section in the comment), independent of tools/data/rules/claims.yaml.
NOTICE_DAMAGE = {"CMR": 7, "MC99": 14, "HVR": 3}  # CH-4.5 (CMR art. 30(1) without Sundays, MC99 31(2), HV III(6))
NOTICE_DELAY = 21  # CH-4.3 / CH-4.5: CMR art. 30(3), MC99 art. 31(2)
TIME_BAR = {"CMR": 365, "MC99": 730, "HVR": 365}  # CH-4.6 (CMR art. 32(1), MC99 art. 35, HV art. III(6))
CMR_LOSS_EXTRA = 30  # CH-4.6: CMR art. 32(1)(b), from the 30th day after the promised date
LOSS_NO_SCAN_DAYS = 14  # CH-4.1
DELAY_TOLERANCE = 5  # CH-4.3
LARGE = {"EUR": 10000, "GBP": 8500, "USD": 11000, "SEK": 110000}  # CH-5.2
STP_CAP = {"EUR": 2500, "GBP": 2000, "USD": 2700, "SEK": 25000}  # CH-8
HB = "claims-handbook"


def _policies() -> dict[str, dict[str, Any]]:
    return {p["policy_id"]: p for p in json.loads(POLICIES_FILE.read_text())["policies"]}


def _d(days_before: int, base: date = REPORTED) -> str:
    return (base - timedelta(days=days_before)).isoformat()


def _calendar_minus_sundays(start: date, days_without_sundays: int) -> date:
    """The date ``days_without_sundays`` days after ``start``, Sundays not counted (CMR art. 30(1))."""
    d, n = start, 0
    while n < days_without_sundays:
        d += timedelta(days=1)
        if d.weekday() != 6:
            n += 1
    return d


def handbook_payout(claim: dict[str, Any], policy: dict[str, Any]) -> float:
    """CH-5.1: the smallest of claimed, declared (delay: the policy's delay share of declared) and the limit,
    less the deductible."""
    declared, claimed = float(claim["declared_value"]), float(claim["amount_claimed"])
    base = float(policy["delay_share"]) * declared if claim["claim_type"] == "delay" else declared
    return round(min(base, claimed, float(policy["limit"])) - float(policy["deductible"]), 2)


class _Builder:
    """Collects cases and the carrier records they need; numbers shipments ``<prefix>-0001``..."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.cases: list[dict[str, Any]] = []
        self.records: dict[str, dict[str, Any]] = {}
        self.policies = _policies()

    def add(
        self,
        kind: str,
        cites: list[str],
        description: str,
        claim: dict[str, Any],
        record: dict[str, Any] | None,
        decision: str,
        *,
        stp: bool = False,
        carrier: str = "demo-api",
        tags: list[str] | None = None,
    ) -> None:
        """``decision``: paid | declined | referred | incomplete; ``stp``: the payout runs without a person."""
        n = len(self.cases) + 1
        cid = f"{self.prefix}-{n:03d}"
        number = f"{self.prefix}-{n:04d}"
        policy_id = claim.pop("policy_id", "CP-1001")
        policy = self.policies.get(policy_id)
        body: dict[str, Any] = {
            "claim_id": cid,
            "policy_id": policy_id,
            "claimant_id": policy["holder_id"] if policy else f"PH-{policy_id[3:]}",
            "shipment": {"carrier": carrier, "tracking_number": number},
            "currency": policy["currency"] if policy else "EUR",
            "reported_on": REPORTED.isoformat(),
            **claim,
        }
        body = {k: v for k, v in body.items() if v is not None}
        for prior in body.get("prior_claims", []):
            prior.setdefault("tracking_number", number)
        if record is not None:
            self.records[number] = record
        action = {"paid": "pay_claim", "declined": "decline_claim", "referred": "refer_to_adjuster"}.get(decision)
        asked = decision in ("paid", "declined") and not stp
        outcome: dict[str, Any] = {"decision": decision}
        if decision in ("paid", "declined"):
            outcome["decided_by"] = "rules" if stp else "eval-approver"
        if decision == "paid" and policy is not None:
            outcome["payout"] = handbook_payout(body, policy)
        expected: dict[str, Any] = {
            "outcome": outcome,
            "trajectory": ["track_shipment", "get_cargo_policy", action] if action else [],
            "trajectory_mode": "unordered",
            "approvals": [{"tool": action, "required_role": "approver"}] if asked else [],
            "guard_blocks": [],
        }
        self.cases.append(
            {
                "id": f"{cid}-{kind}",
                "description": description,
                "cites": cites,
                "tags": [kind.split("-")[0], *(tags or []), *(["stp"] if stp else [])],
                "input": {"claim": body},
                "decisions": {action: "approve"} if asked and action else {},
                "expected": expected,
            }
        )


# -- carrier records --------------------------------------------------------------------------------------------


def delivered(day: date, *, damaged: bool = False, promised: date | None = None, status: str | None = None) -> dict:
    rec: dict[str, Any] = {
        "status": status or ("Delivered - damaged" if damaged else "Delivered"),
        "delivered_at": day.isoformat(),
        "promised_date": (promised or day).isoformat(),
        "last_scan_at": day.isoformat(),
        "collected_at": (min(day, promised or day) - timedelta(days=4)).isoformat(),
        "signed_by": "R. Keller",
    }
    if damaged:
        rec["exception"] = "Damaged in handling"
    return rec


def lost(scan: date, *, promised: date | None = None, status: str = "Lost in network") -> dict[str, Any]:
    rec = {"status": status, "last_scan_at": scan.isoformat(), "collected_at": (scan - timedelta(days=4)).isoformat()}
    if promised is not None:
        rec["promised_date"] = promised.isoformat()
    return rec


def _day(days_before: int) -> date:
    return REPORTED - timedelta(days=days_before)


# -- the handbook suite -------------------------------------------------------------------------------------------


def _currency_and_claimant(b: _Builder) -> None:
    for pid in ("CP-1001", "CP-2001", "CP-2002", "CP-2003", "CP-2008"):
        cur = b.policies[pid]["currency"]
        claimed = 800 + int(b.policies[pid]["deductible"])
        b.add(
            "currency-match",
            [f"{HB}#CH-2.2", f"{HB}#CH-4.1", f"{HB}#CH-8"],
            f"Carrier-confirmed loss of {claimed} {cur} on a {cur} policy, small: paid straight through.",
            {
                "policy_id": pid,
                "claim_type": "loss",
                "amount_claimed": claimed,
                "declared_value": claimed + 100,
                "incident_on": _d(10),
            },
            lost(_day(10)),
            "paid",
            stp=True,
        )
    for pid, cur in [
        ("CP-1001", "GBP"),
        ("CP-2001", "EUR"),
        ("CP-2002", "EUR"),
        ("CP-2003", "USD"),
        ("CP-1002", "SEK"),
    ]:
        b.add(
            "currency-mismatch",
            [f"{HB}#CH-2.2"],
            f"Claim in {cur} on a {b.policies[pid]['currency']} policy: not converted, referred.",
            {
                "policy_id": pid,
                "currency": cur,
                "claim_type": "loss",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": _d(10),
            },
            lost(_day(10)),
            "referred",
        )
    b.add(
        "currency-no-limits",
        [f"{HB}#CH-5.2"],
        "CHF policy, CHF claim: the handbook sets no authority limits in CHF, so a person decides.",
        {
            "policy_id": "CP-2011",
            "claim_type": "loss",
            "amount_claimed": 900,
            "declared_value": 1000,
            "incident_on": _d(10),
        },
        lost(_day(10)),
        "referred",
    )
    for claimant, who in [
        ("CN-4410", "the consignee"),
        ("PH-1002", "the holder of another policy"),
        ("FW-88", "the forwarder"),
    ]:
        b.add(
            "claimant-not-holder",
            [f"{HB}#CH-2.3"],
            f"Claim made by {who}, not the policyholder: insurable interest is checked by a person.",
            {
                "policy_id": "CP-1001",
                "claimant_id": claimant,
                "claim_type": "loss",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": _d(10),
            },
            lost(_day(10)),
            "referred",
        )


def _dates(b: _Builder) -> None:
    b.add(
        "dates-reported-before-incident",
        [f"{HB}#CH-2.4"],
        "Reported on 2026-10-20 for an incident on 2026-10-22: dates conflict, referred naming the fields.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": "2026-10-22"},
        lost(_day(10)),
        "referred",
    )
    rec = delivered(_day(3), damaged=True)
    rec["collected_at"] = _d(1)
    b.add(
        "dates-delivered-before-collected",
        [f"{HB}#CH-2.4"],
        "The carrier shows delivery before collection: dates conflict, referred.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(3)},
        rec,
        "referred",
    )
    b.add(
        "dates-reported-before-delivery",
        [f"{HB}#CH-2.4"],
        "Damage reported 2026-10-20 on a delivery the carrier dates 2026-10-22: referred.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(5)},
        delivered(REPORTED + timedelta(days=2), damaged=True),
        "referred",
    )
    b.add(
        "dates-damage-after-delivery",
        [f"{HB}#CH-2.4"],
        "Damage dated two days after the delivery: not damage in transit as claimed, referred.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(2)},
        delivered(_day(4), damaged=True),
        "referred",
    )
    rec = delivered(_day(3), promised=_day(12))
    rec["collected_at"] = _d(9)
    b.add(
        "dates-promised-before-collected",
        [f"{HB}#CH-2.4"],
        "Delay claim where the carrier's promised date precedes its collection date: referred.",
        {"claim_type": "delay", "amount_claimed": 500, "declared_value": 3000, "incident_on": _d(3)},
        rec,
        "referred",
    )
    rec = lost(_day(10))
    rec["last_scan_at"] = _d(16)
    b.add(
        "dates-scan-before-collected",
        [f"{HB}#CH-2.4"],
        "Last scan six days before the collection the carrier records: referred.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(10)},
        rec,
        "referred",
    )


def _missing(b: _Builder) -> None:
    base = {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(10)}
    for field in ("amount_claimed", "declared_value", "currency", "incident_on", "reported_on"):
        b.add(
            f"missing-{field.replace('_', '-')}",
            [f"{HB}#CH-2"],
            f"The claim does not state {field}: returned naming it, nothing fetched or assumed.",
            {**base, field: None},
            None,
            "incomplete",
        )
    b.add(
        "missing-convention",
        [f"{HB}#CH-2.5", f"{HB}#CH-4.5"],
        "The policy names no transport convention, so no notice period can be checked: referred naming it.",
        {
            "policy_id": "CP-2009",
            "claim_type": "damage",
            "amount_claimed": 900,
            "declared_value": 1000,
            "incident_on": _d(3),
        },
        delivered(_day(3), damaged=True),
        "referred",
    )
    rec = delivered(_day(3))
    del rec["delivered_at"]
    b.add(
        "missing-delivery-date",
        [f"{HB}#CH-2.5", f"{HB}#CH-4.2"],
        "Delivered, but the carrier gives no delivery date: the notice period cannot be checked, referred.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(3)},
        rec,
        "referred",
    )
    rec = delivered(_day(3))
    del rec["promised_date"]
    b.add(
        "missing-promised-date",
        [f"{HB}#CH-2.5", f"{HB}#CH-4.3"],
        "Delay claimed but the carrier gives no promised date: referred.",
        {"claim_type": "delay", "amount_claimed": 500, "declared_value": 3000, "incident_on": _d(3)},
        rec,
        "referred",
    )


def _notice(b: _Builder) -> None:
    # Damage not noted at delivery, reported by the claimant: paid after approval within the notice, else declined.
    delivered_on = date(2026, 10, 5)  # a Monday
    for pid, conv in [
        ("CP-1001", "CMR"),
        ("CP-2008", "CMR"),
        ("CP-2004", "MC99"),
        ("CP-2006", "MC99"),
        ("CP-2005", "HVR"),
        ("CP-2003", "HVR"),
    ]:
        limit = NOTICE_DAMAGE[conv]
        for offset, label in [(-1, "below"), (0, "at"), (1, "above")]:
            days = limit + offset
            reported = (
                _calendar_minus_sundays(delivered_on, days) if conv == "CMR" else delivered_on + timedelta(days=days)
            )
            b.add(
                f"notice-damage-{conv.lower()}-{label}",
                [f"{HB}#CH-4.2", f"{HB}#CH-4.5"],
                f"{conv}: damage found after a clean delivery, reported {days} days"
                f"{' (Sundays not counted)' if conv == 'CMR' else ''} after delivery; the limit is {limit}.",
                {
                    "policy_id": pid,
                    "claim_type": "damage",
                    "amount_claimed": 900 + int(b.policies[pid]["deductible"]),
                    "declared_value": 2000,
                    "incident_on": delivered_on.isoformat(),
                    "reported_on": reported.isoformat(),
                },
                delivered(delivered_on),
                "paid" if days <= limit else "declined",
            )
    # A CMR report 9 calendar days after delivery that spans a Sunday is 8 days without Sundays: too late;
    # 8 calendar days spanning one Sunday is 7: in time.
    for calendar_days, decision in [(8, "paid"), (9, "declined")]:
        b.add(
            "notice-damage-cmr-sunday",
            [f"{HB}#CH-4.5"],
            f"CMR: reported {calendar_days} calendar days after a Monday delivery, one Sunday between.",
            {
                "policy_id": "CP-1003",
                "claim_type": "damage",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": delivered_on.isoformat(),
                "reported_on": (delivered_on + timedelta(days=calendar_days)).isoformat(),
            },
            delivered(delivered_on),
            decision,
        )
    # Damage the carrier recorded at delivery needs no notice (a reservation at delivery, CH-4.2).
    for pid in ("CP-1004", "CP-2004", "CP-2005"):
        b.add(
            "notice-damage-recorded",
            [f"{HB}#CH-4.2", f"{HB}#CH-8"],
            "Damage recorded by the carrier at delivery, reported 30 days later: no notice period applies.",
            {
                "policy_id": pid,
                "claim_type": "damage",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": _d(30),
            },
            delivered(_day(30), damaged=True),
            "paid",
            stp=True,
        )
    # Delay: 21 days under CMR and Montreal; no delay regime by sea.
    for pid, conv in [("CP-1005", "CMR"), ("CP-2002", "MC99")]:
        for days, decision in [(20, "paid"), (21, "paid"), (22, "declined")]:
            b.add(
                f"notice-delay-{conv.lower()}",
                [f"{HB}#CH-4.3", f"{HB}#CH-4.5"] + ([f"{HB}#CH-8"] if decision == "paid" else []),
                f"{conv}: delivered 8 days late, the delay reported {days} days after delivery (limit 21).",
                {
                    "policy_id": pid,
                    "claim_type": "delay",
                    "amount_claimed": 500,
                    "declared_value": 4000,
                    "incident_on": _d(days),
                },
                delivered(_day(days), promised=_day(days + 8)),
                decision,
                stp=decision == "paid",
            )
    for pid in ("CP-2003", "CP-2007"):
        b.add(
            "notice-delay-sea",
            [f"{HB}#CH-4.3"],
            "Delay by sea (Hague-Visby): no delay regime, referred to an adjuster.",
            {
                "policy_id": pid,
                "claim_type": "delay",
                "amount_claimed": 500,
                "declared_value": 4000,
                "incident_on": _d(4),
            },
            delivered(_day(4), promised=_day(14)),
            "referred",
        )


def _time_bars(b: _Builder) -> None:
    start = date(2025, 2, 3)
    for pid, conv in [("CP-2010", "CMR"), ("CP-2006", "MC99"), ("CP-2012", "HVR")]:
        limit = TIME_BAR[conv]
        for offset in (-1, 0, 1):
            days = limit + offset
            b.add(
                f"time-bar-{conv.lower()}",
                [f"{HB}#CH-4.6"] + ([f"{HB}#CH-8"] if offset <= 0 else []),
                f"{conv}: damage recorded at delivery on {start}, claim reported {days} days later (bar: {limit}).",
                {
                    "policy_id": pid,
                    "claim_type": "damage",
                    "amount_claimed": 900,
                    "declared_value": 1000,
                    "incident_on": start.isoformat(),
                    "reported_on": (start + timedelta(days=days)).isoformat(),
                },
                delivered(start, damaged=True),
                "paid" if offset <= 0 else "declined",
                stp=offset <= 0,
            )
    promised = date(2025, 3, 3)
    for offset in (-1, 0, 1):
        days = TIME_BAR["CMR"] + CMR_LOSS_EXTRA + offset
        b.add(
            "time-bar-cmr-loss",
            [f"{HB}#CH-4.6"] + ([f"{HB}#CH-8"] if offset <= 0 else []),
            f"CMR: total loss, promised for {promised}; reported {days} days after (bar: 365 + 30).",
            {
                "policy_id": "CP-2010",
                "claim_type": "loss",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": (promised - timedelta(days=2)).isoformat(),
                "reported_on": (promised + timedelta(days=days)).isoformat(),
            },
            lost(promised - timedelta(days=2), promised=promised),
            "paid" if offset <= 0 else "declined",
            stp=offset <= 0,
        )


def _coverage(b: _Builder) -> None:
    for days, decision in [
        (LOSS_NO_SCAN_DAYS - 1, "referred"),
        (LOSS_NO_SCAN_DAYS, "referred"),
        (LOSS_NO_SCAN_DAYS + 1, "paid"),
    ]:
        b.add(
            "loss-no-scan",
            [f"{HB}#CH-4.1"],
            f"Loss claimed, in transit with no scan for {days} days (covered after more than 14): "
            f"{'paid after approval (an inference, not a carrier record)' if decision == 'paid' else 'too early'}.",
            {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(days)},
            lost(_day(days), status="In transit"),
            decision,
        )
    for late, decision in [
        (DELAY_TOLERANCE - 1, "declined"),
        (DELAY_TOLERANCE, "declined"),
        (DELAY_TOLERANCE + 1, "paid"),
    ]:
        b.add(
            "delay-tolerance",
            [f"{HB}#CH-4.3"] + ([f"{HB}#CH-8"] if decision == "paid" else []),
            f"Delivered {late} days after the promised date (covered above 5).",
            {
                "policy_id": "CP-1006",
                "claim_type": "delay",
                "amount_claimed": 500,
                "declared_value": 3000,
                "incident_on": _d(3),
            },
            delivered(_day(3), promised=_day(3 + late)),
            decision,
            stp=decision == "paid",
        )
    b.add(
        "loss-but-delivered",
        [f"{HB}#CH-4.4"],
        "Loss claimed on a shipment the carrier shows delivered and signed for: contradiction, referred.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(5)},
        delivered(_day(5)),
        "referred",
    )
    b.add(
        "out-of-period",
        [f"{HB}#CH-4.4"],
        "Incident in 2026 on a policy that ended on 2025-12-31: proposed for decline.",
        {
            "policy_id": "CP-1008",
            "claim_type": "loss",
            "amount_claimed": 900,
            "declared_value": 1000,
            "incident_on": _d(10),
        },
        lost(_day(10)),
        "declined",
    )


def _status_vocabulary(b: _Builder) -> None:
    b.add(
        "status-not-delivered-damage",
        [f"{HB}#CH-3.5", f"{HB}#CH-4.4"],
        "Damage claimed, carrier says 'Not delivered': not a delivery, so referred.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(3)},
        {"status": "Not delivered", "last_scan_at": _d(3), "collected_at": _d(8)},
        "referred",
    )
    b.add(
        "status-not-delivered-loss",
        [f"{HB}#CH-3.5", f"{HB}#CH-4.1"],
        "Loss claimed, carrier says 'Not delivered' with no scan for 20 days: a covered loss, after approval.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(20)},
        {"status": "Not delivered", "last_scan_at": _d(20), "collected_at": _d(25)},
        "paid",
    )
    b.add(
        "status-delivery-failed",
        [f"{HB}#CH-3.5", f"{HB}#CH-4.1"],
        "Loss claimed, carrier says 'Delivery failed' 3 days ago: not yet overdue, referred.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(3)},
        {"status": "Delivery failed", "last_scan_at": _d(3), "collected_at": _d(8)},
        "referred",
    )
    rec = delivered(_day(4), damaged=True, status="DELIVERED_DAMAGED")
    b.add(
        "status-delivered-damaged-code",
        [f"{HB}#CH-3.5", f"{HB}#CH-4.2", f"{HB}#CH-8"],
        "The carrier API's code DELIVERED_DAMAGED is a delivery with damage recorded: paid straight through.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(4)},
        rec,
        "paid",
        stp=True,
    )
    b.add(
        "status-unknown-phrase",
        [f"{HB}#CH-3.4", f"{HB}#CH-3.5"],
        "The carrier's status 'Parcel resting at depot' is not in the vocabulary: never guessed, referred.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(20)},
        {"status": "Parcel resting at depot", "last_scan_at": _d(20), "collected_at": _d(25)},
        "referred",
    )
    b.add(
        "status-unknown-tracking",
        [f"{HB}#CH-3.4"],
        "The carrier does not know the tracking number: no evidence, referred.",
        {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(10)},
        None,
        "referred",
    )


def _payouts(b: _Builder) -> None:
    for pid in ("CP-1007", "CP-2001", "CP-2002", "CP-2003"):
        p = b.policies[pid]
        cur, ded = p["currency"], int(p["deductible"])
        for offset in (0, 1):
            payout = LARGE[cur] + offset
            b.add(
                "large-claim",
                [f"{HB}#CH-5.2"],
                f"Carrier-confirmed loss, payout {payout} {cur} (large-claim limit {LARGE[cur]}).",
                {
                    "policy_id": pid,
                    "claim_type": "loss",
                    "amount_claimed": payout + ded,
                    "declared_value": payout + ded + 500,
                    "incident_on": _d(10),
                },
                lost(_day(10)),
                "paid" if offset == 0 else "referred",
            )
        for offset in (0, 1):
            payout = STP_CAP[cur] + offset
            b.add(
                "stp-cap",
                [f"{HB}#CH-8", f"{HB}#CH-5.1"],
                f"Carrier-confirmed loss via the API, payout {payout} {cur} (straight-through cap {STP_CAP[cur]}).",
                {
                    "policy_id": pid,
                    "claim_type": "loss",
                    "amount_claimed": payout + ded,
                    "declared_value": payout + ded,
                    "incident_on": _d(10),
                },
                lost(_day(10)),
                "paid",
                stp=offset == 0,
            )
    b.add(
        "payout-delay-capped-by-claim",
        [f"{HB}#CH-5.1", f"{HB}#CH-4.3"],
        "Delay: 10 % of 9,000 declared is 900, but 500 was claimed: 500 less the deductible is paid.",
        {"claim_type": "delay", "amount_claimed": 500, "declared_value": 9000, "incident_on": _d(3)},
        delivered(_day(3), promised=_day(12)),
        "paid",
        stp=True,
    )
    b.add(
        "payout-delay-share",
        [f"{HB}#CH-5.1", f"{HB}#CH-4.3"],
        "Delay: 10 % of 2,000 declared (200) is below the 500 claimed: 200 less the deductible is paid.",
        {"claim_type": "delay", "amount_claimed": 500, "declared_value": 2000, "incident_on": _d(3)},
        delivered(_day(3), promised=_day(12)),
        "paid",
        stp=True,
    )
    b.add(
        "payout-claimed-below-declared",
        [f"{HB}#CH-5.1", f"{HB}#CH-8"],
        "Damage recorded at delivery: 700 claimed on goods declared at 1,000, so 700 less the deductible is paid.",
        {"claim_type": "damage", "amount_claimed": 700, "declared_value": 1000, "incident_on": _d(3)},
        delivered(_day(3), damaged=True),
        "paid",
        stp=True,
    )
    for claimed, decision in [(100, "declined"), (101, "paid")]:
        b.add(
            "payout-deductible",
            [f"{HB}#CH-5.1"] + ([f"{HB}#CH-8"] if decision == "paid" else []),
            f"Carrier-confirmed loss of {claimed} against a 100 deductible.",
            {"claim_type": "loss", "amount_claimed": claimed, "declared_value": 500, "incident_on": _d(10)},
            lost(_day(10)),
            decision,
            stp=decision == "paid",
        )
    b.add(
        "payout-limit",
        [f"{HB}#CH-5.1", f"{HB}#CH-5.2"],
        "GBP policy limit 20,000 caps a 25,000 claim; 19,900 is above the GBP large-claim limit: referred.",
        {
            "policy_id": "CP-2001",
            "claim_type": "loss",
            "amount_claimed": 25000,
            "declared_value": 30000,
            "incident_on": _d(10),
        },
        lost(_day(10)),
        "referred",
    )
    b.add(
        "conflict-claimed-above-declared",
        [f"{HB}#CH-7"],
        "Claimed 1,400 on goods declared at 1,000: a fraud indicator, referred (not declined for it alone).",
        {"claim_type": "loss", "amount_claimed": 1400, "declared_value": 1000, "incident_on": _d(10)},
        lost(_day(10)),
        "referred",
    )


def _duplicates(b: _Builder) -> None:
    def prior(incident: str, **kw: Any) -> dict[str, Any]:
        return {"claim_id": "CLM-PRIOR-1", "policy_id": "CP-1001", "incident_on": incident, "claim_type": "loss", **kw}

    claim = {"claim_type": "loss", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(10)}
    b.add(
        "duplicate-same-incident",
        [f"{HB}#CH-7.2"],
        "The same policy, shipment and incident date were claimed before (CLM-PRIOR-1): referred.",
        {**claim, "prior_claims": [prior(_d(10))]},
        lost(_day(10)),
        "referred",
    )
    b.add(
        "duplicate-other-type",
        [f"{HB}#CH-7.2"],
        "An earlier damage claim on the same shipment and incident: one incident is paid once, referred.",
        {**claim, "prior_claims": [prior(_d(10), claim_type="damage")]},
        lost(_day(10)),
        "referred",
    )
    b.add(
        "duplicate-other-incident",
        [f"{HB}#CH-7.2", f"{HB}#CH-8"],
        "An earlier claim on the same shipment but another incident date: not a duplicate, paid.",
        {**claim, "prior_claims": [prior(_d(40))]},
        lost(_day(10)),
        "paid",
        stp=True,
    )
    b.add(
        "duplicate-other-shipment",
        [f"{HB}#CH-7.2", f"{HB}#CH-8"],
        "An earlier claim on the same policy and date but another shipment: not a duplicate, paid.",
        {**claim, "prior_claims": [prior(_d(10), tracking_number="ZZ-9999")]},
        lost(_day(10)),
        "paid",
        stp=True,
    )


def _evidence_and_scripts(b: _Builder) -> None:
    for pid, desc in [
        ("CP-2004", "Η αποστολή χάθηκε κατά τη μεταφορά (Greek description; holder Σπύρος Εξαγωγές Α.Ε.)."),
        ("CP-2005", "Груз утерян при перевозке (Cyrillic description; holder Северный Текстиль ООО)."),
        ("CP-2010", "货物在运输途中丢失 (Han description; holder 深圳光电贸易有限公司)."),
        ("CP-2005", "Gruz uteryan pri perevozke (transliterated description, same holder, Latin script)."),
    ]:
        b.add(
            "scripts-holder",
            [f"{HB}#CH-2.3", f"{HB}#CH-8"],
            "A non-Latin holder and description: the claimant is matched by the holder id, not by the name. " + desc,
            {
                "policy_id": pid,
                "claim_type": "loss",
                "amount_claimed": 900,
                "declared_value": 1000,
                "incident_on": _d(10),
                "description": desc[:200],
            },
            lost(_day(10)),
            "paid",
            stp=True,
        )
    rec = delivered(_day(3), damaged=True)
    rec["signed_by"] = "Иван Петров"
    b.add(
        "scripts-signature",
        [f"{HB}#CH-4.2", f"{HB}#CH-8"],
        "Signed for in Cyrillic, damage recorded at delivery: paid straight through.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(3)},
        rec,
        "paid",
        stp=True,
    )
    for claim_type, rec, inc in [
        ("loss", lost(_day(10)), _d(10)),
        ("damage", delivered(_day(3), damaged=True), _d(3)),
    ]:
        b.add(
            f"evidence-page-{claim_type}",
            [f"{HB}#CH-8", f"{HB}#CH-3.1"],
            f"Carrier-recorded {claim_type}, small, but read from the carrier's web page: a person confirms.",
            {"claim_type": claim_type, "amount_claimed": 900, "declared_value": 1000, "incident_on": inc},
            rec,
            "paid",
            carrier="demo",
        )
    b.add(
        "evidence-claimant-damage",
        [f"{HB}#CH-8", f"{HB}#CH-4.2"],
        "Damage reported by the claimant within the notice on a clean delivery: paid after a person confirms.",
        {"claim_type": "damage", "amount_claimed": 900, "declared_value": 1000, "incident_on": _d(2)},
        delivered(_day(2)),
        "paid",
    )


def handbook_cases() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    b = _Builder("CH")
    for family in (
        _currency_and_claimant,
        _dates,
        _missing,
        _notice,
        _time_bars,
        _coverage,
        _status_vocabulary,
        _payouts,
        _duplicates,
        _evidence_and_scripts,
    ):
        family(b)
    return b.cases, b.records


# -- the traffic suite ----------------------------------------------------------------------------------------------

TRAFFIC_MIX: list[tuple[str, int]] = [
    ("damage-recorded", 19),
    ("loss-confirmed", 9),
    ("delay-covered", 6),
    ("damage-claimant", 2),
    ("damage-late", 2),
    ("large-claim", 2),
    ("loss-too-early", 2),
    ("currency-mismatch", 1),
    ("claimant-not-holder", 1),
    ("duplicate", 1),
    ("date-conflict", 1),
    ("delay-within-tolerance", 1),
    ("out-of-period", 1),
    ("incomplete", 1),
    ("page-evidence", 1),
]
"""50 claims; the proportions and their sources are in ``evals/README.md`` (claims traffic)."""


def traffic_cases(seed: int = SEED) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    rng = random.Random(seed)
    b = _Builder("CT")
    small_policies = ["CP-1001", "CP-1002", "CP-1003", "CP-1004", "CP-2001", "CP-2002", "CP-2003", "CP-2008"]

    def small(pid: str) -> tuple[int, int]:
        cur = b.policies[pid]["currency"]
        ded = int(b.policies[pid]["deductible"])
        claimed = rng.randrange(ded + 50, STP_CAP[cur] + ded, 10)
        return claimed, claimed + rng.randrange(0, 500, 10)

    hb = {
        "damage-recorded": [f"{HB}#CH-4.2", f"{HB}#CH-8"],
        "loss-confirmed": [f"{HB}#CH-4.1", f"{HB}#CH-8"],
        "delay-covered": [f"{HB}#CH-4.3", f"{HB}#CH-8"],
    }
    for kind, count in TRAFFIC_MIX:
        for _ in range(count):
            pid = rng.choice(small_policies)
            claimed, declared = small(pid)
            day = rng.randrange(2, 12)
            base = {"policy_id": pid, "amount_claimed": claimed, "declared_value": declared, "incident_on": _d(day)}
            if kind == "damage-recorded":
                b.add(
                    kind,
                    hb[kind],
                    "Damage the carrier recorded at delivery, small.",
                    {**base, "claim_type": "damage"},
                    delivered(_day(day), damaged=True),
                    "paid",
                    stp=True,
                )
            elif kind == "loss-confirmed":
                b.add(
                    kind,
                    hb[kind],
                    "Loss the carrier reports, small.",
                    {**base, "claim_type": "loss"},
                    lost(_day(day)),
                    "paid",
                    stp=True,
                )
            elif kind == "delay-covered":
                pid = rng.choice(["CP-1001", "CP-1005", "CP-2001", "CP-2002", "CP-2008"])  # CMR or air
                ded, cur = int(b.policies[pid]["deductible"]), b.policies[pid]["currency"]
                declared = 10 * (ded + rng.randrange(50, STP_CAP[cur], 10))
                late = rng.randrange(DELAY_TOLERANCE + 1, 15)
                b.add(
                    kind,
                    hb[kind],
                    f"Delivered {late} days late, reported in time.",
                    {
                        **base,
                        "policy_id": pid,
                        "claim_type": "delay",
                        "declared_value": declared,
                        "amount_claimed": declared // 10 + 50,
                    },
                    delivered(_day(day), promised=_day(day + late)),
                    "paid",
                    stp=True,
                )
            elif kind == "damage-claimant":
                conv = b.policies[pid]["convention"]
                d = min(day, NOTICE_DAMAGE[conv] - 1)
                b.add(
                    kind,
                    [f"{HB}#CH-4.2", f"{HB}#CH-8"],
                    "Damage found after a clean delivery, reported within the notice: a person confirms.",
                    {**base, "claim_type": "damage", "incident_on": _d(d)},
                    delivered(_day(d)),
                    "paid",
                )
            elif kind == "damage-late":
                b.add(
                    kind,
                    [f"{HB}#CH-4.2", f"{HB}#CH-4.5"],
                    "Damage found after a clean delivery, reported 30 days later: proposed for decline.",
                    {**base, "claim_type": "damage", "incident_on": _d(30)},
                    delivered(_day(30)),
                    "declined",
                )
            elif kind == "large-claim":
                cur = b.policies[pid]["currency"]
                amount = LARGE[cur] + int(b.policies[pid]["deductible"]) + rng.randrange(500, 3000, 100)
                b.add(
                    kind,
                    [f"{HB}#CH-5.2"],
                    "Carrier-confirmed loss above the large-claim limit.",
                    {**base, "claim_type": "loss", "amount_claimed": amount, "declared_value": amount + 1000},
                    lost(_day(day)),
                    "referred",
                )
            elif kind == "loss-too-early":
                b.add(
                    kind,
                    [f"{HB}#CH-4.1"],
                    "Loss claimed on a parcel still in transit, scanned recently.",
                    {**base, "claim_type": "loss", "incident_on": _d(3)},
                    lost(_day(3), status="In transit"),
                    "referred",
                )
            elif kind == "currency-mismatch":
                other = "USD" if b.policies[pid]["currency"] != "USD" else "EUR"
                b.add(
                    kind,
                    [f"{HB}#CH-2.2"],
                    f"Claimed in {other}, not the policy currency.",
                    {**base, "claim_type": "loss", "currency": other},
                    lost(_day(day)),
                    "referred",
                )
            elif kind == "claimant-not-holder":
                b.add(
                    kind,
                    [f"{HB}#CH-2.3"],
                    "Claimed by the consignee, not the policyholder.",
                    {**base, "claim_type": "loss", "claimant_id": "CN-2231"},
                    lost(_day(day)),
                    "referred",
                )
            elif kind == "duplicate":
                prior = {"claim_id": "CLM-PRIOR-9", "policy_id": pid, "incident_on": _d(day), "claim_type": "loss"}
                b.add(
                    kind,
                    [f"{HB}#CH-7.2"],
                    "Claimed a second time for the same incident.",
                    {**base, "claim_type": "loss", "prior_claims": [prior]},
                    lost(_day(day)),
                    "referred",
                )
            elif kind == "date-conflict":
                b.add(
                    kind,
                    [f"{HB}#CH-2.4"],
                    "Reported before the incident date given.",
                    {**base, "claim_type": "loss", "incident_on": (REPORTED + timedelta(days=3)).isoformat()},
                    lost(_day(day)),
                    "referred",
                )
            elif kind == "delay-within-tolerance":
                b.add(
                    kind,
                    [f"{HB}#CH-4.3"],
                    "Delivered 3 days late: within the tolerance, proposed for decline.",
                    {**base, "claim_type": "delay", "policy_id": "CP-1001"},
                    delivered(_day(day), promised=_day(day + 3)),
                    "declined",
                )
            elif kind == "out-of-period":
                b.add(
                    kind,
                    [f"{HB}#CH-4.4"],
                    "Incident after the policy ended.",
                    {
                        **base,
                        "claim_type": "loss",
                        "policy_id": "CP-1008",
                        "amount_claimed": 900,
                        "declared_value": 1000,
                    },
                    lost(_day(day)),
                    "declined",
                )
            elif kind == "incomplete":
                b.add(
                    kind,
                    [f"{HB}#CH-2"],
                    "No declared value given.",
                    {**base, "claim_type": "loss", "declared_value": None},
                    None,
                    "incomplete",
                )
            elif kind == "page-evidence":
                b.add(
                    kind,
                    [f"{HB}#CH-8"],
                    "Carrier-recorded damage read from the carrier's page: a person confirms.",
                    {**base, "claim_type": "damage"},
                    delivered(_day(day), damaged=True),
                    "paid",
                    carrier="demo",
                )
    return b.cases, b.records


def demo_shipments() -> dict[str, dict[str, Any]]:
    """The carrier records of both suites, as the demo carrier serves them."""
    return {**handbook_cases()[1], **traffic_cases()[1]}


def write_claims_suites(suites: Path = SUITES, shipments_file: Path = SHIPMENTS_FILE) -> dict[str, Path]:
    """Write both suites and the carrier records; the same code always writes the same files."""
    headers = {
        "claims_handbook": "# claims_handbook: written from the claims handbook "
        "(tools/data/corpus/claims_handbook.md) by agents/claims/suites.py, independently of the rules "
        "engine; each case cites its sections. Needs the demo carrier "
        "(tools.demo_carrier.DemoCarrier(port=8790), STEWARD_SCRAPER_SOURCES=tools/data/sources.demo.yaml).",
        "claims_traffic": "# claims_traffic: a realistic claims mix (evals/README.md, claims traffic) by "
        "agents/claims/suites.py; same demo carrier.",
    }
    paths: dict[str, Path] = {}
    for name, (cases, _) in (("claims_handbook", handbook_cases()), ("claims_traffic", traffic_cases())):
        path = suites / f"{name}.jsonl"
        lines = [headers[name]] + [json.dumps(c, ensure_ascii=False) for c in cases]
        path.write_text("\n".join(lines) + "\n")
        paths[name] = path
    shipments_file.write_text(json.dumps(demo_shipments(), indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    paths["shipments"] = shipments_file
    return paths
