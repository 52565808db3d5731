"""The rules engine: rulesets are data, typed and versioned; results name the rules that fired."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.corpus import get_section
from tools.rules import RULES_DIR, load_ruleset

RULESETS = sorted(p.stem for p in RULES_DIR.glob("*.yaml"))


def lending(**facts: object) -> object:
    base = {
        "complete": True,
        "band": "A",
        "pd": 0.02,
        "amount": 20000.0,
        "loan_to_income": 0.2,
        "model_available": True,
        "annual_income": 90000.0,
        "monthly_income": 7000.0,
        "term_months": 60.0,
        "annual_rate": 0.069,
        "monthly_obligations": 2100.0,
        "dsti": 0.33,
        "employment_status": "employed",
        "age": 41.0,
        "purpose": "car",
        "currency": "EUR",
    }
    return load_ruleset("lending").evaluate({**base, **facts})


@pytest.mark.parametrize(
    ("facts", "outcome", "fired"),
    [
        ({}, "approve", ["LEND-APPROVE"]),
        ({"dsti": 0.2}, "approve", ["LEND-APPROVE", "LEND-STP-ELIGIBLE"]),
        ({"band": "C"}, "refer", ["LEND-BAND-C"]),
        ({"band": "D"}, "decline", ["LEND-BAND-D"]),
        ({"complete": False}, "incomplete", ["LEND-INCOMPLETE"]),
        ({"pd": 0.12}, "refer", ["LEND-PD-ELEVATED", "LEND-APPROVE"]),
        ({"loan_to_income": 7.0}, "refer", ["LEND-LTI-CEILING", "LEND-APPROVE"]),
        ({"amount": 600000.0}, "refer", ["LEND-MANDATE", "LEND-APPROVE"]),
        # Fail safe (LP-3.4): without a model score band A is referred, never approved on the band alone.
        ({"pd": None, "model_available": False}, "refer", ["LEND-NO-SCORE", "LEND-APPROVE"]),
        # The model alone never declines (LP-3.3): a high PD in band D declines because of the band.
        ({"band": "D", "pd": 0.9}, "decline", ["LEND-BAND-D"]),
        ({"term_months": None, "dsti": None}, "refer", ["LEND-MISSING-TERM", "LEND-APPROVE"]),
        ({"purpose": "stock for my shop"}, "refer", ["LEND-COMMERCIAL-PURPOSE", "LEND-APPROVE"]),
        ({"dsti": 0.5}, "decline", ["LEND-DSTI-DECLINE", "LEND-APPROVE"]),
    ],
)
def test_lending_outcome_is_the_most_severe_fired_rule(facts: dict, outcome: str, fired: list[str]) -> None:
    result = lending(**facts)
    assert result.outcome == outcome
    assert result.fired_ids == fired


def test_first_match_mode_stops_at_the_first_rule() -> None:
    bands = load_ruleset("credit_band")
    assert bands.evaluate({"credit_score": 760, "loan_to_income": 0.22}).fired_ids == ["R-BAND-A"]
    assert bands.evaluate({"credit_score": 760, "loan_to_income": 3.5}).fired_ids == ["R-BAND-B"]
    # No income: no ratio, so never band A or B (LP-3.1).
    assert bands.evaluate({"credit_score": 800, "loan_to_income": None}).outcome == "C"
    assert bands.evaluate({"credit_score": 500, "loan_to_income": 0.1}).outcome == "D"


def test_results_carry_version_digest_reasons_and_citations() -> None:
    result = lending(band="D")
    assert result.ruleset == "lending" and result.version.startswith("2026.12.1+") and len(result.digest) == 12
    assert result.reasons() == ["LEND-BAND-D: bureau band D"]
    assert result.citations == ["lending-policy#LP-4.3", "lending-policy#LP-6.2"]


@pytest.mark.parametrize("name", RULESETS)
def test_every_citation_resolves_to_a_shipped_policy_section(name: str) -> None:
    for rule in load_ruleset(name).doc.rules:
        for cite in rule.cites:
            assert get_section(cite).text, cite


def test_unknown_facts_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown facts \['bnad'\]; known: \['age', 'amount'"):
        load_ruleset("lending").evaluate({"bnad": "A"})


def _write(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / f"{name}.yaml").write_text(body)
    return tmp_path


HEADER = """ruleset: demo
version: "1"
facts: {score: float, tag: string}
outcomes: [miss, hit]
default_outcome: miss
on_error: miss
"""


def test_a_typo_in_a_rule_fails_when_the_ruleset_loads(tmp_path: Path) -> None:
    d = _write(tmp_path, "demo", HEADER + "rules:\n  - {id: R-1, when: 'scor > 3', outcome: hit, reason: r}\n")
    with pytest.raises(ValueError, match="rule 'R-1': SymbolResolutionError"):
        load_ruleset("demo", d)


def test_a_type_error_in_a_rule_fails_when_the_ruleset_loads(tmp_path: Path) -> None:
    d = _write(tmp_path, "demo", HEADER + "rules:\n  - {id: R-1, when: 'tag > 3', outcome: hit, reason: r}\n")
    with pytest.raises(ValueError, match="rule 'R-1'"):
        load_ruleset("demo", d)


def test_an_evaluation_error_never_fires_and_forces_the_on_error_outcome(tmp_path: Path) -> None:
    d = _write(tmp_path, "demo", HEADER + "rules:\n  - {id: R-1, when: 'score > 3', outcome: hit, reason: r}\n")
    result = load_ruleset("demo", d).evaluate({"score": None})
    assert result.fired == [] and result.outcome == "miss"
    assert result.errors and result.errors[0].startswith("R-1: ")


def test_editing_a_ruleset_changes_its_version(tmp_path: Path) -> None:
    d = _write(tmp_path, "demo", HEADER + "rules:\n  - {id: R-1, when: 'score > 3', outcome: hit, reason: r}\n")
    before = load_ruleset("demo", d)
    import os

    path = d / "demo.yaml"
    path.write_text(path.read_text().replace("score > 3", "score > 5"))
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9, path.stat().st_mtime_ns + 10**9))
    after = load_ruleset("demo", d)
    assert before.version != after.version
    assert after.evaluate({"score": 4.0}).outcome == "miss"


def test_unknown_ruleset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="ruleset 'nope' not found; known: \\['claims', 'credit_band'"):
        load_ruleset("nope")


def test_claims_rules_route_contradictions_and_injection_to_a_person() -> None:
    claims = load_ruleset("claims")
    base = {
        "complete": True,
        "claim_type": "loss",
        "evidence_available": True,
        "injection_suspected": False,
        "carrier_status": "lost",
        "signed": False,
        "damaged_on_delivery": False,
        "in_policy_period": True,
        "payout": 900.0,
        "fraud_indicators": [],
        "date_conflicts": [],  # claims 2026.12: list facts are always given (empty when nothing is wrong)
        "missing_evidence": [],
    }
    assert claims.evaluate(base).outcome == "pay"
    assert claims.evaluate({**base, "carrier_status": "delivered", "signed": True}).fired_ids == [
        "CLM-LOSS-BUT-DELIVERED"
    ]
    injected = claims.evaluate({**base, "injection_suspected": True})
    assert injected.outcome == "review" and "CLM-PAGE-INJECTION" in injected.fired_ids
    assert claims.evaluate({**base, "evidence_available": False, "carrier_status": None}).outcome == "review"
    assert claims.evaluate({**base, "in_policy_period": False}).outcome == "decline"
