"""Reference agents on their traffic suites, with the real local model -> bench/results/agents.json.

Each agent's ``evals/suites/<agent>_traffic.jsonl`` (the documented realistic case mix) runs through the
default eval path, as ``steward eval run`` runs it: an embedded Temporal dev server, an in-process worker, the
agents with the deployed model from the embedded model server, scripted approvers that decide with keys and
proofs, every case scored from the event log. Per agent the file holds the straight-through metrics of
``evals.automation`` (straight_through_rate, automated_correct_rate, risky_routed_rate, decision_p50_s,
decision_p95_s), the case count and the model, and the eval run is logged to MLflow (the tracking store
``steward eval run`` uses: ``STEWARD_MLFLOW_TRACKING_URI``, else ``.steward/mlflow.db``), whose run id is
recorded beside the figures.

Temporal, the app store and the model server are this benchmark's own (a temporary home, free ports), so it
never shares a dev server's SQLite file with another process. ``--agents`` measures some agents and keeps the
others' entries from the existing file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import eval_settings, machine  # noqa: E402

SUITES = ROOT / "evals" / "suites"
TRAFFIC: dict[str, tuple[str, ...]] = {
    "loan_triage": ("loan_triage_traffic.jsonl",),
    "kyc_review": ("kyc_review_traffic.jsonl", "kyc_traffic.jsonl"),
    "claims": ("claims_traffic.jsonl",),
}
"""Agent -> its traffic suite's file name(s) under evals/suites (the first that exists is run)."""
OUT = ROOT / "bench" / "results" / "agents.json"
FIELDS = ("straight_through_rate", "automated_correct_rate", "risky_routed_rate", "decision_p50_s", "decision_p95_s")


DEMO_SOURCES = ROOT / "tools" / "data" / "sources.demo.yaml"
DEMO_CARRIER_PORT = 8790
"""The claims suites read shipments from the demo carrier on this loopback port (their header says so)."""


@contextlib.contextmanager
def carrier_for(agent: str) -> Iterator[None]:
    """The claims agent's carrier for its suite: the demo carrier portal on loopback, and the allow-list that
    names it (``STEWARD_SCRAPER_SOURCES``), as the suite's header asks; other agents need none."""
    if agent != "claims":
        yield
        return
    from tools.demo_carrier import DemoCarrier

    before = os.environ.get("STEWARD_SCRAPER_SOURCES")
    os.environ["STEWARD_SCRAPER_SOURCES"] = str(DEMO_SOURCES)
    try:
        with DemoCarrier(port=DEMO_CARRIER_PORT):
            yield
    finally:
        if before is None:
            os.environ.pop("STEWARD_SCRAPER_SOURCES", None)
        else:
            os.environ["STEWARD_SCRAPER_SOURCES"] = before


