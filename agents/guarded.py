"""The guarded tool node: the only path from an agent to a tool.

Per proposed call: validate arguments and ask the policy (a local activity that also writes the verdict to
the event log and the audit trail) -> deny, allow, or ``interrupt()`` with an ``ApprovalRequest`` -> the
workflow waits durably for the ``decide`` update -> execute in the ``steward.execute_tool`` activity with the
approved (or edited and re-checked) arguments. The activity checks the approval record again before it runs
the tool, so a graph that calls the activity directly still cannot skip an approval.

Tool calls of one step fan out with ``Send`` (see ``route_tool_calls``), so several calls can wait for
approval at the same time, each with its own approval id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict

from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt
from temporalio import workflow
from temporalio.common import RetryPolicy

from agents.context import RunContext
from guards.types import ApprovalRequest, Principal, has_role

GUARDED_NODE = "tools"
EVALUATE_ACTIVITY = "steward.evaluate_tool_call"
EXECUTE_ACTIVITY = "steward.execute_tool"


class ToolCall(TypedDict):
    id: str
    name: str
    args: dict[str, Any]


class ToolCallTask(TypedDict):
    call: ToolCall


class ToolResult(TypedDict, total=False):
    run_id: str
    tool_call_id: str
    tool: str
    status: str  # executed | denied | rejected | responded | failed
    args: dict[str, Any]
    output: Any
    reason: str
    approval_id: str | None
    decided_by: str | None
    policy_rule: str
    """The policy rule that decided this call's gate (allow, deny or require approval): the outcome's basis."""
    policy_version: str


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
    if verdict.effect == "require_approval":
        request = _approval_request(ctx, call, verdict)
        approval_id = request.approval_id
        decision: dict[str, Any] = interrupt(request.model_dump())
        decided_by = decision.get("decided_by")
        args, final = await _apply_decision(ctx, call, args, {"approval_id": approval_id, **decision}, offered)
        if final is not None:
            return final
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
    return _result(ctx, call, "executed", args=args, output=out, approval_id=approval_id, decided_by=decided_by)


async def guarded_tool_node(state: ToolCallTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Runs in the workflow: policy and approval gates are workflow logic; the tool runs in an activity."""
    return {"tool_results": [await run_guarded_call(runtime.context, state["call"])]}


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
        return [Send(GUARDED_NODE, {"call": c}) for c in calls]

    return route_tool_calls


GUARDED_NODE_METADATA = {"execute_in": "workflow"}
