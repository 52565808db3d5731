"""The KYC suites written from the procedure: shape, independence, and every case through the decision path.

The decision path here is the agent's own (``agents.kyc_review.decide``: validated input, screening against
the shipped FtM list, the kyc_case/kyc_match rules, the policy's verdict on each proposed call) without
Temporal or a model, so all cases run in seconds; the eval runner runs the same cases end to end."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from agents.kyc_review import suites

SUITES = Path(__file__).parents[2] / "evals" / "suites"


def _cases(name: str) -> list[dict[str, Any]]:
    text = (SUITES / f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_shipped_suites_are_the_generators_output(tmp_path: Path) -> None:
    for name, path in suites.write(tmp_path).items():
        assert path.read_text() == (SUITES / f"{name}.jsonl").read_text(), f"regenerate {name}.jsonl"


def test_the_generator_does_not_import_the_code_it_checks() -> None:
    tree = ast.parse(Path(suites.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    forbidden = {"tools.rules", "tools.kyc", "tools.sanctions", "agents.kyc_review.decide", "yaml"}
    assert not imported & forbidden, imported
    assert "rules/" not in Path(suites.__file__).read_text()  # nor reads the rulesets' files


@pytest.mark.parametrize(("name", "least"), [("kyc_handbook", 100), ("kyc_traffic", 40)])
def test_suites_are_big_enough_valid_cited_and_differ_in_decision_fields(name: str, least: int) -> None:
    from evals.suites import load_suite, validate_inputs
    from tools.corpus import quote

    suite = load_suite(SUITES / f"{name}.jsonl")
    validate_inputs(suite, "kyc_review")
    assert len(suite.cases) >= least
    cites = sorted({c for case in suite.cases for c in case.cites})
    assert all(case.cites for case in suite.cases)
    assert [q["citation"] for q in quote(cites) if q.get("text")] == cites  # every cited section exists

    def decisive(case: Any) -> str:
        body = json.loads(json.dumps(case.input["case"]))
        body.pop("case_id")
        body["customer"].pop("customer_id")
        for p in body.get("related_parties", []):
            p.pop("party_id")
        return json.dumps([body, {k: d.action for k, d in case.decisions.items()}], sort_keys=True)

    if name == "kyc_handbook":
        assert len({decisive(c) for c in suite.cases}) == len(suite.cases)


def test_the_handbook_suite_covers_scripts_thresholds_and_parties() -> None:
    from rigour.text.scripts import text_scripts

    cases = _cases("kyc_handbook")
    names = [
        p["name"]
        for c in cases
        for p in [c["input"]["case"]["customer"], *c["input"]["case"].get("related_parties", [])]
    ]
    scripts = {s for n in names for s in text_scripts(n)}
    assert {"Cyrillic", "Arabic", "Greek", "Han", "Latin"} <= scripts and len(scripts - {"Latin"}) >= 6
    tags = {t for c in cases for t in c["tags"]}
    assert {"freshness", "dob", "pep", "edd", "related", "sole_proprietor", "incomplete", "organisation"} <= tags
    decisions = {c["expected"]["outcome"]["decision"] for c in cases}
    assert decisions == {"cleared", "cleared-rejected", "escalated", "review", "documents_requested", "incomplete"}


def _run(case: dict[str, Any]) -> dict[str, Any]:
    from agents.kyc_review.decide import decide_offline

    r = decide_offline(case["input"])
    rejected = {t for t, d in case["decisions"].items() if d == "reject"}
    if r["decision"] == "cleared" and "approve_onboarding" in rejected & set(r["approvals"]):
        r["decision"] = "cleared-rejected"
    return r


@pytest.mark.parametrize("name", ["kyc_handbook", "kyc_traffic"])
def test_every_case_gets_its_expected_decision_and_approvals(name: str) -> None:
    import tools.kyc  # noqa: F401 - registers the KYC tools
    import tools.retrieval  # noqa: F401 - registers search_policy

    wrong = []
    for case in _cases(name):
        r = _run(case)
        exp = case["expected"]
        got = {"decision": r["decision"], "approvals": sorted(r["approvals"])}
        want = {"decision": exp["outcome"]["decision"], "approvals": sorted(exp["approvals"])}
        if "missing" in exp["outcome"]:
            got["missing"], want["missing"] = r.get("missing"), exp["outcome"]["missing"]
        if "missing_documents" in exp["outcome"]:
            got["docs"], want["docs"] = r["review"]["missing_documents"], exp["outcome"]["missing_documents"]
        if got != want:
            wrong.append((case["id"], want, got, r.get("rules_fired")))
    assert not wrong, wrong


def test_traffic_straight_through_rate_and_risky_actions_routed() -> None:
    import tools.kyc  # noqa: F401
    import tools.retrieval  # noqa: F401
    from evals.automation import handbook_risky_actions, risky_definition

    risky = handbook_risky_actions()
    cases = _cases("kyc_traffic")
    automated = risky_calls = routed = 0
    for case in cases:
        r = _run(case)
        automated += r["straight_through"]
        for call in r["calls"]:
            if risky_definition({"tool": call["name"], "args": call["args"]}, risky):
                risky_calls += 1
                routed += call["name"] in r["approvals"]
    rate = automated / len(cases)
    assert rate >= 0.65, rate  # 42 of 61 standard retail persons (KYC-7.1)
    assert risky_calls > 0 and routed == risky_calls
