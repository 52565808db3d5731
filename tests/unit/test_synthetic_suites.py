"""The shipped KYC and claims eval suites are the seeded generator's output, valid, and big enough."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.suites import load_suite, validate_inputs
from tools.demo_carrier import SHIPMENTS
from tools.synthetic import demo_shipments, write_eval_suites

SUITES = Path(__file__).parents[2] / "evals" / "suites"


def test_shipped_suites_are_exactly_what_the_seed_generates(tmp_path: Path) -> None:
    generated = write_eval_suites(tmp_path)
    for name, path in generated.items():
        assert path.read_text() == (SUITES / f"{name}.jsonl").read_text(), f"regenerate {name}.jsonl"


@pytest.mark.parametrize("name", ["kyc_review", "claims"])
def test_suites_validate_and_have_thirty_cases_with_expected_trajectory_and_approvals(name: str) -> None:
    suite = load_suite(SUITES / f"{name}.jsonl")
    validate_inputs(suite, name)
    assert len(suite.cases) >= 30
    for case in suite.cases:
        assert case.expected.outcome and "decision" in case.expected.outcome
        assert case.expected.trajectory is not None and case.expected.approvals is not None


def test_every_claim_points_at_a_shipment_the_demo_carrier_serves_or_a_deliberate_gap() -> None:
    served = {**SHIPMENTS, **demo_shipments()}
    suite = load_suite(SUITES / "claims.jsonl")
    numbers = {c.input["claim"]["shipment"]["tracking_number"]: c.id for c in suite.cases}
    unserved = {cid for number, cid in numbers.items() if number not in served}
    assert all("unknown-tracking" in cid or "incomplete" in cid for cid in unserved), unserved
