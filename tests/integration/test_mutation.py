"""The mutation check on the real path (real Temporal dev server, the eval runner, an in-process worker):
every threshold moved one step each way; a suite with cases at and beside a threshold kills both of its
mutants, and a threshold no case sits at survives and is named."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from agents.registry import register_assistant
from evals.environment import EvalTarget
from evals.mutation import check_ruleset, render, thresholds
from guards.policy import load_policy_engine
from runtime.worker import build_worker
from tests.integration.mutation_probe import PROBE, RULES, RULESET

# Expected bands straight from the table in RULES (a banding table's "below, at and above"), not from the code.
CASES = [(699, "B"), (700, "A"), (600, "B"), (599, "C"), (1000, "S")]


async def test_each_threshold_moved_one_step_is_killed_by_a_case_or_reported_as_survivor(
    client, store, task_queue, tmp_path: Path
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / f"{RULESET}.yaml").write_text(RULES)
    suite = tmp_path / "probe.jsonl"
    suite.write_text(
        "\n".join(
            json.dumps({"id": f"score-{s}", "input": {"score": s}, "expected": {"outcome": {"decision": band}}})
            for s, band in CASES
        )
        + "\n"
    )
    assert [t.label for t in thresholds(yaml.safe_load(RULES))] == [
        "probe_band/PROBE-S: score >= 900",
        "probe_band/PROBE-A: score >= 700",
        "probe_band/PROBE-B: 600 <= score",
    ]  # "!= 0.5" is no threshold
    register_assistant(PROBE)
    try:
        async with build_worker(client, task_queue, store, load_policy_engine(), assistants=[PROBE]):
            target = EvalTarget(client, task_queue, store, "test worker")
            report = await check_ruleset(
                target, tmp_path, RULESET, "mutation_probe", suite, rules_dir=rules_dir, concurrency=3
            )
    finally:  # the registry is process-wide: later tests list every assistant and its model card
        from agents.registry import _EXTRA

        _EXTRA.pop(PROBE.name, None)
    assert report.baseline_failed == []
    killed = {(m.threshold, m.mutated): m.killed_by for m in report.mutants}
    assert killed == {
        ("probe_band/PROBE-S: score >= 900", "901"): None,
        ("probe_band/PROBE-S: score >= 900", "899"): None,
        ("probe_band/PROBE-A: score >= 700", "701"): "score-700",
        ("probe_band/PROBE-A: score >= 700", "699"): "score-699",
        ("probe_band/PROBE-B: 600 <= score", "601"): "score-600",
        ("probe_band/PROBE-B: 600 <= score", "599"): "score-599",
    }
    assert all(m.loaded for m in report.mutants), "every mutant was served to the agent"
    assert [m.mutated for m in report.survivors] == ["901", "899"]
    assert "SURVIVOR probe_band/PROBE-S: score >= 900 -> 901" in render([report])
    assert (rules_dir / f"{RULESET}.yaml").read_text() == RULES, "the real ruleset is never touched"
