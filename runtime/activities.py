"""Activities of the AgentRun workflow: app-store writes, policy evaluation and tool execution.

Each takes one dataclass input (fields can be added compatibly). Store writes are idempotent by key, so
a retried or replayed local activity does not duplicate events or audit records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.guarded import EvaluateToolCallInput, ExecuteToolInput, ToolCallVerdict
from guards.detectors import mask_cardholder_value
from guards.points import GuardError, GuardOutcome, run_point
from guards.policy import PolicyEngine, PolicyInput
from guards.types import Principal
from runtime.outbox import Outbox
from runtime.store import Store
from tools.adapters import ActionRouting, action_scope
from tools.registry import ToolArgumentsInvalid, get_tool, issue_grant


@dataclass
class BeginRunInput:
    run_id: str
    thread_id: str
    assistant_id: str
    tenant: str
    requester: dict[str, Any]
    input: dict[str, Any]
    recorded: bool = False
    """The starter wrote the run's row and its ``run_started`` event (``runtime.runs.record_run``): the begin
    records need not write them again. False for a cron's firing, whose run only the workflow records."""


@dataclass
class FinishRunInput:
    run_id: str
    thread_id: str
    tenant: str
    status: str
    key: str
    state: dict[str, Any] | None = None
    error: str | None = None
    outcome: dict[str, Any] | None = None
    events: list[EventRecord] = field(default_factory=list)
    """Events the run has not written yet (inlined nodes'), written before ``run_finished``, in its order."""
    begin: BeginRunInput | None = None
    """The run's begin records, when nothing it did before its end wrote them (``AgentRunInput.thread_state``):
    written first, in the same transaction, after the same input guards ``begin_run`` applies."""
    begin_rode: bool = False
    """``begin`` rode with an activity that succeeded (``runtime.riding``): written unless the store has no
    ``run.started`` record for the run (a worker without the interceptor ran that activity)."""
    rode_events: list[EventRecord] = field(default_factory=list)
    """Events that rode with activities that succeeded: written, with ``begin``, only when ``begin`` was not."""


@dataclass
class EventRecord:
    key: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AppendEventsInput:
    run_id: str
    events: list[EventRecord]
    run_status: str | None = None
    begin: BeginRunInput | None = None
    """The run's begin records when still pending (``AgentRunInput.thread_state``): written first, in the
    same transaction; a blocked input writes them and nothing else, and fails the activity (``GuardBlocked``)."""


@dataclass
class RecordApprovalsInput:
    run_id: str
    key: str
    approvals: list[dict[str, Any]]
    """Each: {"request": ApprovalRequest dict, "deadline_at": epoch seconds, "escalated": bool}."""
    event_type: str = "approval_requested"


@dataclass
class RecordDecisionInput:
    run_id: str
    key: str
    approval_id: str
    tenant: str
    status: str
    decided_by: str
    action: str
    comment: str | None = None
    final_args: dict[str, Any] | None = None
    response: str | None = None


