"""``AgentRun``: one run of an assistant's LangGraph graph, durably, with approval gates.

begin_run (thread state in) -> graph.ainvoke -> while interrupted: record approvals, wait for ``decide``
updates or deadline timers (escalate once or reject), resume with ``Command(resume=...)`` -> finish_run
(thread state out). Model and tool nodes are activities (the Temporal LangGraph plugin); routing, policy
gates and approvals are workflow code, so they are replayed, never re-executed.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import pickle
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.errors import GraphRecursionError
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.types import Command
    from pydantic import ValidationError
    from temporalio.langgraph import graph as plugin_graph

    from guards.types import ApprovalDecision, ApprovalRequest, has_role
    from runtime import proofs
    from runtime.activities import (
        AppendEventsInput,
        BeginRunInput,
        EventRecord,
        FinishRunInput,
        RecordApprovalsInput,
        RecordDecisionInput,
    )
    from runtime.interrupts import ANSWER_UPDATE, ANSWERED_EVENT, INTERRUPT_EVENT, AnswerInterruptsInput
    from tools.registry import ToolArgumentsInvalid, get_tool

WORKFLOW_NAME = "AgentRun"
STABLE_QUESTION_IDS = "steward-stable-question-ids"
"""Temporal patch id: questions are named by the run (``AgentRunWorkflow._question_id``)."""
_LA_OPTS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=5)),
}


@dataclass
class AgentRunInput:
    run_id: str
    thread_id: str
    assistant_id: str
    input: dict[str, Any]
    requester: dict[str, Any]
    tenant: str = "default"
    recursion_limit: int = 100
    history_limit: int = 10_000
    """Continue-as-new at the next approval boundary once history has this many events (Temporal caps
    history at 50k events / 50 MB; the server also suggests it). Lower it to exercise the path in tests."""
    resume_checkpoint: str | None = None
    """Set by continue-as-new: the LangGraph checkpointer's content (base64 pickle) to resume from."""
    resume: dict[str, Any] | None = None
    """Set by continue-as-new: the decisions to resume the interrupted graph with."""
    continued: int = 0
    inline_nodes: bool = False
    """Run the nodes ``agents.placement`` cleared in the workflow. Set by every starter of new runs; a run
    started before this existed decodes False and replays its nodes as the activities they were (a field in
    the input rather than a patch marker: a marker also upserts a search attribute, a visibility write per
    run)."""
    thread_state: dict[str, Any] | None = None
    """The thread's saved state as the starter read it, in the transaction that recorded the run. Given, the
    run does not stop for a ``begin_run`` local activity before its first node: its begin records (status
    ``running``, the ``run.started`` audit with the policy version, the input guards' verdicts) are written
    with the first thing the run writes: ``run_finished`` for a run whose nodes all ran in the workflow, else
    just before its first node that is not inlined, its first question or approval. A local activity costs
    the worker a workflow activation and a task, half of such a run's worker CPU. None (a cron's firing, or a
    run started before this existed) takes the ``begin_run`` activity first, as such runs did."""
    records_ride: bool = False
    """Pending records (the begin records, inlined nodes' events) ride in the header of the next activity
    the run schedules (``runtime.riding``) instead of a local activity of their own before it. The activity's
    worker writes them, and checks the input guards, before the activity's own code runs. Set by every
    starter of new runs; a run started before this decodes False and replays the local activity it made."""


@dataclass
class AgentRunResult:
    run_id: str
    status: str
    outcome: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class _Question:
    """A user interrupt the run waits on; ``answer`` is what its node's ``interrupt()`` returns."""

    value: Any
    answer: Any = None
    answered: bool = False
    answering: bool = False


@dataclass
class _Pending:
    request: ApprovalRequest
    interrupt_id: str
    deadline_at: float
    required_role: str
    escalated: bool = False
    deciding: bool = False
    decision: dict[str, Any] | None = None
    status: str = "pending"
    approvers: list[str] = dataclasses.field(default_factory=list)
    """Approvals so far (distinct principals), for requests that need more than one."""
    edited_args: dict[str, Any] | None = None


