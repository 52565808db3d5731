"""The KYC agent's deterministic decision path, as pure functions the graph's nodes call.

``completeness`` names every field a rule needs that the case lacks (a missing field refers the case, it never
defaults to a value that clears); ``parties`` lists who is screened (the customer as the natural person a sole
proprietor is, a trading name, every director, beneficial owner and signatory); ``review`` applies the
``kyc_case`` rules to the screenings and the documents; ``proposals`` turns the outcome into tool calls.
``decide_offline`` runs the same path without Temporal or a model (screening called directly, the policy
evaluated for each proposed call) so a suite can be checked in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from agents.kyc_review import prompts

CONTROLLER_ROLES = ("director", "beneficial_owner")
"""An organisation is never cleared without these screened (KYC-2.2, AMLD art. 13(1)(b))."""
_DATED = {"proof_of_address": "issued_on", "registry_extract": "issued_on", "photo_id": "expires_on"}
"""Which date each document's freshness rule needs (KYC-2.5)."""
_STALE_RULES = {
    "KYC-C-ADDRESS-PROOF-STALE": "proof_of_address",
    "KYC-C-REGISTRY-STALE": "registry_extract",
    "KYC-C-ID-EXPIRED": "photo_id",
}


def completeness(case: dict[str, Any]) -> dict[str, Any]:
    """The fields a rule needs that the case lacks, named as paths in the input."""
    c = case["customer"]
    missing = [f"case.customer.{f}" for f in ("country",) if not c.get(f)]
    if c["type"] in ("person", "sole_proprietor") and not c.get("dob"):
        missing.append("case.customer.dob")
    if c["type"] == "organisation":
        roles = {p["role"] for p in case.get("related_parties") or []}
        missing += [f"case.related_parties[role={r}]" for r in CONTROLLER_ROLES if r not in roles]
    return {"complete": not missing, "missing": missing}


def parties(case: dict[str, Any]) -> list[dict[str, Any]]:
    """Every party to screen, as ``screen_sanctions`` arguments. A sole proprietor is a natural person."""
    c = case["customer"]
    kind = "person" if c["type"] == "sole_proprietor" else c["type"]
    first = {"party_id": c["customer_id"], "name": c["name"], "type": kind, "role": "customer"}
    first.update({k: c[k] for k in ("dob", "country") if c.get(k)})
    out = [first]
    if c.get("trading_name"):
        trading = {"party_id": f"{c['customer_id']}-trading", "name": c["trading_name"], "type": "unknown"}
        out.append({**trading, "role": "trading_name", **({"country": c["country"]} if c.get("country") else {})})
    for p in case.get("related_parties") or []:
        out.append({k: v for k, v in p.items() if v is not None and k != "pep"})
    return out


