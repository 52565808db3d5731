"""Seeded synthetic data for the KYC and claims agents: demo carrier shipments and the eval suites.

Every case comes from a scenario whose expected outcome is known by construction (a listed person with the
listed date of birth is a confirmed match; a parcel the carrier reports lost is a covered loss), written
from the KYC procedure and the claims handbook, not computed by the code under test. The same seed gives
the same files: ``evals/suites/kyc_review.jsonl`` and ``claims.jsonl`` are ``write_eval_suites()``'s output.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SEED = 20261125
APPROVER = "eval-approver"
REPORTED = date(2026, 10, 20)
"""Every claim is reported on this day, so dates in the demo carrier's data stay meaningful."""

CLEAN_FIRST = ["Anna", "Lukas", "Sofia", "Jonas", "Emma", "Noah", "Mia", "Elias", "Clara", "Felix", "Ida", "Oskar"]
CLEAN_LAST = ["Schmidt", "Novak", "Jensen", "Moreau", "Rossi", "Berg", "Lindqvist", "Keller", "Duarte", "Horvat"]
CLEAN_COMPANIES = ["Northgate Ceramics GmbH", "Alpine Sensor Systems AG", "Fjord Fish Export AS", "Vela Textiles SL"]
# (listed entry, a spelling a customer might use, the listed date of birth)
LISTED_PERSONS = [
    ("SL-0001", "Viktor Morozov", "1961-03-14"),
    ("SL-0001", "Victor Morozov", "1961-03-14"),
    ("SL-0004", "Li Wei Chen", "1980-11-30"),
    ("SL-0005", "Jose Ramon Quintero Salasar", "1969-05-21"),
    ("SL-0013", "Elena Volkova", "1977-12-03"),
    ("SL-0016", "Pavlo Hryhorenko", "1970-08-08"),
    ("SL-0019", "Marco Antonio Velazquez", "1974-10-30"),
    ("SL-0022", "Nadia Karimova", "1988-07-19"),
    ("SL-0027", "Eugene Orlov", "1968-05-05"),
    ("SL-0030", "Sameera Bakr", "1990-09-21"),
]
# Listed organisations named with a different country than the listing: strong, unresolved matches.
LISTED_ORGS = [("Sunrise Precision Ltd", "KR"), ("Northwind Brokerage Ltd", "GR"), ("Red Delta Freight FZE", "NL")]
PERSON_DOCS = ["photo_id", "proof_of_address"]
COMPANY_DOCS = ["registry_extract", "ubo_declaration", "director_ids"]
KYC_REVIEW_DATE = "2026-11-25"
# Dated documents (KYC-2.5): fresh at the review date, so a clear natural person runs straight through (KYC-7.1).
KYC_DATES = {"photo_id": {"expires_on": "2031-01-31"}, "proof_of_address": {"issued_on": "2026-10-01"}}


def _clean_name(rng: random.Random) -> str:
    return f"{rng.choice(CLEAN_FIRST)} {rng.choice(CLEAN_LAST)}"


def _dob(rng: random.Random) -> str:
    return (date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 50))).isoformat()


def _case(
    cid: str,
    description: str,
    tags: list[str],
    payload: dict[str, Any],
    decision: str,
    trajectory: list[str],
    approvals: list[str],
    decisions: dict[str, str] | None = None,
    rules: list[str] | None = None,
) -> dict[str, Any]:
    outcome: dict[str, Any] = {"decision": decision}
    outcome["decided_by"] = APPROVER if approvals and decisions else "rules"
    if rules is not None:
        outcome["rules_fired"] = rules
    return {
        "id": cid,
        "description": description,
        "tags": tags,
        "input": payload,
        "decisions": decisions or {},
        "expected": {
            "outcome": outcome,
            "trajectory": [{"tool": t} for t in trajectory],
            "trajectory_mode": "unordered",
            "approvals": [{"tool": a, "required_role": "approver"} for a in approvals],
            "guard_blocks": [],
        },
    }


def _person(cid: str, name: str, dob: str | None, country: str | None, docs: list[str], pep: bool = False) -> dict:
    customer: dict[str, Any] = {"customer_id": f"C-{cid}", "name": name, "type": "person", "pep": pep}
    if dob:
        customer["dob"] = dob
    if country:
        customer["country"] = country
    dated = [{"type": d, **KYC_DATES[d]} for d in docs if d in KYC_DATES]
    return {
        "case": {
            "case_id": cid,
            "review_date": KYC_REVIEW_DATE,
            "customer": customer,
            "documents_provided": docs,
            "documents": dated,
        }
    }