_COMPILED_ATTR = "_steward_compiled"
"""The builder's attribute holding its graph compiled once, without a checkpointer (it lives as long as the
worker's plugin that holds the builder)."""


def precompile(builder: StateGraph[Any, Any, Any, Any]) -> None:
    """Compile a served graph once, when the worker (or replayer) is built, outside the workflow sandbox.

    Compiling inside the sandbox on every run cost milliseconds of CPU per run (every attribute access goes
    through the sandbox's proxies). The compiled graph is pure structure: the same builder (one assistant
    version in this process) compiles to the same graph, once or per run, so replay is unchanged. Each run gets
    its own shallow copy with its own checkpointer, as the LangGraph server does per request.
    """
    setattr(builder, _COMPILED_ATTR, builder.compile())


def _compile(builder: StateGraph[Any, Any, Any, Any], saver: InMemorySaver) -> CompiledStateGraph[Any, Any, Any, Any]:
    base: CompiledStateGraph[Any, Any, Any, Any] | None = getattr(builder, _COMPILED_ATTR, None)
    if base is None:  # a graph not served through runtime.worker.build_plugin
        return builder.compile(checkpointer=saver)
    app = copy.copy(base)  # shares the node and channel specs, which runs only read
    app.checkpointer = saver
    return app


def _dump_checkpointer(saver: InMemorySaver) -> str:
    """The whole in-workflow checkpointer, so a continued run resumes at exactly the same graph position."""
    data = {
        "storage": {tid: {ns: dict(cps) for ns, cps in nss.items()} for tid, nss in saver.storage.items()},
        "writes": dict(saver.writes),
        "blobs": dict(saver.blobs),
    }
    return base64.b64encode(pickle.dumps(data, protocol=5)).decode()


def _load_checkpointer(blob: str) -> InMemorySaver:
    data = pickle.loads(base64.b64decode(blob))  # noqa: S301 - our own workflow input
    saver = InMemorySaver()
    for tid, nss in data["storage"].items():
        for ns, cps in nss.items():
            saver.storage[tid][ns].update(cps)
    saver.writes.update(data["writes"])
    saver.blobs.update(data["blobs"])
    return saver


def _consent(payload: dict[str, Any]) -> dict[str, bool]:
    """Consent flags travel with the data: at the top of the input or inside its first object field."""
    found = payload.get("consent")
    if not isinstance(found, dict):
        found = next(
            (v["consent"] for v in payload.values() if isinstance(v, dict) and isinstance(v.get("consent"), dict)), {}
        )
    return {str(k): bool(v) for k, v in found.items()}


def _json_state(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("__")}


def _merge_into_thread(prior: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Thread state + this run's input. List values append (our agents' list channels are append-reducers)."""
    merged = dict(prior)
    for key, value in new.items():
        if isinstance(value, list) and isinstance(prior.get(key), list):
            merged[key] = prior[key] + value
        else:
            merged[key] = value
    return merged


def _guard_blocked(exc: BaseException) -> bool:
    """An activity's failure is the input guard's refusal of the run (``runtime.activities._refuse``)."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return isinstance(cause, ApplicationError) and cause.type == "GuardBlocked"


def _split_interrupts(interrupts: list[Any]) -> tuple[list[tuple[Any, ApprovalRequest]], list[Any]]:
    """(approvals the guarded tool node raised, the graph's own interrupts). Only a value that is a whole
    ``ApprovalRequest`` is an approval; anything else a node asks goes back to it verbatim when answered."""
    approvals: list[tuple[Any, ApprovalRequest]] = []
    questions: list[Any] = []
    for intr in interrupts:
        try:
            approvals.append((intr, ApprovalRequest.model_validate(intr.value)))
        except ValidationError:
            questions.append(intr)
    return approvals, questions


