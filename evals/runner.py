"""The eval runner: every case through the real runtime, scripted approvals, scored from the event log.

Each case is one ``AgentRun`` workflow started with ``runtime.runs.start_run`` (the path the API and the CLI
use), by a requester principal; a separate approver principal answers its approval requests as the case
scripts them (two distinct approvers where the policy asks for two). Scripted approvers decide like people
do: each holds an API key issued in the store, and each decision carries a proof minted for that key's
principal (``runtime.runs.KeyedApprovers``); the workflow accepts nothing else.
What the run did is read afterwards from the store: the event log, the tool ledger, the approvals index.

Cases run with bounded concurrency and a per-case time limit (a case over it is terminated and scored as a
timeout). Each finished case goes to the journal before it is reported, so Ctrl-C keeps finished cases and
``--resume`` skips them; cases in flight at the interrupt are terminated and run again on resume.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from evals.journal import CaseResult, EvalJournal, EvalRunMeta, new_eval_run_id
from evals.scorers import Observation, aggregate, observe, score_case
from evals.suites import EvalCase, Suite
from evals.variants import AssistantVersion
from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import Conflict, UserError
from runtime.store import Store

if TYPE_CHECKING:
    from evals.environment import EvalTarget
    from evals.judge import LLMJudge
    from evals.tracking import Tracker

EVAL_TENANT = "evals"
REQUESTER = Principal(id="eval-requester", tenant=EVAL_TENANT, roles=["operator"])
APPROVERS = tuple(
    Principal(id=name, tenant=EVAL_TENANT, roles=["approver", "senior_approver"])
    for name in ("eval-approver", "eval-approver-2", "eval-approver-3")
)
"""Distinct principals: separation of duties forbids the requester deciding, and two-approval rules need two."""

ResultCallback = Callable[[CaseResult, int, int], None]


def _cancelling() -> bool:
    """Whether the current task has been asked to stop (Ctrl-C cancels the eval's tasks)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass
class EvalRunner:
    client: Client
    store: Store
    task_queue: str
    assistant: AssistantVersion
    suite: Suite
    journal: EvalJournal
    concurrency: int = 1
    """Cases in flight at once. Each waits mostly on Temporal and the store, so 4 is cheap on 2 cores."""
    case_timeout_s: float = 120.0
    """Per case, start to result, approvals included; a case's ``time_limit_s`` overrides it."""
    on_result: ResultCallback | None = None
    poll_s: float = 0.02
    """How often a waiting case looks for new approval requests (a store read)."""
    _inflight: dict[str, WorkflowHandle[Any, Any]] = field(default_factory=dict)
    _approvers: runs.KeyedApprovers | None = None

    @property
    def approvers(self) -> runs.KeyedApprovers:
        """The scripted approvers' API keys, issued in this run's store on first use."""
        if self._approvers is None:
            self._approvers = runs.KeyedApprovers(self.client, self.store)
        return self._approvers

    async def run(self) -> list[CaseResult]:
        """Run the cases the journal has not finished; returns every case's result in suite order."""
        # Each case checks for Ctrl-C before it starts: a cancellation swallowed by a client call can no
        # longer let the eval run on.
        done = self.journal.finished()
        todo = [c for c in self.suite.cases if c.id not in done]
        total, finished = len(self.suite.cases), len(done)
        sem = asyncio.Semaphore(max(1, self.concurrency))

        async def one(case: EvalCase) -> None:
            nonlocal finished
            async with sem:
                if _cancelling():
                    raise asyncio.CancelledError
                result = await self.run_case(case)
            self.journal.append(result)
            done[case.id] = result
            finished += 1
            if self.on_result:
                self.on_result(result, finished, total)

        tasks = [asyncio.ensure_future(one(c)) for c in todo]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [done[c.id] for c in self.suite.cases if c.id in done]

    async def run_case(self, case: EvalCase) -> CaseResult:
        started, t0 = time.time(), time.perf_counter()
        limit = case.time_limit_s or self.case_timeout_s
        handle: WorkflowHandle[Any, Any] | None = None
        verdict: tuple[str, str | None] | None = None
        input_blocked = False
        try:
            data = runs.validate_input(self.assistant.name, case.input)
        except UserError as exc:
            # The one path refuses it (schema or input guards) before any workflow exists.
            verdict, input_blocked = ("refused", str(exc)), "(guard " in str(exc)
        if verdict is None:
            try:
                async with asyncio.timeout(limit):
                    handle = await runs.start_run(
                        self.client,
                        self.store,
                        self.task_queue,
                        self.assistant.assistant_id,
                        data,
                        REQUESTER,
                        validate=False,
                    )
                    self._inflight[case.id] = handle
                    verdict = await self._drive(handle, case)
            except asyncio.CancelledError:
                await asyncio.shield(self._terminate(handle, "eval interrupted"))
                raise
            except Exception as exc:  # noqa: BLE001 - one broken case must not end the eval
                if _cancelling():
                    # Ctrl-C landed inside a client call that turned the cancellation into its own error: the
                    # eval is interrupted, not this case broken (else the run went on to the end, exit 0).
                    await asyncio.shield(self._terminate(handle, "eval interrupted"))
                    raise asyncio.CancelledError from exc
                if isinstance(exc, TimeoutError):
                    verdict = ("timeout", f"no result within {limit:g}s")
                elif isinstance(exc, UserError):
                    verdict = ("error", f"scripted decision refused: {exc}")
                else:
                    verdict = ("error", f"{type(exc).__name__}: {exc}")
                await self._terminate(handle, verdict[1])
            finally:
                self._inflight.pop(case.id, None)
        latency = time.perf_counter() - t0
        obs = self._observe(handle.id if handle else None, verdict)
        obs.latency_s = latency
        obs.input_blocked = obs.input_blocked or input_blocked
        return _result(case, obs, started)

    async def _drive(self, handle: WorkflowHandle[Any, Any], case: EvalCase) -> tuple[str, str | None]:
        """Answer approval requests as scripted until the run ends; returns (status, error)."""
        result = asyncio.ensure_future(handle.result())
        given: dict[str, int] = {}
        closed: set[str] = set()
        try:
            while True:
                finished, _ = await asyncio.wait({result}, timeout=self.poll_s)
                if finished:
                    break
                for row in self.store.list_approvals(run_id=handle.id, status="pending"):
                    aid = row["approval_id"]
                    if aid in closed:
                        continue
                    n = given.get(aid, 0)
                    answer = await self.approvers.decide(_decision(case, row, n))
                    given[aid] = n + 1
                    if answer.get("status") != "pending":
                        closed.add(aid)
            try:
                result.result()
            except WorkflowFailureError as exc:
                cause = exc.cause
                return "error", str(getattr(cause, "message", None) or cause or exc)
            return "success", None
        finally:
            if not result.done():
                result.cancel()

    async def _terminate(self, handle: WorkflowHandle[Any, Any] | None, reason: str | None) -> None:
        if handle is None:
            return
        try:
            await asyncio.wait_for(handle.terminate(reason=reason or "eval"), timeout=10)
        except Exception:  # noqa: BLE001 - it may have finished already; nothing to clean up then
            pass

    def _observe(self, run_id: str | None, verdict: tuple[str, str | None]) -> Observation:
        status, error = verdict
        if run_id is None:
            return Observation(status=status, error=error)
        obs = observe(
            run_id,
            self.store.events_after(run_id, 0, limit=1_000_000),
            self.store.tool_executions(run_id),
            self.store.list_approvals(run_id=run_id, limit=10_000),
        )
        if status != "success" or obs.status not in ("success", "error"):
            # The runner's verdict (timeout, a refused decision, a failure before finish) is what the case got.
            obs.status = status if status != "success" else obs.status
            obs.error = obs.error or error
        return obs


def _decision(case: EvalCase, row: dict[str, Any], n: int) -> ApprovalDecision:
    """The scripted decision for approval ``row``, decided by its ``n``-th approver.

    An edit is made once; further approvers (a two-approval rule) approve the edited arguments, because a new
    edit would reset the approvals collected so far.
    """
    scripted = case.decision_for(row["tool"])
    action = scripted.action if not (n and scripted.action == "edit") else "approve"
    return ApprovalDecision(
        approval_id=row["approval_id"],
        action=action,
        principal=APPROVERS[n % len(APPROVERS)],
        args={**row["args"], **(scripted.args or {})} if action == "edit" else None,
        comment=scripted.comment or f"eval case {case.id}",
        response=scripted.response if action == "respond" else None,
    )


def _result(case: EvalCase, obs: Observation, started: float) -> CaseResult:
    checks = score_case(case, obs)
    return CaseResult(
        case_id=case.id,
        tags=case.tags,
        run_id=obs.run_id,
        status=obs.status,
        error=obs.error,
        passed=all(c.passed for c in checks.values() if c is not None),
        checks=checks,
        outcome=obs.outcome,
        trajectory=[c.model_dump() for c in obs.calls],
        approvals=[a.model_dump() for a in obs.approvals],
        guard_blocks=obs.guard_blocks,
        latency_s=round(obs.latency_s, 4),
        run_latency_s=round(obs.run_latency_s, 4) if obs.run_latency_s is not None else None,
        tokens=obs.tokens,
        tokens_source=obs.tokens_source,
        cost=obs.cost,
        models=obs.models,
        started_at=started,
        finished_at=time.time(),
    )


# -- one eval run, end to end ----------------------------------------------------------------------------


@dataclass
class EvalReport:
    meta: EvalRunMeta
    results: list[CaseResult]
    metrics: dict[str, float]
    complete: bool
    journal_dir: Path


def prepare_journal(
    home: Path,
    suite: Suite,
    assistant: AssistantVersion,
    resume: str | None = None,
    concurrency: int = 1,
    case_timeout_s: float = 120.0,
    eval_run_id: str | None = None,
) -> EvalJournal:
    """A new eval run's journal, or the interrupted one to resume (same suite text, same assistant version)."""
    if resume:
        journal = EvalJournal.open(home, resume)
        meta = journal.meta
        if meta.suite_sha256 != suite.sha256:
            raise UserError(
                f"eval run {resume!r} ran suite {meta.suite_path} with sha256 {meta.suite_sha256[:12]}; "
                f"{suite.path} now has {suite.sha256[:12]}: the suite changed, start a new eval run"
            )
        if meta.assistant_id != assistant.assistant_id:
            raise UserError(f"eval run {resume!r} evaluated {meta.assistant}@{meta.version}, not {assistant.ref}")
        if meta.status == "finished":
            raise Conflict(f"eval run {resume!r} already finished; nothing to resume")
        return journal
    meta = EvalRunMeta(
        eval_run_id=eval_run_id or new_eval_run_id(),
        suite_name=suite.name,
        suite_path=str(suite.path),
        suite_sha256=suite.sha256,
        case_ids=[c.id for c in suite.cases],
        assistant=assistant.name,
        version=assistant.version,
        assistant_id=assistant.assistant_id,
        prompt_version=assistant.prompt_version,
        concurrency=concurrency,
        case_timeout_s=case_timeout_s,
    )
    return EvalJournal.create(home, meta)


async def run_eval(
    journal: EvalJournal,
    suite: Suite,
    assistant: AssistantVersion,
    target: EvalTarget,
    tracker: Tracker | None = None,
    on_result: ResultCallback | None = None,
    params: dict[str, Any] | None = None,
    traces: bool = True,
    judge: LLMJudge | None = None,
) -> EvalReport:
    """Run (or resume) an eval run; MLflow gets the run before the first case and the results after the last.

    Interrupted (Ctrl-C = cancellation), it still logs what finished, marks the MLflow run KILLED and the
    journal ``interrupted``, then re-raises, so the caller can say how to resume.
    """
    meta = journal.meta
    # Which model the agents ran with (or that they ran without one, by choice): a param and part of the result.
    params = {**(params or {}), "model": target.model}
    from evals.automation import handbook_risky_actions

    # Which handbook definitions risky_routed_rate counted against (tool@ruleset version, with its condition).
    params["risky_actions"] = ",".join(
        sorted({f"{d.tool}@{d.source}" + (f"[{d.when}]" if d.when else "") for d in handbook_risky_actions()})
    )
    journal.save_meta(model=target.model)
    if judge is not None:
        from evals.judge import JUDGE_PROMPT_VERSION

        params = {**(params or {}), "judge_model": judge.model, "judge_prompt_version": JUDGE_PROMPT_VERSION}
    if tracker is not None:
        rid = tracker.start(
            meta,
            suite,
            assistant,
            {"concurrency": meta.concurrency, "case_timeout_s": meta.case_timeout_s, **(params or {})},
        )
        journal.save_meta(mlflow_run_id=rid, tracking_uri=tracker.uri)
    journal.save_meta(status="running")
    runner = EvalRunner(
        target.client,
        target.store,
        target.task_queue,
        assistant,
        suite,
        journal,
        concurrency=meta.concurrency,
        case_timeout_s=meta.case_timeout_s,
        on_result=on_result,
    )
    complete = False
    try:
        await runner.run()
        if judge is not None:
            # After the cases, so judging never competes with the runs for the machine.
            finished = journal.finished()
            todo = [r for r in finished.values() if r.judgement is None]
            for case_id, judgement in (await judge.grade_all(todo)).items():
                journal.append(finished[case_id].model_copy(update={"judgement": judgement}))
        complete = True
    finally:
        finished = journal.finished()
        results = [finished[c.id] for c in suite.cases if c.id in finished]
        metrics = aggregate([r.model_dump() for r in results])
        journal.save_meta(status="finished" if complete else "interrupted")
        if tracker is not None:
            tracker.finish(meta, suite, assistant, results, metrics, target.store, complete, traces=traces)
            if meta.mlflow_run_id:  # what the runs actually sent (a registry champion may differ from the package)
                sent = sorted({v for r in results for v in ((r.outcome or {}).get("prompt_versions") or [])})
                tracker.client.log_param(meta.mlflow_run_id, "prompts_sent", ",".join(sent) or "none")
    return EvalReport(meta, results, metrics, complete, journal.root)