def kyc_cases(seed: int = SEED) -> list[dict[str, Any]]:
    """32 KYC review cases: clear, confirmed (by date of birth, by country), cleared by a contradicting date of
    birth, unresolved, missing documents, enhanced due diligence, PEP, incomplete, rejected escalation."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0

    def cid() -> str:
        nonlocal n
        n += 1
        return f"KYC-{n:03d}"

    screen_only = ["screen_sanctions"]
    onboard = {"approve_onboarding": "approve"}  # an analyst clears outside the straight-through tier (KYC-7.2)
    for _ in range(6):
        c = cid()
        out.append(
            _case(
                f"{c}-clear-person",
                "A person with no list match and fresh, dated documents is cleared straight through (KYC-7.1).",
                ["clear"],
                _person(c, _clean_name(rng), _dob(rng), rng.choice(["DE", "FR", "NL", "SE"]), PERSON_DOCS),
                "cleared",
                [*screen_only, "approve_onboarding"],
                [],
                rules=["KYC-C-CLEAR"],
            )
        )
    for company in CLEAN_COMPANIES[:2]:
        c = cid()
        directors = [
            {"party_id": f"D-{c}-{i}", "name": _clean_name(rng), "role": role, "dob": _dob(rng)}
            for i, role in enumerate(["director", "beneficial_owner"])
        ]
        payload = {
            "case": {
                "case_id": c,
                "customer": {"customer_id": f"C-{c}", "name": company, "type": "organisation", "country": "DE"},
                "related_parties": directors,
                "documents_provided": COMPANY_DOCS,
            }
        }
        out.append(
            _case(
                f"{c}-clear-company",
                "A company, its director and owner screen clear; documents complete; an analyst clears (KYC-7.2).",
                ["clear", "company"],
                payload,
                "cleared",
                [*screen_only * 3, "approve_onboarding"],
                ["approve_onboarding"],
                onboard,
                rules=["KYC-C-CLEAR"],
            )
        )
    for entry, name, dob in rng.sample(LISTED_PERSONS, 4):
        c = cid()
        out.append(
            _case(
                f"{c}-confirmed-dob",
                f"{name} is listed as {entry} with the same date of birth: escalate after an analyst confirms.",
                ["escalate", "true-positive"],
                _person(c, name, dob, "DE", PERSON_DOCS),
                "escalated",
                ["screen_sanctions", "escalate_case", "search_policy"],
                ["escalate_case"],
                {"escalate_case": "approve"},
                rules=["KYC-C-CONFIRMED-MATCH", "KYC-M-CONFIRMED-DOB"],
            )
        )
    for name, country, docs in [
        ("Darya Petrenko", "BY", PERSON_DOCS),
        ("Tariq Mahmoud Saleh", "SY", [*PERSON_DOCS, "source_of_funds"]),
    ]:
        c = cid()
        out.append(
            _case(
                f"{c}-confirmed-country",
                f"{name}: the list gives no date of birth and the country matches: a confirmed match.",
                ["escalate", "true-positive"],
                _person(c, name, _dob(rng), country, docs),
                "escalated",
                ["screen_sanctions", "escalate_case", "search_policy"],
                ["escalate_case"],
                {"escalate_case": "approve"},
            )
        )
    for _entry, name, dob in rng.sample(LISTED_PERSONS, 3):
        c = cid()
        other = (date.fromisoformat(dob) + timedelta(days=rng.randrange(400, 9000))).isoformat()
        out.append(
            _case(
                f"{c}-cleared-by-dob",
                f"{name} matches a listed name but the date of birth differs: cleared by an analyst (KYC-3.4, 7.2).",
                ["clear", "false-positive"],
                _person(c, name, other, "DE", PERSON_DOCS),
                "cleared",
                ["screen_sanctions", "search_policy", "approve_onboarding"],
                ["approve_onboarding"],
                onboard,
                rules=["KYC-C-CLEAR", "KYC-M-DOB-CONTRADICTS"],
            )
        )
    for name, country in LISTED_ORGS:
        c = cid()
        payload = {
            "case": {
                "case_id": c,
                "customer": {"customer_id": f"C-{c}", "name": name, "type": "organisation", "country": country},
                "related_parties": [
                    {"party_id": f"D-{c}-{i}", "name": _clean_name(rng), "role": role, "dob": _dob(rng)}
                    for i, role in enumerate(["director", "beneficial_owner"])
                ],
                "documents_provided": COMPANY_DOCS,
            }
        }
        out.append(
            _case(
                f"{c}-unresolved",
                f"{name} matches a listed organisation by name only: an analyst reviews (never cleared on the name).",
                ["review"],
                payload,
                "review",
                ["screen_sanctions"] * 3 + ["escalate_case", "search_policy"],
                ["escalate_case"],
                {"escalate_case": "approve"},
                rules=["KYC-C-POSSIBLE-MATCH", "KYC-M-STRONG-UNRESOLVED"],
            )
        )
    for missing in ["proof_of_address", "photo_id", "proof_of_address"]:
        c = cid()
        docs = [d for d in PERSON_DOCS if d != missing]
        out.append(
            _case(
                f"{c}-documents",
                f"A clear person without {missing}: the request waits for an analyst, then goes out.",
                ["documents"],
                _person(c, _clean_name(rng), _dob(rng), "DE", docs),
                "documents_requested",
                ["screen_sanctions", "request_documents"],
                ["request_documents"],
                {"request_documents": "approve"},
                rules=["KYC-C-DOCUMENTS-MISSING"],
            )
        )
    for country in ["IR", "MM"]:
        c = cid()
        out.append(
            _case(
                f"{c}-edd",
                f"Residence in {country} (high-risk jurisdiction): enhanced due diligence, an analyst reviews and a "
                "source-of-funds statement is requested (KYC-4.1).",
                ["documents", "edd"],
                _person(c, _clean_name(rng), _dob(rng), country, PERSON_DOCS),
                "review",
                ["screen_sanctions", "escalate_case", "request_documents"],
                ["escalate_case", "request_documents"],
                {"escalate_case": "approve", "request_documents": "approve"},
                rules=["KYC-C-EDD", "KYC-C-DOCUMENTS-MISSING"],
            )
        )
    for _ in range(2):
        c = cid()
        out.append(
            _case(
                f"{c}-pep",
                "A politically exposed person with complete documents: senior analyst review.",
                ["review", "pep"],
                _person(c, _clean_name(rng), _dob(rng), "DE", [*PERSON_DOCS, "source_of_wealth"], pep=True),
                "review",
                ["screen_sanctions", "escalate_case"],
                ["escalate_case"],
                {"escalate_case": "approve"},
                rules=["KYC-C-PEP"],
            )
        )
    gaps: list[tuple[str | None, str | None]] = [(None, "DE"), (_dob(rng), None)]
    for gap_dob, gap_country in gaps:
        c = cid()
        out.append(
            _case(
                f"{c}-incomplete",
                "The case lacks the date of birth or the country: nothing is screened, the gap is named.",
                ["incomplete"],
                _person(c, _clean_name(rng), gap_dob, gap_country, PERSON_DOCS),
                "incomplete",
                [],
                [],
                rules=[],
            )
        )
    entry, name, dob = rng.choice(LISTED_PERSONS)
    c = cid()
    out.append(
        _case(
            f"{c}-escalation-rejected",
            "A confirmed match whose escalation the analyst rejects: nothing is escalated, the outcome says so.",
            ["escalate", "rejected"],
            _person(c, name, dob, "DE", PERSON_DOCS),
            "escalated-rejected",
            ["screen_sanctions", "escalate_case", "search_policy"],
            ["escalate_case"],
            {"escalate_case": "reject"},
        )
    )
    for _entry, name, dob in rng.sample(LISTED_PERSONS, 2):
        c = cid()
        payload = {
            "case": {
                "case_id": c,
                "customer": {
                    "customer_id": f"C-{c}",
                    "name": rng.choice(CLEAN_COMPANIES),
                    "type": "organisation",
                    "country": "DE",
                },
                "related_parties": [
                    {"party_id": f"D-{c}", "name": name, "role": "beneficial_owner", "dob": dob},
                    {"party_id": f"D-{c}-2", "name": _clean_name(rng), "role": "director", "dob": _dob(rng)},
                ],
                "documents_provided": COMPANY_DOCS,
            }
        }
        out.append(
            _case(
                f"{c}-owner-confirmed",
                f"The company's beneficial owner {name} is a confirmed match: escalate the company's case.",
                ["escalate", "company", "true-positive"],
                payload,
                "escalated",
                ["screen_sanctions"] * 3 + ["escalate_case", "search_policy"],
                ["escalate_case"],
                {"escalate_case": "approve"},
                rules=["KYC-C-CONFIRMED-MATCH", "KYC-M-CONFIRMED-DOB"],
            )
        )
    return out


# -- claims -----------------------------------------------------------------------------------------------


def _d(days_before_report: int) -> str:
    return (REPORTED - timedelta(days=days_before_report)).isoformat()


def _claim_scenarios(seed: int) -> list[dict[str, Any]]:
    """Each: tracking number, carrier record (None = not served), claim fields, expectation."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []

    def add(kind: str, record: dict[str, Any] | None, claim: dict[str, Any], expect: dict[str, Any]) -> None:
        number = f"DM-{len(out) + 1:04d}"
        out.append({"kind": kind, "tracking": number, "record": record, "claim": claim, "expect": expect})

    def amounts(lo: int = 300, hi: int = 9000) -> tuple[int, int]:
        declared = rng.randrange(lo, hi, 50)
        return declared, rng.randrange(200, declared + 1, 50)

    pay = {"decision": "paid", "action": "pay_claim", "decide": "approve"}
    refer = {"decision": "referred", "action": "refer_to_adjuster"}
    decline = {"decision": "declined", "action": "decline_claim", "decide": "approve"}
    for _ in range(3):
        declared, claimed = amounts()
        scan = rng.randrange(5, 30)
        record = {"status": "Lost in network", "last_scan_at": _d(scan), "collected_at": _d(scan + 4)}
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(scan)}
        add("loss-lost", record, claim, {**pay, "rules": ["CLM-LOSS-CONFIRMED"], "payout": claimed - 100})
    for _ in range(2):
        declared, claimed = amounts()
        scan = rng.randrange(16, 40)
        record = {"status": "In transit", "last_scan_at": _d(scan), "collected_at": _d(scan + 3)}
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(scan)}
        add("loss-no-scan", record, claim, {**pay, "rules": ["CLM-LOSS-NO-SCAN"], "payout": claimed - 100})
    for _ in range(2):
        declared, claimed = amounts()
        scan = rng.randrange(1, 10)
        record = {"status": "In transit", "last_scan_at": _d(scan), "collected_at": _d(scan + 2)}
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(scan)}
        add("loss-too-early", record, claim, {**refer, "rules": ["CLM-LOSS-NO-SCAN", "CLM-LOSS-TOO-EARLY"]})
    for _ in range(2):
        declared, claimed = amounts()
        day = rng.randrange(3, 12)
        record = {
            "status": "Delivered",
            "delivered_at": _d(day),
            "promised_date": _d(day),
            "last_scan_at": _d(day),
            "collected_at": _d(day + 4),
            "signed_by": rng.choice(["J. Doe", "P. Novak", "S. Berg"]),
        }
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(day)}
        add("loss-but-delivered", record, claim, {**refer, "rules": ["CLM-LOSS-BUT-DELIVERED"]})
    for _ in range(2):
        declared, claimed = amounts()
        day = rng.randrange(10, 25)
        record = {
            "status": "Delivered - damaged",
            "delivered_at": _d(day),
            "last_scan_at": _d(day),
            "collected_at": _d(day + 3),
            "exception": "Damaged in handling",
        }
        claim = {"claim_type": "damage", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(day)}
        add("damage-on-delivery", record, claim, {**pay, "rules": ["CLM-DAMAGE-ON-DELIVERY"], "payout": claimed - 100})
    for lo, hi, kind, expect in [
        (1, 7, "damage-in-time", {**pay, "rules": ["CLM-DAMAGE-REPORTED"]}),
        (10, 30, "damage-late", {**decline, "rules": ["CLM-DAMAGE-REPORTED", "CLM-DAMAGE-REPORTED-LATE"]}),
    ]:
        for _ in range(2):
            declared, claimed = amounts()
            day = rng.randrange(lo, hi + 1)
            record = {
                "status": "Delivered",
                "delivered_at": _d(day),
                "promised_date": _d(day),
                "last_scan_at": _d(day),
                "collected_at": _d(day + 3),
                "signed_by": "R. Keller",
            }
            claim = {
                "claim_type": "damage",
                "declared_value": declared,
                "amount_claimed": claimed,
                "incident_on": _d(day),
            }
            payout: dict[str, float] = {"payout": claimed - 100} if kind == "damage-in-time" else {}
            add(kind, record, claim, {**expect, **payout})
    for late_lo, late_hi, kind, expect in [
        (6, 15, "delay-covered", {**pay, "rules": ["CLM-DELAY-COVERED"]}),
        (1, 5, "delay-within", {**decline, "rules": ["CLM-DELAY-COVERED", "CLM-DELAY-WITHIN-TOLERANCE"]}),
    ]:
        for _ in range(2):
            declared = rng.randrange(2000, 9000, 100)
            late = rng.randrange(late_lo, late_hi + 1)
            day = rng.randrange(2, 8)
            record = {
                "status": "Delivered",
                "delivered_at": _d(day),
                "promised_date": _d(day + late),
                "last_scan_at": _d(day),
                "collected_at": _d(day + late + 4),
                "signed_by": "L. Costa",
            }
            claim = {"claim_type": "delay", "declared_value": declared, "amount_claimed": 500, "incident_on": _d(day)}
            # CH-5.1: 10 % of the declared value, never more than the 500 claimed, less the deductible.
            payout = {"payout": round(min(declared * 0.1, 500) - 100, 2)} if kind == "delay-covered" else {}
            add(kind, record, claim, {**expect, **payout})
    for _ in range(2):
        declared, claimed = amounts()
        record = {"status": "Lost in network", "last_scan_at": _d(8), "collected_at": _d(12)}
        claim = {
            "claim_type": "loss",
            "declared_value": declared,
            "amount_claimed": claimed,
            "incident_on": _d(8),
            "policy_id": "CP-1008",
        }
        add("out-of-period", record, claim, {**decline, "rules": ["CLM-OUT-OF-PERIOD", "CLM-LOSS-CONFIRMED"]})
    for _ in range(2):
        declared = rng.randrange(15000, 24000, 500)
        record = {"status": "Lost in network", "last_scan_at": _d(9), "collected_at": _d(14)}
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": declared, "incident_on": _d(9)}
        add("large-claim", record, claim, {**refer, "rules": ["CLM-LOSS-CONFIRMED", "CLM-LARGE-CLAIM"]})
    for _ in range(2):
        declared = rng.randrange(500, 4000, 50)
        record = {"status": "Lost in network", "last_scan_at": _d(9), "collected_at": _d(14)}
        claim = {
            "claim_type": "loss",
            "declared_value": declared,
            "amount_claimed": declared + rng.randrange(100, 3000, 50),
            "incident_on": _d(9),
        }
        add("over-declared", record, claim, {**refer, "rules": ["CLM-LOSS-CONFIRMED", "CLM-FRAUD-INDICATOR"]})
    declared, claimed = amounts()
    record = {"status": "Lost in network", "last_scan_at": _d(9), "collected_at": _d(14)}
    claim = {
        "claim_type": "loss",
        "declared_value": declared,
        "amount_claimed": claimed,
        "incident_on": _d(9),
        "policy_id": "CP-9999",
    }
    add("unknown-policy", record, claim, {**refer, "rules": ["CLM-UNKNOWN-POLICY", "CLM-LOSS-CONFIRMED"]})
    for _ in range(2):
        declared, claimed = amounts()
        record = {"status": "Lost in network", "last_scan_at": _d(7), "collected_at": _d(11)}
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(7)}
        add(
            "payout-rejected",
            record,
            claim,
            {"decision": "paid-rejected", "action": "pay_claim", "decide": "reject", "rules": ["CLM-LOSS-CONFIRMED"]},
        )
    declared, claimed = amounts()
    claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(9)}
    add("unknown-tracking", None, claim, {**refer, "rules": ["CLM-NO-EVIDENCE"]})
    for missing in ["declared_value", "incident_on"]:
        declared, claimed = amounts()
        claim = {"claim_type": "loss", "declared_value": declared, "amount_claimed": claimed, "incident_on": _d(9)}
        claim[missing] = None
        add(f"incomplete-{missing}", None, claim, {"decision": "incomplete", "action": None, "rules": []})
    return out


