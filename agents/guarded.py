"""The guarded tool node: the only path from an agent to a tool.

Per proposed call: validate arguments and ask the policy (a local activity that also writes the verdict to
the event log and the audit trail) -> deny, allow, or ``interrupt()`` with an ``ApprovalRequest`` -> the
workflow waits durably for the ``decide`` update -> execute in the ``steward.execute_tool`` activity with the
approved (or edited and re-checked) arguments. The activity checks the approval record again before it runs
the tool, so a graph that calls the activity directly still cannot skip an approval.

Tool calls of one step fan out with ``Send`` (see ``route_tool_calls``), so several calls can wait for
approval at the same time, each with its own approval id.

An action that presupposes a decision (``ToolSpec.depends_on``: a customer notice presupposes
``approve_loan`` or ``decline_loan``) never waits beside that decision: the router chains it behind the
decision in the decision's own task, and it is proposed only once the decision executed as proposed. When the
decision was rejected, denied, answered instead, edited or never taken, the action is dropped, and the drop
(``tool_call_dropped`` event, a ``dropped`` result with the reason) is on the record. Why in one task rather
than in a later step: a later step would need a channel in every agent's state and would run beside the
agent's next node; in one task the graph's topology is unchanged and the decision's result, which the check
needs, is at hand. On resume LangGraph re-runs the task from its start, which is safe: the policy check is
repeated (it decides the same) and the ``execute_tool`` ledger returns the recorded result of a call that
already ran instead of running it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Required, TypedDict

from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from agents.context import RunContext
from guards.types import ApprovalRequest, Principal, has_role
from tools.registry import dependencies_of

GUARDED_NODE = "tools"
EVALUATE_ACTIVITY = "steward.evaluate_tool_call"
EXECUTE_ACTIVITY = "steward.execute_tool"
APPEND_EVENTS_ACTIVITY = "steward.append_events"
DROPPED_EVENT = "tool_call_dropped"


class ToolCall(TypedDict):
    id: str
    name: str
    args: dict[str, Any]


class ToolCallTask(TypedDict, total=False):
    call: Required[ToolCall]
    then: list[ToolCall]
    """Calls that presuppose ``call``'s decision (or a decision chained before them), in order: each runs
    after it only if that decision executed as proposed."""
    prior: list[dict[str, Any]]
    """Earlier results (from the graph state, of any run of the thread) of the tools these calls depend on;
    filtered to this run here, since the router does not know the run id."""


class ToolResult(TypedDict, total=False):
    run_id: str
    tool_call_id: str
    tool: str
    status: str  # executed | denied | rejected | responded | failed | dropped
    args: dict[str, Any]
    output: Any
    reason: str
    approval_id: str | None
    decided_by: str | None
    policy_rule: str
    """The policy rule that decided this call's gate (allow, deny or require approval): the outcome's basis."""
    policy_version: str
    edited: bool
    """A person edited the arguments before execution (``args`` are the edited ones)."""
    depends_on: str
    """For a dropped call: the decision tool it presupposed."""


@dataclass
class EvaluateToolCallInput:
    run_id: str
    thread_id: str
    tenant: str
    assistant_id: str
    requester: dict[str, Any]
    tool_call_id: str
    tool: str
    args: dict[str, Any]
    stage: str = "proposed"
    """"proposed" for the model's call, "edited" after an approver changed the arguments."""
    confidence: float = 1.0
    """The proposing model's confidence (1.0 when rules proposed the call); policies may use it."""
    consent: dict[str, bool] | None = None
    """Consent flags of the data in this run, by purpose; policies refuse purposes without consent."""
    offered: list[str] | None = None
    """The tools the calling node offers (an adopted ``ToolNode``'s own); a call to another registered tool is
    denied naming these, so a ToolNode never runs a tool its author did not give it. None: any registered tool."""


@dataclass
class ToolCallVerdict:
    effect: str
    reason: str
    rule_id: str
    policy_version: str
    args: dict[str, Any] = field(default_factory=dict)
    risk: str = "high"
    side_effect: bool = True
    timeout_s: float = 30.0
    required_role: str | None = None
    approvals_required: int = 1
    deadline_s: float | None = None
    on_timeout: str = "reject"
    escalate_to: str | None = None
    escalation_deadline_s: float | None = None


@dataclass
class ExecuteToolInput:
    run_id: str
    thread_id: str
    tenant: str
    tool_call_id: str
    tool: str
    args: dict[str, Any]
    approval_id: str | None
    requires_approval: bool
    actor: str
    assistant_id: str = "default"


