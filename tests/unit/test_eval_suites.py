"""Suites are validated on load: a bad line is refused with its line number and the field, before any case runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.suites import SuiteError, load_suite, parse_suite, validate_inputs
from evals.variants import known_versions, resolve_assistant
from runtime.errors import NotFound

SUITES = Path(__file__).resolve().parents[2] / "evals" / "suites"

GOOD = {
    "id": "ok",
    "input": {"application": {"application_id": "A", "applicant_id": "P", "amount": 10}},
    "expected": {"outcome": {"decision": "incomplete"}},
}


def lines(*cases: object) -> str:
    return "\n".join(c if isinstance(c, str) else json.dumps(c) for c in cases)


def error_of(text: str) -> str:
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "s.jsonl")
    return str(info.value)


def test_malformed_json_line_names_its_line() -> None:
    msg = error_of(lines(GOOD, "# a comment", '{"id": "x", "input": {'))
    assert msg.startswith("s.jsonl line 3: not valid JSON")


def test_missing_field_names_line_and_field() -> None:
    msg = error_of(lines(GOOD, {"id": "no-expected", "input": {}}))
    assert msg == "s.jsonl line 2: expected: Field required"


def test_nested_field_error_names_the_path() -> None:
    bad = {**GOOD, "id": "traj", "expected": {"trajectory": [{"tool": "credit_check"}, {"args": {}}]}}
    assert "s.jsonl line 2: expected.trajectory.1.tool: Field required" in error_of(lines(GOOD, bad))


def test_unknown_field_and_bad_mode_are_refused() -> None:
    assert "line 1: expected.outcom: Extra inputs are not permitted" in error_of(
        lines({**GOOD, "expected": {"outcom": {}}})
    )
    msg = error_of(lines({**GOOD, "expected": {"trajectory_mode": "sorted"}}))
    assert "line 1: expected.trajectory_mode" in msg and "'strict'" in msg


def test_unknown_args_matcher_names_the_known_ones() -> None:
    msg = error_of(lines({**GOOD, "expected": {"args_match": {"approve_loan": "fuzzy"}}}))
    assert "line 1: expected.args_match" in msg and "unknown args_match 'fuzzy'" in msg and "subset" in msg


def test_edit_decision_needs_args() -> None:
    msg = error_of(lines({**GOOD, "decisions": {"approve_loan": "edit"}}))
    assert "line 1: decisions.approve_loan" in msg and "needs 'args'" in msg


def test_repeated_case_id_names_both_lines() -> None:
    assert error_of(lines(GOOD, "", GOOD)) == "s.jsonl line 3: id: 'ok' repeats the case on line 1"


def test_empty_suite_and_missing_file_are_refused(tmp_path: Path) -> None:
    assert error_of("# nothing\n") == "s.jsonl: the suite has no cases"
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "nope.jsonl")


def test_input_that_fails_the_assistant_schema_names_line_and_field() -> None:
    bad = {**GOOD, "id": "neg", "input": {"application": {"application_id": "A", "applicant_id": "P", "amount": -5}}}
    s = parse_suite(lines(GOOD, bad), "s.jsonl")
    with pytest.raises(SuiteError) as info:
        validate_inputs(s, "loan_triage")
    assert "s.jsonl line 2 (case 'neg'): input.application.amount" in str(info.value)


def test_bundled_suites_load_and_validate() -> None:
    full = load_suite(SUITES / "loan_triage.jsonl")
    smoke = load_suite(SUITES / "smoke.jsonl")
    assert len(full.cases) >= 12 and 3 <= len(smoke.cases) <= 4
    assert {"approve", "refer", "decline", "incomplete", "guard"} <= set(full.tags())
    assert {c.id for c in smoke.cases} <= {c.id for c in full.cases}
    actions = {d.action for c in full.cases for d in c.decisions.values()}
    assert {"approve", "reject", "edit"} <= actions
    validate_inputs(full, "loan_triage")
    validate_inputs(smoke, "loan_triage")


def test_unknown_assistant_or_version_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(NotFound, match="assistant 'nobody' not found; known: .*loan_triage"):
        resolve_assistant("nobody")
    with pytest.raises(NotFound, match=r"no version or alias '9.9'; known versions: \['0.1.0', '0.1.1-nocheck'\]"):
        resolve_assistant("loan_triage@9.9")
    assert "0.1.1-nocheck" in known_versions("loan_triage")
    assert resolve_assistant("loan_triage").assistant_id == "loan_triage"
    assert resolve_assistant("loan_triage@0.1.1-nocheck").assistant_id == "loan_triage@0.1.1-nocheck"
