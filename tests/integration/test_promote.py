"""Promotion moves the ``champion`` alias (model and prompts) only through the gate, and the audit trail says so.

The better version is promoted and then used: ``loan_triage@champion`` resolves to it and runs its graph.
A worse version is refused, the alias stays where it was, and the refusal is audited with its reasons.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from agents.loan_triage.prompts import EXPLAIN
from evals import commands
from evals.gate import parse_thresholds
from evals.promote import champion_prompt, promote
from evals.tracking import model_name
from evals.variants import resolve_assistant
from runtime.settings import Settings
from tests.integration.evals_support import run_suite

pytest_plugins = ("tests.integration.evals_support",)

PROMPT = "loan_triage.explain"
"""The one prompt loan_triage sends (both versions send it, through the shared summarize)."""


async def test_better_version_is_promoted_and_the_agent_then_uses_it(eval_target, tracker, tmp_path: Path) -> None:
    store = eval_target.store
    worse = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage@0.1.1-nocheck")
    first = promote(tracker, store, worse.meta.mlflow_run_id, "release-bot", [])
    assert first.promoted and first.previous_version is None
    assert resolve_assistant("loan_triage@champion", tracker.alias_resolver).version == "0.1.1-nocheck"
    assert champion_prompt(tracker, PROMPT) == EXPLAIN

    better = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    second = promote(tracker, store, better.meta.eval_run_id, "release-bot", parse_thresholds(["outcome_accuracy=0.9"]))
    assert second.promoted and second.previous_version == first.version and second.version != first.version
    assert second.gate.comparison is not None and second.gate.comparison.improvements
    mv = tracker.client.get_model_version_by_alias(model_name("loan_triage"), "champion")
    assert mv.tags["assistant_version"] == "0.1.0" and mv.run_id == better.meta.mlflow_run_id
    assert champion_prompt(tracker, PROMPT) == EXPLAIN
    assert second.prompts[PROMPT] == first.prompts[PROMPT], "the same text keeps its registry version"

    # The agent uses the promoted version: @champion resolves to the shipped graph, which checks credit.
    champion = resolve_assistant("loan_triage@champion", tracker.alias_resolver)
    assert (champion.version, champion.assistant_id) == ("0.1.0", "loan_triage")
    used = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage@champion")
    assert used.meta.assistant_id == "loan_triage" and used.metrics["pass_rate"] == 1.0
    assert any(c["tool"] == "credit_check" for r in used.results for c in r.trajectory)

    records = [r for r in store.audit_records() if r["action"].startswith("eval.")]
    assert [(r["action"], r["actor"]) for r in records] == [("eval.promoted", "release-bot")] * 2
    assert records[1]["data"]["version"] == second.version and records[1]["data"]["previous_version"] == first.version
    assert records[1]["data"]["assistant_version"] == "0.1.0" and records[1]["data"]["gate"]["passed"]
    ok, message = store.verify_audit()
    assert ok, message


async def test_worse_version_is_refused_and_the_champion_stays(eval_target, tracker, tmp_path: Path) -> None:
    store = eval_target.store
    good = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage")
    assert promote(tracker, store, good.meta.mlflow_run_id, "release-bot", []).promoted
    before = tracker.client.get_model_version_by_alias(model_name("loan_triage"), "champion").version

    worse = await run_suite(eval_target, tracker, tmp_path, "smoke", "loan_triage@0.1.1-nocheck")
    settings = Settings(home=tmp_path, mlflow_tracking_uri=tracker.uri, db_path=store.path)
    args = argparse.Namespace(
        run=worse.meta.eval_run_id,
        min=["outcome_accuracy=0.9"],
        max=None,
        tolerance=0.0,
        allow_regressions=0,
        alias="champion",
        as_user="mallory",
        no_prompts=False,
    )
    out, err = io.StringIO(), io.StringIO()
    assert commands.promote(args, settings, out, err) == 1
    assert "not promoted: steward.loan_triage@champion stays at version 1" in out.getvalue()
    assert tracker.client.get_model_version_by_alias(model_name("loan_triage"), "champion").version == before
    assert resolve_assistant("loan_triage@champion", tracker.alias_resolver).version == "0.1.0"
    assert champion_prompt(tracker, PROMPT) == EXPLAIN

    from runtime.store import Store

    refused = [r for r in Store(store.path).audit_records() if r["action"] == "eval.promotion_refused"]
    assert len(refused) == 1 and refused[0]["actor"] == "mallory"
    data = refused[0]["data"]
    assert data["assistant_version"] == "0.1.1-nocheck" and not data["gate"]["passed"]
    assert "refer-high-loan-to-income" in data["gate"]["regressed_cases"]
    assert tracker.client.get_run(worse.meta.mlflow_run_id).data.tags["steward.gate"] == "failed"