def approval_id_for(run_id: str, tool_call_id: str) -> str:
    """Deterministic, so a replayed workflow produces the same id."""
    return "apr_" + hashlib.sha256(f"{run_id}:{tool_call_id}".encode()).hexdigest()[:20]


def _result(ctx: RunContext, call: ToolCall, status: str, **kw: Any) -> ToolResult:
    res: ToolResult = {"run_id": ctx["run_id"], "tool_call_id": call["id"], "tool": call["name"], "status": status}
    res.update(kw)  # type: ignore[typeddict-item]
    return res


async def _evaluate(
    ctx: RunContext, call: ToolCall, args: dict[str, Any], stage: str, offered: list[str] | None = None
) -> ToolCallVerdict:
    return await workflow.execute_local_activity(
        EVALUATE_ACTIVITY,
        EvaluateToolCallInput(
            run_id=ctx["run_id"],
            thread_id=ctx["thread_id"],
            tenant=ctx["tenant"],
            assistant_id=ctx["assistant_id"],
            requester=ctx["requester"],
            tool_call_id=call["id"],
            tool=call["name"],
            args=args,
            stage=stage,
            confidence=float(call.get("confidence", 1.0)),  # type: ignore[arg-type]
            consent=ctx.get("consent") or None,
            offered=offered,
        ),
        result_type=ToolCallVerdict,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=5),
    )


def _approval_request(ctx: RunContext, call: ToolCall, verdict: ToolCallVerdict) -> ApprovalRequest:
    return ApprovalRequest(
        approval_id=approval_id_for(ctx["run_id"], call["id"]),
        run_id=ctx["run_id"],
        thread_id=ctx["thread_id"],
        tenant=ctx["tenant"],
        assistant_id=ctx["assistant_id"],
        tool=call["name"],
        tool_call_id=call["id"],
        args=verdict.args,
        reason=verdict.reason,
        risk=verdict.risk,
        required_role=verdict.required_role or "approver",
        requester=ctx["requester"]["id"],
        deadline_s=verdict.deadline_s or 3600.0,
        on_timeout="escalate" if verdict.on_timeout == "escalate" else "reject",
        escalate_to=verdict.escalate_to,
        escalation_deadline_s=verdict.escalation_deadline_s,
        rule_id=verdict.rule_id,
        policy_version=verdict.policy_version,
        approvals_required=verdict.approvals_required,
    )


async def _apply_decision(
    ctx: RunContext, call: ToolCall, args: dict[str, Any], decision: dict[str, Any], offered: list[str] | None
) -> tuple[dict[str, Any], ToolResult | None]:
    """After a person decided: the arguments to execute with, and the final result instead when nothing runs."""
    decided_by = decision.get("decided_by")
    action = decision.get("action")
    common = {"approval_id": decision.get("approval_id"), "decided_by": decided_by}
    if action == "approve":
        return args, None
    if action == "reject":
        return args, _result(ctx, call, "rejected", args=args, reason=decision.get("comment") or "rejected", **common)
    if action == "respond":
        return args, _result(
            ctx,
            call,
            "responded",
            args=args,
            output=decision.get("response"),
            reason=decision.get("comment") or "operator responded instead",
            **common,
        )
    if action != "edit":
        return args, _result(ctx, call, "rejected", args=args, reason=f"unknown decision {action!r}", **common)
    edited = await _evaluate(ctx, call, dict(decision.get("args") or {}), "edited", offered)
    if edited.effect == "deny":
        return args, _result(ctx, call, "denied", args=decision.get("args") or {}, reason=edited.reason, **common)
    decider = Principal.model_validate(decision.get("principal") or {"id": decided_by or "?"})
    if edited.effect == "require_approval" and not has_role(decider, edited.required_role or "approver"):
        reason = f"edited arguments need role {edited.required_role!r}, which {decider.id!r} lacks"
        return args, _result(ctx, call, "rejected", args=edited.args, reason=reason, **common)
    approvals = len(decision.get("approvers") or [decided_by])
    if edited.effect == "require_approval" and edited.approvals_required > approvals:
        reason = f"edited arguments need {edited.approvals_required} approvals, got {approvals}"
        return args, _result(ctx, call, "rejected", args=edited.args, reason=reason, **common)
    return edited.args, None


async def run_guarded_call(ctx: RunContext, call: ToolCall, offered: list[str] | None = None) -> ToolResult:
    """One proposed call through the guarded path; workflow code (policy and approval gates are replayed).

    Shared by ``guarded_tool_node`` and the adopted ``ToolNode`` (``agents.toolnode``), so both run exactly the
    same steps. ``offered``: the tools the calling node offers; a call to any other tool is denied naming them.
    """
    verdict = await _evaluate(ctx, call, dict(call.get("args") or {}), "proposed", offered)
    result = await _gated_call(ctx, call, verdict, offered)
    # Every result names the rule that gated the proposed call, so an outcome can say which policy decided.
    result["policy_rule"], result["policy_version"] = verdict.rule_id, verdict.policy_version
    return result


