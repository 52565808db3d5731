"""Re-running an eval on the same versions gives the same scores, at any concurrency.

The stand-in proposers and the rules are deterministic, so every quality score, every check with its reason,
every outcome and trajectory must repeat exactly; only latency may differ. (A real model behind an agent
would be sampled with a fixed seed and temperature 0 where the backend allows it.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.journal import CaseResult
from evals.scorers import QUALITY_METRICS
from tests.integration.evals_support import run_suite

pytest_plugins = ("tests.integration.evals_support",)


def own_run_ids_masked(r: CaseResult, args: dict[str, Any]) -> dict[str, Any]:
    """A notice cites the decision that ran as ``<run id>:<call id>`` (lending policy 2026.12). Run ids differ
    between two evals by design (checked below), so the fingerprint keeps the call id and checks that the
    reference names this case's own run."""
    ref = args.get("decision_reference")
    if ref is None:
        return args
    run_id, _, call = str(ref).partition(":")
    assert run_id == r.run_id, f"{r.case_id}: the notice cites {ref!r}, not a decision of its own run {r.run_id}"
    return {**args, "decision_reference": f"<own run>:{call}"}


def fingerprint(r: CaseResult) -> dict[str, Any]:
    return {
        "status": r.status,
        "passed": r.passed,
        "checks": {k: c and c.model_dump() for k, c in r.checks.items()},
        "decision": (r.outcome or {}).get("decision"),
        "decided_by": (r.outcome or {}).get("decided_by"),
        "trajectory": [(c["tool"], c["status"], c["step"], own_run_ids_masked(r, c["args"])) for c in r.trajectory],
        "approvals": [(a["tool"], a["required_role"], a["approvals_required"], a["status"]) for a in r.approvals],
        "guard_blocks": r.guard_blocks,
        "tokens": r.tokens,
    }


async def test_rerunning_the_same_versions_gives_the_same_scores(eval_target, tmp_path: Path) -> None:
    for ref in ("loan_triage", "loan_triage@0.1.1-nocheck"):
        one = await run_suite(eval_target, None, tmp_path, "loan_triage", ref, concurrency=1)
        four = await run_suite(eval_target, None, tmp_path, "loan_triage", ref, concurrency=4)
        assert {k: one.metrics.get(k) for k in QUALITY_METRICS} == {k: four.metrics.get(k) for k in QUALITY_METRICS}
        assert one.metrics["tokens_total"] == four.metrics["tokens_total"]
        assert [fingerprint(r) for r in one.results] == [fingerprint(r) for r in four.results]
        assert {r.run_id for r in one.results if r.run_id}.isdisjoint({r.run_id for r in four.results})