class StewardActivities:
    """Bound to one store and one policy engine, so a test can run its own worker on its own files.

    The activities that only read and write the store (and evaluate guards) are plain functions, run by the
    worker's thread pool (``runtime.worker.build_worker``'s ``activity_executor``), not on its event loop: a
    database call blocks, and on SQLite it may wait for another process's write lock; on the loop that wait
    held up every workflow activation of the worker (a run's one workflow task took 570 ms at 8 concurrent
    runs for 35 ms of CPU). ``execute_tool`` awaits the tool and stays a coroutine.
    """

    def __init__(self, store: Store, policy: PolicyEngine, actions: ActionRouting | None = None) -> None:
        self.store = store
        self.policy = policy
        self.actions = actions or ActionRouting()
        """Which adapter each side-effecting tool hands its action to (default: simulated, said so)."""
        self.outbox = Outbox(store)

    def all(self) -> list[Any]:
        return [
            self.begin_run,
            self.finish_run,
            self.append_events,
            self.record_approvals,
            self.record_decision,
            self.evaluate_tool_call,
            self.execute_tool,
        ]

    @activity.defn(name="steward.begin_run")
    def begin_run(self, inp: BeginRunInput) -> dict[str, Any]:
        """Index the run, mark it running and return the thread's saved state (carried into this run).

        One transaction (``Store.batch``) for all of it; a blocked input is refused after that commits, so
        the run's record of why stays."""
        s = self.store
        with s.batch():
            blocked = self._write_begin(inp)
        if blocked is not None:
            _refuse(blocked)
        thread = s.get_thread(inp.thread_id)
        return dict(thread["state"]) if thread else {}

    def _write_begin(self, inp: BeginRunInput | None, ending: bool = False) -> Any:
        """Inside the caller's transaction: the begin records (the guards' verdicts among them), and the verdict
        that blocks the input, if one does (None also when there is nothing to begin). ``ending``: the same
        transaction writes the run's end, so the ``running`` status, which no reader could see, is skipped."""
        if inp is None:
            return None
        guarded = self._guard_input(inp)
        self._begin_records(inp, guarded, ending)
        return guarded.blocked

    @staticmethod
    def _guard_input(inp: BeginRunInput) -> Any:
        # Defense in depth: the API and CLI already ran the input guards; a run started another way is checked
        # here, before any node that is not pure runs (a run's pure inlined nodes may have computed, but none
        # of their records is written when the input is blocked: ``finish_run``).
        # Cardholder data was masked at intake and the store masks it again on every write; the guards see the
        # masked value, the free-text fields as the API's guard does.
        from runtime.runs import input_free_text

        return run_point(
            "input", mask_cardholder_value(inp.input), inp.assistant_id, free_text=input_free_text(inp.assistant_id)
        )

    def _begin_records(self, inp: BeginRunInput, guarded: Any, ending: bool = False) -> None:
        s = self.store
        if not inp.recorded:
            # A cron's firing: only the workflow records its run (and its run_started event).
            from runtime.runs import run_started_event

            s.create_run(
                inp.run_id, inp.thread_id, inp.assistant_id, inp.tenant, inp.requester.get("id", "?"), inp.input
            )
            s.append_events(inp.run_id, [run_started_event(inp.assistant_id, inp.thread_id, inp.requester.get("id"))])
        if not ending:
            s.set_run_status(inp.run_id, "running")
        s.append_audit(
            inp.tenant,
            inp.requester.get("id", "?"),
            "run.started",
            {
                "assistant_id": inp.assistant_id,
                "thread_id": inp.thread_id,
                **_assistant_lineage(inp.assistant_id),
                "policy_version": self.policy.version,
            },
            run_id=inp.run_id,
            key=_begin_key(inp),
        )
        events: list[tuple[str, str, dict[str, Any]]] = []
        self._guard_records(inp.run_id, inp.tenant, "input", guarded, "", events)
        if events:
            s.append_events(inp.run_id, events)

    @activity.defn(name="steward.finish_run")
    def finish_run(self, inp: FinishRunInput) -> None:
        """The run's end in one transaction, with its begin records first when they were left to it.

        A blocked input refuses a successful end: the begin records (with the guard's verdict) are written and
        the inlined nodes' events are not; the workflow then finishes the run as an error, as ``begin_run``'s
        refusal would have. Begin records are keyed, so writing them again with that error end is a no-op."""
        with self.store.batch():
            rode = inp.begin_rode and inp.begin is not None and self.store.has_audit_key(_begin_key(inp.begin))
            blocked = None if rode else self._write_begin(inp.begin, ending=True)
            if inp.begin_rode and not rode and blocked is None and inp.rode_events:
                self.store.append_events(inp.run_id, [(e.key, e.type, e.data) for e in inp.rode_events])
            if inp.status != "success":
                blocked = None  # an error or cancelled end is written whatever the input was
            if blocked is None:
                self._finish_records(inp)
        if blocked is not None:
            _refuse(blocked)

    def _finish_records(self, inp: FinishRunInput) -> None:
        s = self.store
        if inp.state is not None and inp.status == "success":
            s.save_thread_state(inp.thread_id, inp.tenant, inp.state, inp.run_id)
        if inp.status != "success":
            s.close_open_approvals(inp.run_id, "cancelled" if inp.status == "cancelled" else "closed")
        s.set_run_status(inp.run_id, inp.status, output=inp.outcome, error=inp.error)
        s.append_events(
            inp.run_id,
            [
                *((e.key, e.type, e.data) for e in inp.events),
                (inp.key, "run_finished", {"status": inp.status, "outcome": inp.outcome, "error": inp.error}),
            ],
        )
        # The prompt versions the run's nodes actually sent (known only once they ran; see agents._llm).
        prompts = (inp.outcome or {}).get("prompt_versions") or []
        s.append_audit(
            inp.tenant,
            "steward",
            f"run.{inp.status}",
            {"outcome": inp.outcome, "error": inp.error, "prompt_version": ",".join(prompts) or None},
            run_id=inp.run_id,
            key=f"{inp.run_id}:{inp.key}",
        )

    @activity.defn(name="steward.append_events")
    def append_events(self, inp: AppendEventsInput) -> list[int]:
        with self.store.batch():
            blocked = self._write_begin(inp.begin)
            if blocked is None:
                seqs = self.store.append_events(inp.run_id, [(e.key, e.type, e.data) for e in inp.events])
                if inp.run_status:
                    self.store.set_run_status(inp.run_id, inp.run_status)
        if blocked is not None:
            _refuse(blocked)
        return seqs

    @activity.defn(name="steward.record_approvals")
    def record_approvals(self, inp: RecordApprovalsInput) -> None:
        """The approvals, their audit records and events, and the run's ``interrupted`` status in one
        transaction: a reader that sees the approvals sees the run waiting on them."""
        s = self.store
        with s.batch():
            for i, item in enumerate(inp.approvals):
                req = item["request"]
                s.upsert_approval(req, item.get("deadline_at"))
                s.append_audit(
                    req["tenant"],
                    req["requester"],
                    inp.event_type.replace("_", "."),
                    {
                        "approval_id": req["approval_id"],
                        "tool": req["tool"],
                        "args": req["args"],
                        "required_role": req["required_role"],
                        "rule_id": req.get("rule_id"),
                        "policy_version": req.get("policy_version"),
                        "deadline_at": item.get("deadline_at"),
                    },
                    run_id=inp.run_id,
                    key=f"{inp.run_id}:{inp.key}:{i}",
                )
            s.append_events(
                inp.run_id,
                [
                    (f"{inp.key}:{i}", inp.event_type, {**item["request"], "deadline_at": item.get("deadline_at")})
                    for i, item in enumerate(inp.approvals)
                ],
            )
            s.set_run_status(inp.run_id, "interrupted")

    @activity.defn(name="steward.record_decision")
    def record_decision(self, inp: RecordDecisionInput) -> None:
        s = self.store
        s.decide_approval(inp.approval_id, inp.status, inp.decided_by, inp.action, inp.comment, inp.final_args)
        asked = s.get_approval(inp.approval_id)
        s.append_audit(
            inp.tenant,
            inp.decided_by,
            "approval.partial" if inp.status == "pending" else f"approval.{inp.status}",
            {
                "approval_id": inp.approval_id,
                "action": inp.action,
                "comment": inp.comment,
                "final_args": inp.final_args,
                # The policy version whose rule asked for this approval: a decision names the rules it answered.
                "policy_version": asked["request"].get("policy_version") if asked else None,
            },
            run_id=inp.run_id,
            key=f"{inp.run_id}:{inp.key}",
        )
        s.append_events(
            inp.run_id,
            [
                (
                    inp.key,
                    "approval_partial" if inp.status == "pending" else "approval_decided",
                    {
                        "approval_id": inp.approval_id,
                        "status": inp.status,
                        "action": inp.action,
                        "decided_by": inp.decided_by,
                        "comment": inp.comment,
                        "args": inp.final_args,
                    },
                )
            ],
        )

    @activity.defn(name="steward.evaluate_tool_call")
    def evaluate_tool_call(self, inp: EvaluateToolCallInput) -> ToolCallVerdict:
        """Schema validation and the policy decision for one call; both verdicts go to events and audit."""
        s = self.store
        key = f"{inp.tool_call_id}:{inp.stage}"
        events: list[tuple[str, str, dict[str, Any]]] = []
        if inp.stage == "proposed":
            events.append(
                (
                    f"{key}:proposed",
                    "tool_call_proposed",
                    {"tool_call_id": inp.tool_call_id, "tool": inp.tool, "args": inp.args},
                )
            )
        guard_outcome = None
        try:
            if inp.offered is not None and inp.tool not in inp.offered:
                raise KeyError(f"tool {inp.tool!r} is not one of this agent's tools; known: {sorted(inp.offered)}")
            spec = get_tool(inp.tool)
            args = spec.validate_args(inp.args)
            guard_outcome = run_point("tool_args", args, inp.assistant_id, tool=spec.name)
        except (KeyError, ToolArgumentsInvalid) as exc:
            reason = str(exc).strip("'\"")
            verdict = ToolCallVerdict(
                effect="deny", reason=reason, rule_id="schema", policy_version=self.policy.version, args=inp.args
            )
        if guard_outcome is not None and guard_outcome.blocked is not None:
            blocked = guard_outcome.blocked
            verdict = ToolCallVerdict(
                effect="deny",
                reason=str(GuardError(blocked)),
                rule_id=f"guard:{blocked.validator}",
                policy_version=self.policy.version,
                args=args,
                risk=spec.risk,
                side_effect=spec.side_effect,
            )
        elif guard_outcome is not None:
            args = guard_outcome.value
            decision = self.policy.decide(
                PolicyInput(
                    tool=spec.name,
                    risk=spec.risk,
                    side_effect=spec.side_effect,
                    args=args,
                    tenant=inp.tenant,
                    requester=Principal.model_validate(inp.requester),
                    assistant_id=inp.assistant_id,
                    model_confidence=inp.confidence,
                    consent=inp.consent or {},
                )
            )
            verdict = ToolCallVerdict(
                effect=decision.effect,
                reason=decision.reason,
                rule_id=decision.rule_id,
                policy_version=decision.policy_version,
                args=args,
                risk=spec.risk,
                side_effect=spec.side_effect,
                timeout_s=spec.timeout_s,
                required_role=decision.required_role,
                approvals_required=decision.approvals_required,
                deadline_s=decision.deadline_s,
                on_timeout=decision.on_timeout,
                escalate_to=decision.escalate_to,
                escalation_deadline_s=decision.escalation_deadline_s,
            )
        verdict_data = {
            "tool_call_id": inp.tool_call_id,
            "tool": inp.tool,
            "stage": inp.stage,
            "effect": verdict.effect,
            "reason": verdict.reason,
            "rule_id": verdict.rule_id,
            "policy_version": verdict.policy_version,
            "required_role": verdict.required_role,
        }
        if guard_outcome is not None:
            self._guard_records(inp.run_id, inp.tenant, key, guard_outcome, inp.tool, events)
        events.append((f"{key}:verdict", "policy_decision", verdict_data))
        s.append_events(inp.run_id, events)
        s.append_audit(
            inp.tenant,
            inp.requester.get("id", "?"),
            "policy.decision",
            verdict_data,
            run_id=inp.run_id,
            key=f"{inp.run_id}:{key}:policy",
        )
        return verdict

    def _guard_records(
        self,
        run_id: str,
        tenant: str,
        key: str,
        outcome: GuardOutcome,
        tool: str,
        events: list[tuple[str, str, dict[str, Any]]],
    ) -> None:
        """Every guard verdict is visible: one event per failure, and the whole summary in the audit trail."""
        for i, v in enumerate(outcome.failures):
            events.append((f"{key}:guard:{i}", "guard_verdict", {"tool": tool, **v.public()}))
        point = outcome.verdicts[0].point if outcome.verdicts else "none"
        self.store.append_audit(
            tenant,
            "steward:guards",
            f"guard.{point}",
            {"tool": tool, **_guard_summary(outcome), "policy_version": self.policy.version},
            run_id=run_id,
            key=f"{run_id}:{key}:guards",
        )

    @activity.defn(name="steward.execute_tool")
    async def execute_tool(self, inp: ExecuteToolInput) -> dict[str, Any]:
        """Run a tool once per call id. Re-checks the approval record: no approval, no execution."""
        s = self.store
        spec = get_tool(inp.tool)
        args = spec.validate_args(inp.args)
        if inp.requires_approval:
            appr = s.get_approval(inp.approval_id or "")
            if appr is None or appr["status"] not in ("approved", "edited"):
                raise ApplicationError(
                    f"tool {inp.tool!r} requires an approval and approval {inp.approval_id!r} is "
                    f"{appr['status'] if appr else 'missing'}",
                    type="GuardBlocked",
                    non_retryable=True,
                )
            approved_args = appr["final_args"] if appr["final_args"] is not None else appr["args"]
            if spec.validate_args(approved_args) != args:
                raise ApplicationError(
                    f"tool {inp.tool!r}: arguments differ from the approved ones",
                    type="GuardBlocked",
                    non_retryable=True,
                )
        info = activity.info()
        prefix = f"{inp.tool_call_id}:exec:{info.attempt}"
        cached = s.begin_tool_execution(inp.run_id, inp.tool_call_id, inp.tool, args, inp.approval_id)
        if cached is not None:
            return cached
        s.append_events(
            inp.run_id,
            [
                (
                    f"{prefix}:start",
                    "tool_started",
                    {"tool_call_id": inp.tool_call_id, "tool": inp.tool, "args": args, "attempt": info.attempt},
                )
            ],
        )
        started = time.perf_counter()
        try:
            with action_scope(self.actions) as actions:
                result = await spec.run(args, issue_grant(inp.run_id, inp.tool_call_id, inp.approval_id))
        except Exception as exc:
            s.append_events(
                inp.run_id,
                [
                    (
                        f"{prefix}:error",
                        "tool_failed",
                        {
                            "tool_call_id": inp.tool_call_id,
                            "tool": inp.tool,
                            "error": f"{type(exc).__name__}: {exc}",
                            "attempt": info.attempt,
                        },
                    )
                ],
            )
            raise
        guarded = run_point("tool_output", result, inp.assistant_id or "default", tool=inp.tool)
        guard_events: list[tuple[str, str, dict[str, Any]]] = []
        self._guard_records(inp.run_id, inp.tenant, f"{inp.tool_call_id}:output", guarded, inp.tool, guard_events)
        if guard_events:
            s.append_events(inp.run_id, guard_events)
        staged = actions.staged
        if guarded.blocked is not None:
            # An output the guard blocks is not sent downstream either: the staged actions are withheld.
            result = {"blocked_by_guard": str(GuardError(guarded.blocked))}
            staged = []
        else:
            result = guarded.value
        # The webhook adapter's outbox rows commit with the ledger row: the action exists iff the tool finished.
        s.finish_tool_execution(
            inp.run_id, inp.tool_call_id, "done", result, also=self.outbox.stage(inp.tenant, staged) if staged else None
        )
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        s.append_events(
            inp.run_id,
            [
                (
                    f"{inp.tool_call_id}:exec:done",
                    "tool_finished",
                    {"tool_call_id": inp.tool_call_id, "tool": inp.tool, "result": result, "ms": elapsed_ms},
                )
            ],
        )
        s.append_audit(
            inp.tenant,
            inp.actor,
            "tool.executed",
            {
                "tool": inp.tool,
                "version": spec.version,
                "tool_call_id": inp.tool_call_id,
                "args": args,
                "approval_id": inp.approval_id,
                "result": result,
            },
            run_id=inp.run_id,
            key=f"{inp.run_id}:{inp.tool_call_id}:executed",
        )
        return result