async def _gated_call(
    ctx: RunContext, call: ToolCall, verdict: ToolCallVerdict, offered: list[str] | None
) -> ToolResult:
    """The steps after the policy's verdict: deny, or wait for a decision, then execute."""
    if verdict.effect == "deny":
        return _result(ctx, call, "denied", args=call.get("args") or {}, reason=verdict.reason)
    args = verdict.args
    approval_id: str | None = None
    decided_by: str | None = None
    edited = False
    if verdict.effect == "require_approval":
        request = _approval_request(ctx, call, verdict)
        approval_id = request.approval_id
        decision: dict[str, Any] = interrupt(request.model_dump())
        decided_by = decision.get("decided_by")
        proposed = args
        args, final = await _apply_decision(ctx, call, args, {"approval_id": approval_id, **decision}, offered)
        if final is not None:
            return final
        edited = decision.get("action") == "edit" and args != proposed
    out = await workflow.execute_activity(
        EXECUTE_ACTIVITY,
        ExecuteToolInput(
            run_id=ctx["run_id"],
            thread_id=ctx["thread_id"],
            tenant=ctx["tenant"],
            tool_call_id=call["id"],
            tool=call["name"],
            args=args,
            approval_id=approval_id,
            requires_approval=verdict.effect == "require_approval",
            actor=decided_by or ctx["requester"]["id"],
            assistant_id=ctx["assistant_id"],
        ),
        result_type=dict,
        start_to_close_timeout=timedelta(seconds=max(verdict.timeout_s, 1.0)),
        heartbeat_timeout=timedelta(seconds=max(verdict.timeout_s, 1.0)),
        retry_policy=RetryPolicy(
            maximum_attempts=3,
            non_retryable_error_types=["ToolArgumentsInvalid", "PermissionError", "ValidationError", "GuardBlocked"],
        ),
    )
    done = _result(ctx, call, "executed", args=args, output=out, approval_id=approval_id, decided_by=decided_by)
    if edited:
        done["edited"] = True
    return done


# -- dependent actions -------------------------------------------------------------------------------------------
def unmet_dependency(
    tool: str, chained: list[ToolResult] | list[dict[str, Any]], earlier: list[ToolResult] | list[dict[str, Any]]
) -> tuple[str, str] | None:
    """Why ``tool`` must not run, and the decision tool it presupposed; None when it may run (or depends on
    nothing).

    ``chained``: results of this step's calls that ran before it in its task (a decision proposed in the same
    step); such a decision must have executed exactly as proposed, since the action was written for it (an
    edited amount makes the notice wrong). ``earlier``: this run's results from earlier steps; an action
    proposed after its decision was taken saw the decision as it executed, edits included.
    """
    deps = dependencies_of(tool)
    if not deps:
        return None
    named = " or ".join(deps)
    same_step = [r for r in chained if r.get("tool") in deps]
    before = [r for r in earlier if r.get("tool") in deps]
    if not same_step and not before:
        return f"{tool} presupposes a decision by {named}, which this run has not taken", deps[0]
    r = (same_step or before)[-1]
    who = f" by {r['decided_by']}" if r.get("decided_by") else ""
    if r.get("status") != "executed":
        why = f": {r['reason']}" if r.get("reason") else ""
        return f"{tool} presupposes {r.get('tool')}, which was {r.get('status')}{who}{why}", str(r.get("tool"))
    if same_step and r.get("edited"):
        return (
            f"{tool} presupposes {r.get('tool')} as proposed, which was edited{who}; "
            "it must be proposed again from the decision as taken",
            str(r.get("tool")),
        )
    return None


async def drop_call(ctx: RunContext, call: ToolCall, reason: str, depends_on: str) -> ToolResult:
    """Record a dependent call that will not run: one ``tool_call_dropped`` event, and its result.

    Only the names of its arguments are recorded, never their values: a dropped call never reached the argument
    guards (PII redaction, secrets), so its values are unchecked text that must not reach the event log or the
    thread's state."""
    arg_names = sorted((call.get("args") or {}).keys())
    data = {
        "tool_call_id": call["id"],
        "tool": call["name"],
        "args": {},
        "arg_names": arg_names,
        "reason": reason,
        "depends_on": depends_on,
    }
    # A plain dict (the activity's AppendEventsInput shape): agents must not import the runtime package.
    event = {"key": f"{call['id']}:dropped", "type": DROPPED_EVENT, "data": data}
    events = {"run_id": ctx["run_id"], "events": [event]}
    await workflow.execute_local_activity(
        APPEND_EVENTS_ACTIVITY,
        events,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_attempts=5),
    )
    return _result(ctx, call, "dropped", args={}, arg_names=arg_names, reason=reason, depends_on=depends_on)


