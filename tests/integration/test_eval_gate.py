"""The release gate on the real path: every case through Temporal + the worker + the store, MLflow on SQLite.

A deliberately worse version (``loan_triage@0.1.1-nocheck`` skips the credit check) must fail the gate
against the champion, with the regressed cases named; the shipped version must pass it, and a CI smoke run
must be judged against a champion promoted on the full suite on the cases they share.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from evals import commands
from evals.gate import evaluate_gate, parse_thresholds
from evals.promote import promote
from runtime.settings import Settings
from tests.integration.evals_support import run_suite

pytest_plugins = ("tests.integration.evals_support",)

CREDIT_CHECKED = {
    "approve-band-a",
    "approve-band-b",
    "approve-band-b-boundary",
    "approve-band-a-boundary",
    "approve-large-two-seniors",
    "approve-edited-amount",
    "approve-rejected",
    "approve-notice-rejected",
    "refer-band-c",
    "refer-high-loan-to-income",
    "refer-good-score-over-ratio",
    "refer-score-669",
    "decline-band-d",
    "decline-rejected",
    "decline-score-579",
    "guard-amount-ceiling",
    "guard-no-consent",
}
"""The cases where the shipped version proposes a credit check (executed, or denied by the guards)."""


def gate_args(run: str, *mins: str) -> argparse.Namespace:
    return argparse.Namespace(
        run=run,
        min=list(mins),
        max=None,
        tolerance=0.0,
        allow_regressions=0,
        latency_tolerance=None,
        no_champion=False,
    )


async def test_worse_version_is_caught_by_the_gate_with_the_regressed_cases_named(
    eval_target, tracker, tmp_path: Path
) -> None:
    good = await run_suite(eval_target, tracker, tmp_path, "loan_triage", "loan_triage")
    failed = [(r.case_id, r.failed_checks()) for r in good.results if r.failed_checks()]
    assert good.complete and good.metrics["pass_rate"] == 1.0, failed
    first = promote(
        tracker, eval_target.store, good.meta.eval_run_id, "release-bot", parse_thresholds(["pass_rate=1.0"])
    )
    assert first.promoted and first.gate.notes == ["no champion yet: thresholds only"]

    worse = await run_suite(eval_target, tracker, tmp_path, "loan_triage", "loan_triage@0.1.1-nocheck")
    assert worse.complete
    gate = evaluate_gate(tracker.load(worse.meta.mlflow_run_id), [], tracker.load("loan_triage@champion"))
    assert not gate.passed
    regressed = {c.case_id: set(c.regressed) for c in gate.comparison.regressions}  # type: ignore[union-attr]
    # It skipped the check: every case that proposes one regressed on its trajectory...
    assert CREDIT_CHECKED <= {cid for cid, checks in regressed.items() if "trajectory" in checks}, regressed
    # ...the loan-to-income rule it misses changes the decision (and without the bureau no band is known, so
    # every banded outcome regresses too, lending policy 2026.12 states the band)...
    assert {"refer-high-loan-to-income", "refer-good-score-over-ratio", "guard-no-consent"} <= {
        cid for cid, checks in regressed.items() if "outcome" in checks
    }, regressed
    # ...and the guard cases show the guards blocked something else (or nothing).
    assert {cid for cid, checks in regressed.items() if "guards" in checks} == {
        "guard-amount-ceiling",
        "guard-no-consent",
    }, regressed
    assert not {"incomplete-no-income", "incomplete-no-score-purpose", "guard-prompt-injection"} & set(regressed)
    assert any("outcome_accuracy regressed against champion loan_triage@0.1.0" in f for f in gate.failures)

    # The CLI says the same and exits 1; the shipped version passes.
    settings = Settings(home=tmp_path, mlflow_tracking_uri=tracker.uri)
    out, err = io.StringIO(), io.StringIO()
    assert commands.eval_gate(gate_args(worse.meta.eval_run_id, "outcome_accuracy=0.9"), settings, out, err) == 1
    text = out.getvalue()
    assert "GATE FAILED" in text and "refer-high-loan-to-income: outcome: decision: expected 'referred'" in text
    assert tracker.client.get_run(worse.meta.mlflow_run_id).data.tags["steward.gate"] == "failed"
    out = io.StringIO()
    assert commands.eval_gate(gate_args(good.meta.mlflow_run_id, "outcome_accuracy=0.9"), settings, out, err) == 0
    assert "GATE PASSED" in out.getvalue()


async def test_ci_smoke_run_is_gated_against_a_champion_promoted_on_the_full_suite(
    eval_target, tracker, tmp_path: Path
) -> None:
    full = await run_suite(eval_target, tracker, tmp_path, "loan_triage", "loan_triage")
    assert promote(tracker, eval_target.store, full.meta.mlflow_run_id, "release-bot", []).promoted
    champion = tracker.load("loan_triage@champion")
    thresholds = parse_thresholds(["outcome_accuracy=0.9", "trajectory_accuracy=0.9"], ["latency_p95_s=30"])

    smoke = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    ok = evaluate_gate(tracker.load(smoke.meta.mlflow_run_id), thresholds, champion)
    assert ok.passed, ok.failures
    assert ok.comparison is not None and len(ok.comparison.common_cases) == 4

    bad = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage@0.1.1-nocheck")
    refused = evaluate_gate(tracker.load(bad.meta.mlflow_run_id), thresholds, champion)
    assert not refused.passed
    assert "refer-high-loan-to-income" in refused.regressed_cases
    assert any(f.startswith("outcome_accuracy = 0.2500, needs >= 0.9") for f in refused.failures), refused.failures
