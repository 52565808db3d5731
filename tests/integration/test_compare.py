"""``steward eval compare``: two real eval runs side by side, a markdown report and a PNG, regressions named."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from evals import commands
from evals.compare import compare
from evals.promote import promote
from runtime.settings import Settings
from tests.integration.evals_support import run_suite

pytest_plugins = ("tests.integration.evals_support",)


async def test_compare_shows_metrics_side_by_side_and_names_regressed_cases(
    eval_target, tracker, tmp_path: Path
) -> None:
    a = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    b = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage@0.1.1-nocheck")
    settings = Settings(home=tmp_path, mlflow_tracking_uri=tracker.uri)
    report_dir = tmp_path / "report"
    args = argparse.Namespace(run_a=a.meta.eval_run_id, run_b=b.meta.mlflow_run_id, out=str(report_dir))
    out, err = io.StringIO(), io.StringIO()
    assert commands.eval_compare(args, settings, out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert f"A: loan_triage@0.1.0  run {a.meta.mlflow_run_id}" in text
    assert "B: loan_triage@0.1.1-nocheck" in text
    pass_rate = next(line for line in text.splitlines() if line.startswith("pass_rate "))
    assert pass_rate.split()[1:4] == ["1.000", "0.250", "-0.750"] and pass_rate.endswith("worse")
    assert "3 case(s) regressed" in text
    assert "refer-high-loan-to-income: outcome: decision: expected 'referred', got 'approved'" in text, text
    assert "incomplete-no-income" not in text.split("regressed")[1]

    md = (report_dir / "comparison.md").read_text()
    assert "| pass_rate | 1.000 | 0.250 | -0.750 | worse |" in md
    assert "## Regressed cases" in md and "| refer-high-loan-to-income | outcome, trajectory, approvals |" in md
    png = (report_dir / "comparison.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    logged = {
        f.path for f in tracker.client.list_artifacts(b.meta.mlflow_run_id, f"eval/compare-{a.meta.mlflow_run_id[:8]}")
    }
    assert {p.rsplit("/", 1)[1] for p in logged} == {"comparison.md", "comparison.png"}


async def test_compare_against_the_champion_by_alias(eval_target, tracker, tmp_path: Path) -> None:
    a = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    assert promote(tracker, eval_target.store, a.meta.mlflow_run_id, "release-bot", []).promoted
    b = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    args = argparse.Namespace(run_a="champion", run_b=b.meta.eval_run_id, out=str(tmp_path / "r"))
    out = io.StringIO()
    assert (
        commands.eval_compare(args, Settings(home=tmp_path, mlflow_tracking_uri=tracker.uri), out, io.StringIO()) == 0
    )
    assert "no case regressed" in out.getvalue()
    cmp = compare(tracker.load("loan_triage@champion"), tracker.load(b.meta.mlflow_run_id))
    assert cmp.a.run_id == a.meta.mlflow_run_id and not cmp.regressions and not cmp.improvements
