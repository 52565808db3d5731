"""Fixtures and helpers for the eval tests: the real runtime (session dev server, a worker serving every eval
variant on the test's own task queue) and a real MLflow on a SQLite file of the test's own.

MLflow migrates a new SQLite database in several seconds, so the session migrates one template and each test
copies it (milliseconds): every test still gets its own tracking store and registry.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evals.environment import EvalTarget
from evals.runner import EvalReport, prepare_journal, run_eval
from evals.suites import Suite, load_suite
from evals.tracking import Tracker
from evals.variants import resolve_assistant

SUITES = Path(__file__).resolve().parents[2] / "evals" / "suites"


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    Tracker(f"sqlite:///{path}")
    return path


@pytest.fixture
def tracker(mlflow_template: Path, tmp_path: Path) -> Tracker:
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(mlflow_template, db)
    return Tracker(f"sqlite:///{db}", (tmp_path / "mlflow" / "mlruns").as_uri())


@pytest.fixture
async def eval_target(client, store, task_queue) -> AsyncIterator[EvalTarget]:  # type: ignore[no-untyped-def]
    from evals.variants import worker_assistants
    from guards.policy import load_policy_engine
    from runtime.worker import build_worker

    worker = build_worker(client, task_queue, store, load_policy_engine(), assistants=worker_assistants())
    async with worker:
        yield EvalTarget(client, task_queue, store, f"test worker on {task_queue}")


def suite(name: str) -> Suite:
    return load_suite(SUITES / f"{name}.jsonl")


async def run_suite(
    target: EvalTarget,
    tracker: Tracker | None,
    home: Path,
    suite_name: str,
    ref: str,
    concurrency: int = 4,
    **kw: Any,
) -> EvalReport:
    s = suite(suite_name)
    assistant = resolve_assistant(ref, tracker.alias_resolver if tracker else None)
    journal = prepare_journal(home, s, assistant, concurrency=concurrency, case_timeout_s=60)
    return await run_eval(journal, s, assistant, target, tracker, **kw)
