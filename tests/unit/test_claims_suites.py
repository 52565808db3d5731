"""Every case of the claims suites through the agent's deterministic decision path: the carrier's record as the
demo carrier serves it (API fields, or its page read by the labelled-field rules), the policy, the claims rules
(``tools.claims.assess``), the proposed action and the policy engine's verdict on it. No model, no Temporal:
this is the quick check that the rules decide each case as the handbook says (the suites' expectations are
written from the handbook by ``tools.claims_cases``, which imports neither the rules engine nor the rulesets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.suites import load_suite
from guards.policy import PolicyEngine, PolicyInput
from guards.types import Principal
from tools.claims import _policies, assess, proposed_action
from tools.demo_carrier import DemoCarrier, render
from tools.extraction import extract_regex, facts_from_api
from tools.registry import get_tool
from tools.scraper import html_to_text, screen_injection

SUITES = Path(__file__).parents[2] / "evals" / "suites"
REQUIRED = ("amount_claimed", "declared_value", "currency", "incident_on", "reported_on")
ENGINE = PolicyEngine()
_SERVED: dict[str, dict[str, Any]] = {}


def served() -> dict[str, dict[str, Any]]:
    if not _SERVED:
        carrier = DemoCarrier(port=0)
        _SERVED.update(carrier.shipments)
        carrier.server.server_close()
    return _SERVED


def deterministic_decision(claim: dict[str, Any], scripted: dict[str, str]) -> dict[str, Any]:
    """What the agent decides for ``claim`` on the rule-based path, and whether a person was asked."""
    claim = {"prior_claims": [], **claim}
    if any(claim.get(f) in (None, "") for f in REQUIRED):
        return {"decision": "incomplete", "asked": [], "payout": None, "rules": []}
    number, source = claim["shipment"]["tracking_number"], claim["shipment"]["carrier"]
    record = served().get(number)
    facts, injected, by = None, False, "none"
    if record is not None and source in ("demo", "demo-api"):
        if source == "demo-api":
            api = {k: v for k, v in record.items() if k != "layout"}
            facts, by = facts_from_api(api), "carrier_api"
            injected = bool(screen_injection(" ".join(str(v) for v in api.values() if isinstance(v, str))))
        else:
            text = html_to_text(render(number, record))
            facts, by = extract_regex(text), "carrier_page"
            injected = bool(screen_injection(text))
    a = assess(
        claim,
        _policies().get(claim["policy_id"]),
        facts if facts is not None and facts.status != "unknown" else None,
        injection_suspected=injected,
        evidence_source=by,
    )
    action = proposed_action(claim, a, "r1")
    tool = get_tool(action["name"])
    verdict = ENGINE.decide(
        PolicyInput(
            tool=action["name"],
            risk=tool.risk,
            side_effect=tool.side_effect,
            args=action["args"],
            tenant="default",
            requester=Principal(id="eval-requester", roles=["operator"]),
            assistant_id="claims",
        )
    )
    label = {"pay_claim": "paid", "decline_claim": "declined", "refer_to_adjuster": "referred"}[action["name"]]
    asked = [action["name"]] if verdict.effect == "require_approval" else []
    if asked and scripted.get(action["name"], "reject") != "approve":
        label = f"{label}-rejected"
    return {"decision": label, "asked": asked, "payout": a["payout"], "rules": a["rules_fired"], "policy": verdict}


def _cases(name: str) -> list[Any]:
    path = SUITES / f"{name}.jsonl"
    return load_suite(path).cases if path.exists() else []


@pytest.mark.parametrize("name", ["claims", "claims_handbook", "claims_traffic"])
def test_every_suite_case_is_decided_as_the_handbook_says(name: str) -> None:
    cases = _cases(name)
    if name != "claims":
        assert len(cases) >= (100 if name == "claims_handbook" else 40)
    wrong: list[str] = []
    for case in cases:
        scripted = {tool: d.action for tool, d in case.decisions.items()}
        got = deterministic_decision(case.input["claim"], scripted)
        want = case.expected.outcome or {}
        problems = []
        if got["decision"] != want.get("decision"):
            problems.append(f"decision {got['decision']} != {want.get('decision')}")
        if "payout" in want and (got["payout"] is None or abs(got["payout"] - want["payout"]) > 0.005):
            problems.append(f"payout {got['payout']} != {want['payout']}")
        if "rules_fired" in want and got.get("rules") != want["rules_fired"]:
            problems.append(f"rules {got.get('rules')} != {want['rules_fired']}")
        if case.expected.approvals is not None and got["asked"] != [a.tool for a in case.expected.approvals]:
            problems.append(f"asked {got['asked']} != {[a.tool for a in case.expected.approvals]}")
        if problems:
            wrong.append(f"{case.id}: {'; '.join(problems)} (rules {got.get('rules')})")
    assert not wrong, "\n".join(wrong)


def test_shipped_claims_suites_and_carrier_records_are_what_the_generator_writes(tmp_path: Path) -> None:
    from agents.claims.suites import SHIPMENTS_FILE, write_claims_suites

    written = write_claims_suites(tmp_path, tmp_path / "shipments.json")
    for name in ("claims_handbook", "claims_traffic"):
        assert written[name].read_text() == (SUITES / f"{name}.jsonl").read_text(), f"regenerate {name}.jsonl"
    assert written["shipments"].read_text() == SHIPMENTS_FILE.read_text()


def test_every_case_cites_the_handbook_and_cases_differ_in_decision_fields() -> None:
    from tools.corpus import quote

    for name in ("claims_handbook", "claims_traffic"):
        lines = [ln for ln in (SUITES / f"{name}.jsonl").read_text().splitlines() if ln and not ln.startswith("#")]
        seen: set[str] = set()
        for line in lines:
            case = json.loads(line)
            assert case["cites"] and all(q.get("text") for q in quote(case["cites"])), case["id"]
            claim = {k: v for k, v in case["input"]["claim"].items() if k not in ("claim_id", "shipment")}
            record = served().get(case["input"]["claim"]["shipment"]["tracking_number"])
            key = json.dumps([claim, record, case["input"]["claim"]["shipment"]["carrier"]], sort_keys=True)
            if name == "claims_handbook":
                assert key not in seen, f"{case['id']} repeats another case's decision-relevant fields"
            seen.add(key)


def _differs(case: Any) -> bool:
    got = deterministic_decision(case.input["claim"], {t: d.action for t, d in case.decisions.items()})
    if got["decision"] != (case.expected.outcome or {}).get("decision"):
        return True
    return case.expected.approvals is not None and got["asked"] != [a.tool for a in case.expected.approvals]


def test_moving_any_claims_threshold_one_step_fails_a_handbook_case(tmp_path: Path) -> None:
    """The mutation check on the deterministic path (``evals.mutation`` runs it through the runtime): every
    threshold of ``claims.yaml``, one step up and one step down, changes the decision of some handbook case."""
    import yaml

    from evals.mutation import _write_rules, mutated, serving_rules, thresholds
    from tools.rules import RULES_DIR

    doc = yaml.safe_load((RULES_DIR / "claims.yaml").read_text())
    cases = _cases("claims_handbook")
    fired = {c.id: set(deterministic_decision(c.input["claim"], {})["rules"]) for c in cases}
    survivors: list[str] = []
    for i, threshold in enumerate(thresholds(doc)):
        # The cases where the mutated rule fired come first: most mutants die on one of them.
        ordered = sorted(cases, key=lambda c: threshold.rule_id not in fired[c.id])
        for direction in (1, -1):
            target = tmp_path / f"m{i}{'up' if direction > 0 else 'down'}"
            _write_rules(RULES_DIR, target, "claims", mutated(doc, threshold, threshold.moved(direction)))
            with serving_rules(target):
                killed = any(_differs(c) for c in ordered)
            if not killed:
                survivors.append(f"{threshold.label} moved {'up' if direction > 0 else 'down'}")
    assert not survivors, "\n".join(survivors)