def _days(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return float((date.fromisoformat(later) - date.fromisoformat(earlier)).days)


def review(case: dict[str, Any], screenings: Sequence[dict[str, Any] | None], as_of: str) -> dict[str, Any]:
    """Screening results (``None`` for a party whose screening did not complete) -> the ``kyc_case`` outcome.

    ``as_of`` is the review date the documents' ages are measured at (ISO date)."""
    from tools.kyc import high_risk, required_documents
    from tools.rules import load_ruleset

    c = case["customer"]
    related = case.get("related_parties") or []
    matches: list[dict[str, Any]] = []
    unscreened: list[str] = []
    unsupported: list[str] = []
    versions: set[str] = set()
    list_version: str | None = None
    screened = 0
    for p, out in zip(parties(case), screenings, strict=True):
        if out is None:
            unscreened.append(p["party_id"])
            continue
        screened += 1
        versions.add(f"kyc_match@{out['ruleset_version']}")
        list_version = f"{out['list']}@{out['list_version']}"
        if out.get("unsupported_script"):
            unsupported.append(out["party_id"])
        for m in out["matches"]:
            matches.append({"party_id": out["party_id"], "party": out["name"], **m})
    confirmed = [m for m in matches if m["classification"] == "confirmed"]
    possible = [m for m in matches if m["classification"] == "possible"]
    high_risk_parties = [
        p["party_id"] for p in [{"party_id": c["customer_id"], **c}, *related] if high_risk(p.get("country"))
    ]
    pep_parties = [p["party_id"] for p in [{"party_id": c["customer_id"], **c}, *related] if p.get("pep")]
    required = required_documents(c["type"], c.get("country"), bool(pep_parties), edd=bool(high_risk_parties))
    records = {d["type"]: d for d in case.get("documents") or []}
    present = set(case.get("documents_provided") or []) | set(records)
    missing_docs = [d for d in required if d not in present]
    poa, reg, pid = (records.get(k) or {} for k in ("proof_of_address", "registry_extract", "photo_id"))
    facts = {
        "complete": True,
        "confirmed_matches": len(confirmed),
        # A party whose screening did not complete counts as unresolved: a person looks at it.
        "possible_matches": len(possible) + len(unscreened),
        "unsupported_script_parties": len(unsupported),
        "missing_documents": missing_docs,
        "high_risk_parties": len(high_risk_parties),
        "pep_parties": len(pep_parties),
        "proof_of_address_age_days": _days(as_of, poa.get("issued_on")),
        "registry_extract_age_days": _days(as_of, reg.get("issued_on")),
        "photo_id_days_to_expiry": _days(pid.get("expires_on"), as_of),
    }
    rules = load_ruleset("kyc_case")
    verdict = rules.evaluate(facts)
    stale = [doc for rule, doc in _STALE_RULES.items() if rule in verdict.fired_ids and doc in required]
    to_request = missing_docs + [d for d in stale if d not in missing_docs]
    verified = not to_request and all(records.get(d, {}).get(_DATED[d]) for d in required if d in _DATED)
    match_rules = sorted({m["rule_id"] for m in matches if m.get("rule_id")})
    match_cites = sorted({cite for r in load_ruleset("kyc_match").doc.rules if r.id in match_rules for cite in r.cites})
    return {
        "outcome": verdict.outcome,
        "rules_fired": verdict.fired_ids + match_rules,
        "reasons": verdict.reasons(),
        "citations": verdict.citations + [x for x in match_cites if x not in verdict.citations],
        "rulesets": sorted(versions | {f"kyc_case@{verdict.version}"}),
        "sanctions_list": list_version,
        "matches": matches,
        "unscreened": unscreened,
        "unsupported_script": unsupported,
        "pep_parties": pep_parties,
        "high_risk_parties": high_risk_parties,
        "missing_documents": to_request,
        "stale_documents": stale,
        "documents_verified": verified,
        "parties_screened": screened,
        "as_of": as_of,
        "errors": verdict.errors,
    }


def proposals(case: dict[str, Any], rev: dict[str, Any], rnd: int) -> list[dict[str, Any]]:
    """The tool calls the outcome calls for: escalation, document request, the onboarding decision, policy."""
    calls: list[dict[str, Any]] = []
    flagged = [m for m in rev["matches"] if m["classification"] in ("confirmed", "possible")]
    if rev["outcome"] in ("escalate", "review"):
        confirmed = rev["outcome"] == "escalate"
        lines = [
            f"{m['party']} ~ {m['listed_name']} ({m['program']}): score {m['score']}, {m['classification']} "
            f"by {m['rule_id']}"
            for m in flagged
        ]
        lines += [f"politically exposed: {', '.join(rev['pep_parties'])}"] if rev["pep_parties"] else []
        lines += [f"high-risk jurisdiction: {', '.join(rev['high_risk_parties'])}"] if rev["high_risk_parties"] else []
        lines += (
            [f"script not transliterable: {', '.join(rev['unsupported_script'])}"] if rev["unsupported_script"] else []
        )
        lines += [f"screening incomplete: {', '.join(rev['unscreened'])}"] if rev["unscreened"] else []
        calls.append(
            {
                "id": f"r{rnd}-escalate_case",
                "name": "escalate_case",
                "args": {
                    "case_id": case["case_id"],
                    "team": "financial_crime_compliance" if confirmed else "senior_kyc_analysts",
                    "priority": "high" if confirmed else "normal",
                    "summary": (f"KYC case {case['case_id']}: " + "; ".join(lines or ["needs review"]))[:2000],
                    "rule_ids": rev["rules_fired"],
                },
            }
        )
    if rev["missing_documents"]:
        calls.append(
            {
                "id": f"r{rnd}-request_documents",
                "name": "request_documents",
                "args": {
                    "case_id": case["case_id"],
                    "customer_id": case["customer"]["customer_id"],
                    "documents": rev["missing_documents"],
                    "message": prompts.DOCUMENT_REQUEST.format(
                        documents=", ".join(d.replace("_", " ") for d in rev["missing_documents"])
                    ),
                    "channel": "portal",
                },
            }
        )
    if rev["outcome"] == "clear":
        calls.append(
            {
                "id": f"r{rnd}-approve_onboarding",
                "name": "approve_onboarding",
                "args": {
                    "case_id": case["case_id"],
                    "customer_id": case["customer"]["customer_id"],
                    "customer_type": case["customer"]["type"],
                    "parties_screened": rev["parties_screened"],
                    "potential_matches": len(rev["matches"]),
                    "pep_parties": len(rev["pep_parties"]),
                    "high_risk_parties": len(rev["high_risk_parties"]),
                    "unsupported_script_parties": len(rev["unsupported_script"]),
                    "documents_verified": rev["documents_verified"],
                    "sanctions_list": rev["sanctions_list"] or "unknown",
                    "rule_ids": rev["rules_fired"],
                },
            }
        )
    if rev["matches"]:
        calls.append(
            {
                "id": f"r{rnd}-search_policy",
                "name": "search_policy",
                "args": {
                    "query": "sanctions name match secondary identifiers date of birth clearing and escalation",
                    "doc_ids": ["kyc-procedure"],
                    "k": 2,
                },
            }
        )
    return calls


DECISIONS = {
    "escalate": ("escalate_case", "escalated"),
    "review": ("escalate_case", "review"),
    "request_documents": ("request_documents", "documents_requested"),
    "clear": ("approve_onboarding", "cleared"),
}
"""Outcome -> (the tool whose execution makes it happen, the decision label)."""


def decide_offline(case_input: dict[str, Any], as_of: str | None = None) -> dict[str, Any]:
    """The decision without Temporal or a model: validated input, screening, rules, and the policy's verdict
    on each proposed call (who would have to approve it). For suites' fast checks."""
    from agents.kyc_review.graph import KycCase
    from guards.policy import PolicyInput, load_policy_engine
    from guards.types import Principal
    from tools.kyc import Party, screen
    from tools.registry import get_tool

    case = KycCase.model_validate(case_input["case"]).model_dump()
    check = completeness(case)
    if not check["complete"]:
        out = {"decision": "incomplete", "missing": check["missing"], "rules_fired": [], "approvals": [], "calls": []}
        return {**out, "straight_through": False}
    day = as_of or case.get("review_date") or date.today().isoformat()
    screenings = [screen(Party(**p)).model_dump() for p in parties(case)]
    rev = review(case, screenings, day)
    calls = proposals(case, rev, 1)
    engine = load_policy_engine()
    requester = Principal(id="offline", tenant="default", roles=["operator"])
    approvals: list[str] = []
    for call in calls:
        spec = get_tool(call["name"])
        verdict = engine.decide(
            PolicyInput(
                tool=call["name"],
                risk=spec.risk,
                side_effect=spec.side_effect,
                args=call["args"],
                tenant="default",
                requester=requester,
                assistant_id="kyc_review",
            )
        )
        if verdict.effect == "require_approval":
            approvals.append(call["name"])
        call["policy"] = verdict.rule_id
    _, label = DECISIONS.get(rev["outcome"], (None, rev["outcome"]))
    return {
        "decision": label,
        "rules_fired": rev["rules_fired"],
        "approvals": approvals,
        "straight_through": label == "cleared" and "approve_onboarding" not in approvals,
        "calls": calls,
        "review": rev,
    }
