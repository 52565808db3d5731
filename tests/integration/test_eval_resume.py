"""An interrupted eval keeps its finished cases, and ``--resume`` runs only the rest, into the same MLflow run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from evals.runner import prepare_journal, run_eval
from evals.variants import resolve_assistant
from runtime.errors import Conflict
from tests.integration.evals_support import suite

pytest_plugins = ("tests.integration.evals_support",)


async def test_interrupted_eval_keeps_finished_cases_and_resume_runs_only_the_rest(
    eval_target, tracker, tmp_path: Path
) -> None:
    s, assistant = suite("loan_triage"), resolve_assistant("loan_triage")
    journal = prepare_journal(tmp_path, s, assistant, concurrency=2, case_timeout_s=60)
    task: asyncio.Future[object] | None = None

    def interrupt_after_five(result: object, finished: int, total: int) -> None:
        if finished == 5 and task is not None:
            task.cancel()  # what Ctrl-C does to `asyncio.run`'s main task

    task = asyncio.ensure_future(run_eval(journal, s, assistant, eval_target, tracker, on_result=interrupt_after_five))
    with pytest.raises(asyncio.CancelledError):
        await task

    kept = journal.finished()
    assert 5 <= len(kept) < len(s.cases)
    assert journal.meta.status == "interrupted"
    run = tracker.client.get_run(journal.meta.mlflow_run_id)
    assert run.info.status == "KILLED" and run.data.tags["steward.complete"] == "false"
    assert run.data.metrics["cases"] == len(kept)
    # Cases in flight at the interrupt were terminated, not left waiting for an approver forever.
    started = {r["run_id"] for r in eval_target.store.list_runs(limit=1000)}
    for run_id in started - {r.run_id for r in kept.values()}:
        desc = await eval_target.client.get_workflow_handle(run_id).describe()
        assert desc.status in (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.COMPLETED)

    resumed = prepare_journal(tmp_path, s, assistant, resume=journal.meta.eval_run_id)
    report = await run_eval(resumed, s, assistant, eval_target, tracker)
    assert report.complete and len(report.results) == len(s.cases)
    assert report.metrics["pass_rate"] == 1.0
    by_id = {r.case_id: r for r in report.results}
    assert all(by_id[cid].run_id == r.run_id for cid, r in kept.items()), "a finished case ran again"
    runs = eval_target.store.list_runs(limit=1000)
    assert len(runs) == len(started) + len(s.cases) - len(kept) - 1  # the refused case starts no run
    run = tracker.client.get_run(journal.meta.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["cases"] == len(s.cases)
    with pytest.raises(Conflict, match="already finished"):
        prepare_journal(tmp_path, s, assistant, resume=journal.meta.eval_run_id)