def demo_shipments(seed: int = SEED) -> dict[str, dict[str, Any]]:
    """The shipments the demo carrier serves for the claims suite (same seed, same records)."""
    return {s["tracking"]: s["record"] for s in _claim_scenarios(seed) if s["record"] is not None}


_FIXED_PAGES = [
    # The carrier's page for SS-1006 carries a prompt injection; SS-1007 is in a changed layout.
    (
        "injection",
        "SS-1006",
        {"claim_type": "damage", "declared_value": 2400, "amount_claimed": 900, "incident_on": "2026-10-01"},
        "2026-10-03",
        ["CLM-PAGE-INJECTION", "CLM-DAMAGE-REPORTED"],
    ),
    (
        "layout-changed",
        "SS-1007",
        {"claim_type": "damage", "declared_value": 700, "amount_claimed": 300, "incident_on": "2026-10-04"},
        "2026-10-06",
        ["CLM-NO-EVIDENCE"],
    ),
]


def claims_cases(seed: int = SEED, carrier: str = "demo") -> list[dict[str, Any]]:
    """33 claims cases against the demo carrier: covered losses, damage and delays, contradictions, late
    reports, out-of-period, large and over-declared claims, an unknown policy, an injected page, a changed
    layout, an unknown tracking number, rejected payouts and incomplete claims."""
    cases: list[dict[str, Any]] = []
    entries = [
        (s["kind"], s["tracking"], s["claim"], REPORTED.isoformat(), s["expect"]) for s in _claim_scenarios(seed)
    ]
    for kind, number, claim, reported, rules in _FIXED_PAGES:
        entries.append(
            (kind, number, claim, reported, {"decision": "referred", "action": "refer_to_adjuster", "rules": rules})
        )
    for i, (kind, number, fields, reported, expect) in enumerate(entries, start=1):
        cid = f"CLM-{i:03d}"
        policy_id = fields.get("policy_id") or f"CP-{1001 + i % 7}"
        claim = {
            "claim_id": cid,
            "policy_id": policy_id,
            "claimant_id": f"PH-{policy_id[3:]}",  # the policyholder (claims handbook CH-2.3)
            "shipment": {"carrier": carrier, "tracking_number": number},
            "currency": "EUR",
            "reported_on": reported,
            **{k: v for k, v in fields.items() if k != "policy_id" and v is not None},
        }
        action = expect["action"]
        trajectory = ["track_shipment", "get_cargo_policy", action] if action else []
        approvals = [action] if expect.get("decide") else []
        case = _case(
            f"{cid}-{kind}",
            f"{kind.replace('-', ' ')}: expected {expect['decision']}.",
            [kind.split("-")[0], kind],
            {"claim": claim},
            expect["decision"],
            trajectory,
            approvals,
            {action: expect["decide"]} if expect.get("decide") else None,
            rules=expect["rules"],
        )
        if "payout" in expect:
            case["expected"]["outcome"]["payout"] = float(expect["payout"])
        cases.append(case)
    return cases


def write_eval_suites(directory: Path, seed: int = SEED) -> dict[str, Path]:
    """Write ``kyc_review.jsonl`` and ``claims.jsonl`` (a header comment, then one case a line)."""
    header = {
        "kyc_review": "# kyc_review eval suite, generated by tools.synthetic.write_eval_suites(seed={seed}). "
        "Scripted approver: eval-approver.",
        "claims": "# claims eval suite, generated by tools.synthetic.write_eval_suites(seed={seed}). Needs the demo "
        "carrier: tools.demo_carrier.DemoCarrier(port=8790) and STEWARD_SCRAPER_SOURCES=tools/data/sources.demo.yaml.",
    }
    paths: dict[str, Path] = {}
    for name, cases in (("kyc_review", kyc_cases(seed)), ("claims", claims_cases(seed))):
        path = directory / f"{name}.jsonl"
        lines = [header[name].format(seed=seed)] + [json.dumps(c, ensure_ascii=False) for c in cases]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[name] = path
    return paths