def traffic_suite(agent: str, chosen: dict[str, Path] | None = None) -> Path | None:
    if chosen and agent in chosen:
        return chosen[agent]
    return next((SUITES / n for n in TRAFFIC[agent] if (SUITES / n).exists()), None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def proposed(report: Any) -> set[str]:
    """The tools this agent's cases proposed (the risky definitions that could apply to it)."""
    return {str(c.get("tool")) for r in report.results for c in r.trajectory}


def entry(metrics: dict[str, float], model: str, suite: Path, report: Any, risky: list[Any]) -> dict[str, Any]:
    """One agent's figures, as measured (a rate with no case to count over is null, not 0 or 1)."""
    return {
        "cases": int(metrics.get("cases", 0)),
        **{k: _round(metrics.get(k)) for k in FIELDS},
        "model": model,
        "suite": str(suite.resolve().relative_to(ROOT)) if suite.resolve().is_relative_to(ROOT) else str(suite),
        "straight_through_cases": int(metrics.get("straight_through_cases", 0)),
        "risky_actions": int(metrics.get("risky_actions", 0)),
        "risky_blocked": int(metrics.get("risky_blocked", 0)),
        "risky_actions_defined_by": sorted({f"{d.tool} ({d.source})" for d in risky if d.tool in proposed(report)}),
        "pass_rate": _round(metrics.get("pass_rate")),
        "outcome_accuracy": _round(metrics.get("outcome_accuracy")),
        "errors": int(metrics.get("errors", 0)),
        "eval_run_id": report.meta.eval_run_id,
        "mlflow_run_id": report.meta.mlflow_run_id,
        "complete": report.complete,
    }


async def measure(
    agents: list[str], concurrency: int, case_timeout_s: float, chosen: dict[str, Path] | None = None
) -> dict[str, Any]:
    from evals.tracking import Tracker

    settings, uri = eval_settings("steward-agents-bench-")
    home = settings.home
    tracker = Tracker.from_settings(settings)
    try:
        return await _measure(settings, tracker, uri, agents, concurrency, case_timeout_s, chosen)
    finally:  # its own Temporal, app store and model copy: nothing here is kept (MLflow is elsewhere)
        shutil.rmtree(home, ignore_errors=True)


async def _measure(
    settings: Any,
    tracker: Any,
    uri: str,
    agents: list[str],
    concurrency: int,
    case_timeout_s: float,
    chosen: dict[str, Path] | None,
) -> dict[str, Any]:
    from evals.automation import handbook_risky_actions
    from runtime.store import open_store

    risky = handbook_risky_actions()
    store = open_store(settings.resolved_db_path)
    try:
        return await _run_agents(settings, tracker, uri, store, risky, agents, concurrency, case_timeout_s, chosen)
    finally:
        store.close()


async def _run_agents(
    settings: Any,
    tracker: Any,
    uri: str,
    store: Any,
    risky: list[Any],
    agents: list[str],
    concurrency: int,
    case_timeout_s: float,
    chosen: dict[str, Path] | None,
) -> dict[str, Any]:
    from evals.environment import eval_environment
    from evals.runner import prepare_journal, run_eval
    from evals.suites import load_suite, validate_inputs
    from evals.variants import resolve_assistant

    results: dict[str, Any] = {}
    async with eval_environment(settings, store, with_model=True) as target:
        model = target.model.split(" at ")[0]
        print(f"runtime: {target.description}", flush=True)
        for agent in agents:
            suite_path = traffic_suite(agent, chosen)
            if suite_path is None:
                print(f"{agent}: no traffic suite ({', '.join(TRAFFIC[agent])}); not measured", flush=True)
                continue
            suite = load_suite(suite_path)
            assistant = resolve_assistant(agent)
            validate_inputs(suite, assistant.name)
            journal = prepare_journal(settings.home, suite, assistant, concurrency=concurrency,
                                      case_timeout_s=case_timeout_s)  # fmt: skip
            t0 = time.perf_counter()
            with carrier_for(agent):
                report = await run_eval(journal, suite, assistant, target, tracker, params={"bench": "agents_bench"},
                                        traces=False)  # fmt: skip
            results[agent] = entry(report.metrics, model, suite_path, report, risky) | {
                "wall_s": round(time.perf_counter() - t0, 1)
            }
            print(f"{agent}: {json.dumps(results[agent])}", flush=True)
    for r in results.values():
        r["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        r["machine"] = machine()
        r["mlflow_tracking_uri"] = uri
        r["concurrency"] = concurrency
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", nargs="*", default=sorted(TRAFFIC), choices=sorted(TRAFFIC))
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--case-timeout", type=float, default=300.0)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--suite", action="append", default=[], metavar="AGENT=PATH", help="run this suite instead")
    a = ap.parse_args()
    chosen = {k: Path(v) for k, _, v in (s.partition("=") for s in a.suite)}
    measured = asyncio.run(measure(a.agents, a.concurrency, a.case_timeout, chosen))
    out = Path(a.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    merged = {**previous, **measured}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