async def run_call_chain(
    ctx: RunContext,
    calls: list[ToolCall],
    earlier: list[dict[str, Any]],
    offered: list[str] | None = None,
    on_error: Callable[[ToolCall, ActivityError], ToolResult] | None = None,
) -> list[ToolResult]:
    """A decision and the calls chained behind it, in order; a dependent whose decision did not execute as
    proposed is dropped instead of run. Workflow code.

    ``on_error``: turns a tool that failed into its result (an adopted ``ToolNode`` that handles tool errors);
    without it the failure fails the step, as before.
    """
    mine = [r for r in earlier if r.get("run_id") == ctx["run_id"]]
    results: list[ToolResult] = []
    for call in calls:
        unmet = unmet_dependency(call["name"], results, mine)
        if unmet is not None:
            results.append(await drop_call(ctx, call, *unmet))
            continue
        try:
            results.append(await run_guarded_call(ctx, call, offered))
        except ActivityError as exc:
            if on_error is None:
                raise
            results.append(on_error(call, exc))
    return results


async def guarded_tool_node(state: ToolCallTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Runs in the workflow: policy and approval gates are workflow logic; the tool runs in an activity."""
    calls = [state["call"], *(state.get("then") or [])]
    return {"tool_results": await run_call_chain(runtime.context, calls, list(state.get("prior") or []))}


def is_guarded_node(fn: Any) -> bool:
    """The guarded tool node, or a user's ``ToolNode`` replaced by ``agents.toolnode.adopt_tool_nodes``."""
    return fn is guarded_tool_node or getattr(fn, "__steward_guarded__", False) is True


def tool_router(next_node: str) -> Callable[[dict[str, Any]], Awaitable[list[Send] | str]]:
    """A conditional edge that fans each pending call out to its own guarded node task, or goes on.

    One ``Send`` per call is what lets two calls of one step wait for approval at the same time.
    """

    async def route_tool_calls(state: dict[str, Any]) -> list[Send] | str:
        calls = state.get("pending_tool_calls") or []
        if not calls:
            return next_node
        return [Send(GUARDED_NODE, task) for task in plan_tool_calls(calls, state.get("tool_results") or [])]

    return route_tool_calls


_CHECKED = ("run_id", "tool", "status", "reason", "decided_by", "edited")


def plan_tool_calls(calls: list[ToolCall], results: list[dict[str, Any]]) -> list[ToolCallTask]:
    """One task per independent call, each carrying the calls that depend on it (``ToolSpec.depends_on``).

    A call whose decision is proposed in the same step is chained behind that decision (behind the first such
    call), so it is never put to an approver beside a decision that may still be rejected; calls of a chain are
    ordered so each follows what it depends on. Every other call gets its own task, so independent calls still
    wait for approval in parallel. A circular declaration puts each call of the cycle in a task of its own,
    where the check drops it: a cycle can never be satisfied.
    """
    parent: dict[int, int | None] = {}
    for i, call in enumerate(calls):
        deps = dependencies_of(call["name"])
        parent[i] = next((j for j, other in enumerate(calls) if j != i and other["name"] in deps), None)

    def root_and_depth(i: int) -> tuple[int, int]:
        seen = {i}
        node, depth = i, 0
        while (up := parent[node]) is not None:
            if up in seen:
                return i, 0  # a cycle: on its own
            seen.add(up)
            node, depth = up, depth + 1
        return node, depth

    placed = {i: root_and_depth(i) for i in range(len(calls))}
    tasks: list[ToolCallTask] = []
    for r in range(len(calls)):
        if placed[r] != (r, 0):
            continue
        chain = sorted((k for k in placed if placed[k][0] == r and k != r), key=lambda k: (placed[k][1], k))
        members = [calls[r], *(calls[k] for k in chain)]
        needed = {d for c in members for d in dependencies_of(c["name"])}
        task: ToolCallTask = {"call": calls[r]}
        if chain:
            task["then"] = [calls[k] for k in chain]
        if needed:
            # Only what the check reads: outputs can be large and every Send payload is in the history.
            task["prior"] = [{k: res[k] for k in _CHECKED if k in res} for res in results if res.get("tool") in needed]
        tasks.append(task)
    return tasks


GUARDED_NODE_METADATA = {"execute_in": "workflow"}