@workflow.defn(name=WORKFLOW_NAME)
class AgentRunWorkflow:
    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._questions: dict[str, _Question] = {}
        """The graph's own interrupts (not approvals), by interrupt id: see ``runtime.interrupts``."""
        self._inp: AgentRunInput | None = None
        self._status = "pending"
        self._n = 0
        self.node_events: list[tuple[str, str, dict[str, Any]]] = []
        """Events of inlined nodes not written yet (``agents.registry._NodeRecord``): written with the next
        thing the run records, before any node that is not inlined, and with ``run_finished``."""
        self._inline_calls = 0
        self._question_ids: dict[str, str] = {}
        """This execution's LangGraph interrupt id -> the question's id in the log (``_question_id``)."""
        self._begin: BeginRunInput | None = None
        """The run's begin records while nothing has written them yet (``AgentRunInput.thread_state``)."""
        self._begin_rode: BeginRunInput | None = None
        """The begin records an activity carried and finished with: the run's end checks they are there."""
        self._rode: list[EventRecord] = []
        """Events activities carried and finished with: the run's end writes them if the begin was not."""
        self._riding: list[EventRecord] = []
        """Events that rode with an activity not finished yet (``records_to_ride``): every later write takes
        them too (keyed, so written once), and the log keeps its order whichever activity writes first."""

    # -- inlined nodes (agents.placement) -----------------------------------------------------------
    @property
    def inline_nodes(self) -> bool:
        return self._inp is not None and self._inp.inline_nodes

    def record_node(self) -> tuple[list[tuple[str, str, dict[str, Any]]], str]:
        """The buffer an inlined node call writes to, and its event key prefix (deterministic on replay)."""
        self._inline_calls += 1
        return self.node_events, f"wf:{workflow.info().run_id}:node:{self._inline_calls}"

    def _take_node_events(self) -> list[EventRecord]:
        batch = [EventRecord(key=k, type=t, data=d) for k, t, d in self.node_events]
        self.node_events.clear()  # in place: a node still running holds this list
        return batch

    # -- records riding with activities (runtime.riding) -----------------------------------------
    def records_to_ride(self) -> AppendEventsInput | None:
        """What the activity being scheduled must write before it runs: the pending begin records and every
        buffered or still-riding event. None when nothing is pending, or for a run started before this."""
        if self._inp is None or not self._inp.records_ride:
            return None
        self._riding.extend(self._take_node_events())
        if self._begin is None and not self._riding:
            return None
        return AppendEventsInput(run_id=self._inp.run_id, events=list(self._riding), begin=self._begin)

    def records_rode(self, carried: AppendEventsInput, done: asyncio.Future[Any]) -> None:
        """An activity that carried ``carried`` ended. Succeeded: its worker wrote them, so they are no longer
        pending. Refused by the input guard: as when ``_append`` is refused, the inlined nodes' work is
        discarded and so is their record; the begin records stay pending for the run's error end."""
        if done.cancelled():
            return
        exc = done.exception()
        if exc is None:
            if carried.begin is not None and self._begin is carried.begin:
                self._begin, self._begin_rode = None, carried.begin
            written = {e.key for e in carried.events}
            self._rode.extend(e for e in self._riding if e.key in written)
            self._riding = [e for e in self._riding if e.key not in written]
        elif _guard_blocked(exc):
            self._riding.clear()
            self.node_events.clear()

    def _pending_events(self) -> list[EventRecord]:
        """Every event not known to be written: those riding with an unfinished activity, then the buffer."""
        riding, self._riding = self._riding, []
        return [*riding, *self._take_node_events()]

    async def _append(self, inp: AgentRunInput, events: list[EventRecord], run_status: str | None = None) -> None:
        """Write events (and the run's begin records first, while they are pending) in one local activity.

        A blocked input raises here (``GuardBlocked``), before whatever was to follow: the node that is not
        inlined, the question. Then the run ends; its pure nodes' work is discarded and so is their record, as
        when the input was refused before any node ran. The begin records stay pending until an activity
        carrying them succeeds, so the run's error end writes them again (they are keyed: once)."""
        events = [*self._riding, *events] if self._riding else events
        self._riding = []
        if not events and self._begin is None:
            return
        try:
            await workflow.execute_local_activity(
                "steward.append_events",
                AppendEventsInput(run_id=inp.run_id, events=events, run_status=run_status, begin=self._begin),
                **_LA_OPTS,
            )
        except (ActivityError, ApplicationError):
            self.node_events.clear()
            raise
        self._begin = None

    async def flush_node_events(self) -> None:
        """Write the buffered events now (before a node that is not inlined: the log keeps the run's order),
        with the run's begin records if they are still pending. A run whose records ride with its activities
        has nothing to do here: the node's activity carries them (``records_to_ride``)."""
        if self._inp is not None and not self._inp.records_ride:
            await self._append(self._inp, self._take_node_events())

    # -- queries ---------------------------------------------------------------------------------
    @workflow.query(name="status")
    def status(self) -> str:
        return self._status

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[dict[str, Any]]:
        return [
            {
                **p.request.model_dump(),
                "required_role": p.required_role,
                "deadline_at": p.deadline_at,
                "escalated": p.escalated,
            }
            for p in self._pending.values()
            if p.decision is None
        ]

    @workflow.query(name="pending_interrupts")
    def pending_interrupts(self) -> list[dict[str, Any]]:
        """Open user interrupts, as LangGraph's ``Interrupt``: ``{"id", "value"}``."""
        return [{"id": i, "value": q.value} for i, q in self._questions.items() if not q.answered]

    # -- the answer update (a node's own interrupt) ---------------------------------------------
    @workflow.update(name=ANSWER_UPDATE)
    async def answer(self, a: AnswerInterruptsInput) -> dict[str, Any]:
        """Answer user interrupts: each value reaches its node verbatim as ``interrupt()``'s return value."""
        if any(i not in self._questions for i in a.answers):
            # After a worker crash the API can know a question that replay has not reached yet: wait for it.
            try:
                await workflow.wait_condition(
                    lambda: all(i in self._questions for i in a.answers), timeout=timedelta(seconds=30)
                )
            except TimeoutError:
                raise ApplicationError(
                    f"interrupts {sorted(set(a.answers) - set(self._questions))} are not open in run "
                    f"{workflow.info().workflow_id}",
                    type="NotFound",
                ) from None
        self._check_answer(a)
        for i in a.answers:
            self._questions[i].answering = True
        inp = self._inp
        assert inp is not None
        still_open = [i for i, q in self._questions.items() if not q.answering and not q.answered]
        waiting = still_open or any(p.decision is None for p in self._pending.values())
        await workflow.execute_local_activity(
            "steward.append_events",
            AppendEventsInput(
                run_id=inp.run_id,
                events=[
                    EventRecord(
                        key=f"answer:{i}",
                        type=ANSWERED_EVENT,
                        data={"interrupt_id": i, "answered_by": a.principal.get("id")},
                    )
                    for i in a.answers
                ],
                run_status=None if waiting else "running",
            ),
            **_LA_OPTS,
        )
        for i, value in a.answers.items():
            q = self._questions[i]
            q.answer, q.answered, q.answering = value, True, False
        return {"answered": sorted(a.answers), "answered_by": a.principal.get("id")}

    @answer.validator
    def _validate_answer(self, a: AnswerInterruptsInput) -> None:
        """Ids replay has not reached yet pass to the handler, which waits for them and checks again."""
        if all(i in self._questions for i in a.answers):
            self._check_answer(a)

    def _check_answer(self, a: AnswerInterruptsInput) -> None:
        if not a.answers:
            raise ApplicationError("answers: give at least one interrupt id and its value", type="ValidationError")
        if self._inp is not None and a.principal.get("tenant") != self._inp.tenant:
            raise ApplicationError(f"run {workflow.info().workflow_id!r} not found", type="NotFound")
        for i in a.answers:
            q = self._questions[i]
            if q.answered or q.answering:
                raise ApplicationError(f"interrupt {i!r} is already answered", type="Conflict")

    # -- the decide update -----------------------------------------------------------------------
    @workflow.update(name="decide")
    async def decide(self, d: ApprovalDecision) -> dict[str, Any]:
        if d.approval_id not in self._pending:
            # After a worker crash the store can know an approval that replay has not reached yet: wait for it.
            try:
                await workflow.wait_condition(lambda: d.approval_id in self._pending, timeout=timedelta(seconds=30))
            except TimeoutError:
                raise ApplicationError(
                    f"approval {d.approval_id!r} is not part of run {workflow.info().workflow_id}", type="NotFound"
                ) from None
        self._check_decision(d)
        p = self._pending[d.approval_id]
        p.deciding = True
        status = {"approve": "approved", "edit": "edited", "reject": "rejected", "respond": "responded"}[d.action]
        current_args = p.edited_args if p.edited_args is not None else p.request.args
        final_args = d.args if d.action == "edit" else (current_args if d.action == "approve" else None)
        if final_args is not None:
            final_args = get_tool(p.request.tool).validate_args(final_args)
        if d.action in ("approve", "edit"):
            # An edit changes what is approved: approvals given for the old arguments no longer count.
            p.approvers = [d.principal.id] if d.action == "edit" else [*p.approvers, d.principal.id]
            if d.action == "edit":
                p.edited_args = final_args
            if len(p.approvers) < p.request.approvals_required:
                await workflow.execute_local_activity(
                    "steward.record_decision",
                    RecordDecisionInput(
                        run_id=p.request.run_id,
                        key=f"decision:{d.approval_id}:{len(p.approvers)}:{self._n}",
                        approval_id=d.approval_id,
                        tenant=p.request.tenant,
                        status="pending",
                        decided_by=d.principal.id,
                        action=f"{d.action} ({len(p.approvers)}/{p.request.approvals_required})",
                        comment=d.comment,
                        final_args=final_args,
                    ),
                    **_LA_OPTS,
                )
                self._n += 1
                p.deciding = False
                return {
                    "approval_id": d.approval_id,
                    "status": "pending",
                    "decided_by": d.principal.id,
                    "approvals": len(p.approvers),
                    "approvals_required": p.request.approvals_required,
                }
        action = d.action
        if action == "approve" and p.edited_args is not None:
            # The final approval is of edited arguments: the node must re-check them like any edit.
            action, status = "edit", "edited"
        await workflow.execute_local_activity(
            "steward.record_decision",
            RecordDecisionInput(
                run_id=p.request.run_id,
                key=f"decision:{d.approval_id}",
                approval_id=d.approval_id,
                tenant=p.request.tenant,
                status=status,
                decided_by=d.principal.id,
                action=action,
                comment=d.comment,
                final_args=final_args,
                response=d.response,
            ),
            **_LA_OPTS,
        )
        p.status = status
        p.decision = {
            "action": action,
            "args": final_args,
            "comment": d.comment,
            "response": d.response,
            "decided_by": d.principal.id,
            "principal": d.principal.model_dump(),
            "approval_id": d.approval_id,
            "approvers": list(p.approvers),
        }
        return {"approval_id": d.approval_id, "status": status, "decided_by": d.principal.id}

    @decide.validator
    def _validate_decide(self, d: ApprovalDecision) -> None:
        """Runs before the update is accepted: a refused decision leaves no trace in history.

        First, always and with no exception, the decision's proof: signed by the API for an authenticated
        principal, unexpired at ``workflow.now()``, and matching this decision (approval id, action,
        principal, tenant, roles, edited args, comment/response). Validators do not run on replay, so a
        worker's key rotation cannot change the outcome of an accepted decision. The role and separation-of-
        duties checks then use that principal (the proof binds ``d.principal`` exactly).
        An id this run does not know (yet) is let through to the handler, which waits for replay to reach it;
        the handler repeats every check but the proof, so nothing is skipped either way.
        """
        try:
            proofs.verify_decision(d, workflow.now().timestamp())
        except proofs.ProofInvalid as exc:
            raise ApplicationError(f"decision refused: {exc}", type="Unauthorized") from None
        if d.approval_id in self._pending:
            self._check_decision(d)

    def _check_decision(self, d: ApprovalDecision) -> None:
        p = self._pending[d.approval_id]
        if p.decision is not None or p.deciding:
            raise ApplicationError(f"approval {d.approval_id!r} is not pending: it is {p.status}", type="Conflict")
        if d.principal.tenant != p.request.tenant:
            raise ApplicationError(f"approval {d.approval_id!r} not found", type="NotFound")
        if d.principal.id in p.approvers and d.action in ("approve", "edit"):
            raise ApplicationError(
                f"separation of duties: {d.principal.id!r} already approved {d.approval_id!r}; "
                f"{p.request.approvals_required} different approvers are required",
                type="Forbidden",
            )
        if d.principal.id == p.request.requester and d.action != "reject":
            raise ApplicationError(
                f"separation of duties: {d.principal.id!r} requested this run and cannot {d.action} its approval",
                type="Forbidden",
            )
        if not has_role(d.principal, p.required_role):
            raise ApplicationError(
                f"principal {d.principal.id!r} lacks role {p.required_role!r} required to decide "
                f"approval {d.approval_id!r} (has {sorted(d.principal.roles)})",
                type="Forbidden",
            )
        if d.action == "edit":
            if d.args is None:
                raise ApplicationError("action 'edit' needs 'args'", type="ValidationError")
            try:
                get_tool(p.request.tool).validate_args(d.args)
            except ToolArgumentsInvalid as exc:
                raise ApplicationError(str(exc), type="ValidationError") from None
        if d.action == "respond" and not d.response:
            raise ApplicationError("action 'respond' needs 'response'", type="ValidationError")

    # -- the run ---------------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        self._n += 1
        return f"wf:{workflow.info().run_id}:{self._n}:{name}"

    async def _finish(
        self, inp: AgentRunInput, status: str, state: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        self._status = status
        outcome = state.get("outcome") if state else None
        await workflow.execute_local_activity(
            "steward.finish_run",
            FinishRunInput(
                run_id=inp.run_id,
                thread_id=inp.thread_id,
                tenant=inp.tenant,
                status=status,
                key="finish",
                state=state,
                error=error,
                outcome=outcome,
                events=self._pending_events(),
                begin=self._begin or self._begin_rode,
                begin_rode=self._begin is None and self._begin_rode is not None,
                rode_events=self._rode if self._begin_rode is not None else [],
            ),
            **_LA_OPTS,
        )
        self._begin = None

    @workflow.run
    async def run(self, inp: AgentRunInput) -> AgentRunResult:
        if not inp.run_id:
            # Started by a Temporal Schedule (runtime.crons): every firing gets the same input, so the run id is
            # the workflow id Temporal makes unique per firing, and a cron without a thread gets a new thread
            # per run, as LangGraph's stateless crons do.
            wid = workflow.info().workflow_id
            inp = dataclasses.replace(inp, run_id=wid, thread_id=inp.thread_id or f"thread-{wid}")
        self._status = "running"
        self._inp = inp
        try:
            builder = plugin_graph(inp.assistant_id)
        except KeyError as exc:
            await self._finish(inp, "error", error=str(exc))
            raise ApplicationError(str(exc), type="NotFound", non_retryable=True) from None
        saver = _load_checkpointer(inp.resume_checkpoint) if inp.resume_checkpoint else InMemorySaver()
        app = _compile(builder, saver)
        config: RunnableConfig = {"configurable": {"thread_id": inp.run_id}, "recursion_limit": inp.recursion_limit}
        ctx: dict[str, Any] = {
            "run_id": inp.run_id,
            "thread_id": inp.thread_id,
            "tenant": inp.tenant,
            "assistant_id": inp.assistant_id,
            "requester": inp.requester,
            "consent": _consent(inp.input),
        }
        prior: dict[str, Any] = {}
        try:
            if inp.resume_checkpoint is None:
                begin = BeginRunInput(
                    run_id=inp.run_id,
                    thread_id=inp.thread_id,
                    assistant_id=inp.assistant_id,
                    tenant=inp.tenant,
                    requester=inp.requester,
                    input=inp.input,
                    recorded=inp.thread_state is not None,
                )
                if inp.thread_state is not None:
                    prior, self._begin = inp.thread_state, begin
                else:
                    prior = await workflow.execute_local_activity(
                        "steward.begin_run", begin, result_type=dict, **_LA_OPTS
                    )
            if inp.resume is not None:
                result = await app.ainvoke(Command(resume=inp.resume), config, context=ctx)
            else:
                result = await app.ainvoke(_merge_into_thread(prior, inp.input), config, context=ctx)
            while interrupts := result.get("__interrupt__"):
                resume = await self._gate(inp, list(interrupts))
                self._status = "running"
                info = workflow.info()
                if info.is_continue_as_new_suggested() or info.get_current_history_length() >= inp.history_limit:
                    # Decisions are durable in history and the store; the continued run resumes the graph
                    # from the carried checkpoint with them, so nothing runs twice and nothing is skipped.
                    await self.emit(inp, "continued_as_new", {"history_length": info.get_current_history_length()})
                    workflow.continue_as_new(
                        dataclasses.replace(
                            inp,
                            resume_checkpoint=_dump_checkpointer(saver),
                            resume=resume,
                            continued=inp.continued + 1,
                        )
                    )
                result = await app.ainvoke(Command(resume=resume), config, context=ctx)
        except (asyncio.CancelledError, CancelledError):
            await asyncio.shield(asyncio.ensure_future(self._finish(inp, "cancelled", error="cancelled")))
            raise
        except (ActivityError, ApplicationError, GraphRecursionError) as exc:
            cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
            message = f"{type(cause).__name__}: {cause}"
            await self._finish(inp, "error", error=message)
            raise ApplicationError(message, type="RunFailed", non_retryable=True) from exc
        state = _json_state(result)
        try:
            await self._finish(inp, "success", state=state)
        except (ActivityError, ApplicationError) as exc:
            # Only a run whose begin rode with its end (``thread_state``): its input guard refused it there.
            cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
            message = f"{type(cause).__name__}: {cause}"
            await self._finish(inp, "error", error=message)
            raise ApplicationError(message, type="RunFailed", non_retryable=True) from exc
        return AgentRunResult(run_id=inp.run_id, status="success", outcome=state.get("outcome"), state=state)

    async def _gate(self, inp: AgentRunInput, interrupts: list[Any]) -> dict[str, Any]:
        """Open approvals (and user questions) for every interrupt of this step; wait until each approval is
        decided or timed out and each question answered. Returns the resume map: interrupt id -> value."""
        batch: list[_Pending] = []
        now = workflow.now().timestamp()
        approvals, questions = _split_interrupts(interrupts)
        if questions:
            await self._ask(inp, questions)
        else:
            # Pending records are written before the approvals, whether or not they would ride with an activity:
            # the run now waits, and its log and audit show how it got here (begin, nodes) before what it asks.
            await self._append(inp, self._take_node_events())
        for intr, req in approvals:
            p = _Pending(
                request=req, interrupt_id=intr.id, deadline_at=now + req.deadline_s, required_role=req.required_role
            )
            self._pending[req.approval_id] = p
            batch.append(p)
        self._status = "interrupted"
        if batch:
            await workflow.execute_local_activity(
                "steward.record_approvals",
                RecordApprovalsInput(
                    run_id=inp.run_id,
                    key=self._key("approvals"),
                    approvals=[{"request": p.request.model_dump(), "deadline_at": p.deadline_at} for p in batch],
                ),
                **_LA_OPTS,
            )
        asked = [self._questions[self._question_ids[intr.id]] for intr in questions]

        def settled() -> bool:
            return all(p.decision is not None for p in batch) and all(q.answered for q in asked)

        while not settled():
            undecided = [p for p in batch if p.decision is None]
            wait_s = max(0.0, min(p.deadline_at for p in undecided) - workflow.now().timestamp()) if undecided else 0
            try:
                await workflow.wait_condition(settled, timeout=timedelta(seconds=wait_s) if wait_s > 0 else None)
            except TimeoutError:
                await self._expire(inp, [p for p in batch if p.decision is None and not p.deciding])
        resume: dict[str, Any] = {p.interrupt_id: p.decision for p in batch}
        resume.update({intr.id: self._questions[self._question_ids[intr.id]].answer for intr in questions})
        return resume

    async def _ask(self, inp: AgentRunInput, questions: list[Any]) -> None:
        """Record the graph's own interrupts: the run reads ``interrupted`` and the event log shows each."""
        named = [(self._question_id(intr.id), intr.value) for intr in questions]
        for qid, value in named:
            self._questions[qid] = _Question(value=value)
        self._status = "interrupted"
        await self._append(
            inp,
            [
                *self._take_node_events(),
                *(
                    EventRecord(
                        key=self._key(INTERRUPT_EVENT), type=INTERRUPT_EVENT, data={"interrupt_id": qid, "value": value}
                    )
                    for qid, value in named
                ),
            ],
            run_status="interrupted",
        )

    def _question_id(self, graph_id: str) -> str:
        """The id people answer a question by: the same whenever this run is replayed.

        LangGraph derives an interrupt's id from its task, whose id comes from a checkpoint id made of the clock
        and randomness. A node that ran as an activity brought its interrupts back in the activity's recorded
        result, so their ids replayed; a node that runs in the workflow (``execute_in: workflow``, or inlined by
        ``agents.placement``) makes new ones on every replay, and an answer given by the recorded id found no
        question once a worker had rebuilt the run. So the run names each question itself, from its seeded
        ``workflow.uuid4()``, and maps it to this execution's LangGraph id to resume the node. A run recorded
        before this (no patch marker) keeps LangGraph's ids, which it recorded.
        """
        qid = workflow.uuid4().hex if workflow.patched(STABLE_QUESTION_IDS) else graph_id
        self._question_ids[graph_id] = qid
        return qid

    async def _expire(self, inp: AgentRunInput, undecided: list[_Pending]) -> None:
        now = workflow.now().timestamp()
        for p in undecided:
            if p.deadline_at > now + 0.001:
                continue
            req = p.request
            if req.on_timeout == "escalate" and req.escalate_to and not p.escalated:
                p.escalated = True
                p.required_role = req.escalate_to
                p.deadline_at = now + (req.escalation_deadline_s or req.deadline_s)
                escalated = req.model_copy(update={"required_role": req.escalate_to})
                await workflow.execute_local_activity(
                    "steward.record_approvals",
                    RecordApprovalsInput(
                        run_id=inp.run_id,
                        key=self._key("escalate"),
                        event_type="approval_escalated",
                        approvals=[{"request": escalated.model_dump(), "deadline_at": p.deadline_at}],
                    ),
                    **_LA_OPTS,
                )
                continue
            p.deciding = True
            await workflow.execute_local_activity(
                "steward.record_decision",
                RecordDecisionInput(
                    run_id=inp.run_id,
                    key=f"decision:{req.approval_id}",
                    approval_id=req.approval_id,
                    tenant=req.tenant,
                    status="timed_out",
                    decided_by="system:deadline",
                    action="reject",
                    comment="approval deadline passed",
                ),
                **_LA_OPTS,
            )
            p.status = "timed_out"
            p.decision = {
                "action": "reject",
                "comment": "approval deadline passed",
                "decided_by": "system:deadline",
                "approval_id": req.approval_id,
            }

    async def emit(self, inp: AgentRunInput, type_: str, data: dict[str, Any]) -> None:
        await self._append(inp, [*self._take_node_events(), EventRecord(key=self._key(type_), type=type_, data=data)])