def _assistant_lineage(assistant_id: str) -> dict[str, Any]:
    """Which assistant version and model card answered: the audit trail links every run to them. The prompt
    versions are not known yet: nodes load them when they send them; ``finish_run`` records them."""
    from agents.registry import get_assistant

    try:
        spec = get_assistant(assistant_id)
    except KeyError:
        return {"assistant_version": None, "card": None}
    return {
        "assistant_version": spec.version,
        "card": f"assistant/{spec.name}@{spec.version}",
    }


def _guard_summary(outcome: GuardOutcome) -> dict[str, Any]:
    return {
        "profile": outcome.profile,
        "profile_version": outcome.profile_version,
        "checked": len(outcome.verdicts),
        "failed": [v.public() for v in outcome.failures],
        "blocked": outcome.blocked.public() if outcome.blocked else None,
    }


class StoreEventSink:
    """The sink activity-side nodes write to (injected into ``agents.context``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.store.append_events(run_id, events)

    def node(
        self,
        run_id: str,
        node: str,
        task_key: str,
        attempt: int,
        status: str,
        event: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        self.store.record_node_execution(run_id, node, task_key, attempt, status, event)


def _begin_key(inp: BeginRunInput) -> str:
    """The ``run.started`` audit record's key: the proof that a run's begin records were written."""
    return f"{inp.run_id}:begin"


def _refuse(blocked: Any) -> NoReturn:
    """Fail the activity for a blocked input, after its records committed (the run's record of why stays)."""
    raise ApplicationError(str(GuardError(blocked)), type="GuardBlocked", non_retryable=True)
