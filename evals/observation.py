"""What a run did, read back from the store: the event log, the tool ledger and the approvals index.

Trajectories are the tool calls the agent *proposed*, in order of the agent steps that proposed them. Calls
proposed in one step run in parallel (one ``Send`` each) and reach the event log in whatever order their
activities finish, so within a step they are ordered by tool name: strict trajectory matching compares steps,
not races.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field


class ObservedCall(BaseModel):
    tool_call_id: str
    tool: str
    args: dict[str, Any]
    step: int
    status: str = "pending"
    """executed | denied | rejected | responded | failed | dropped | pending (never finished)."""
    final_args: dict[str, Any] | None = None
    """The arguments the tool ran with (after an approver's edit), from the tool ledger."""
    deny_reason: str | None = None


class ObservedApproval(BaseModel):
    approval_id: str
    tool: str
    tool_call_id: str = ""
    required_role: str
    approvals_required: int = 1
    status: str = "pending"
    decided_by: str | None = None


class Observation(BaseModel):
    """Everything the scorers look at for one case."""

    run_id: str | None = None
    status: str = "error"
    """success | error | timeout | cancelled (the run's final status, or the runner's verdict)."""
    error: str | None = None
    outcome: dict[str, Any] | None = None
    calls: list[ObservedCall] = Field(default_factory=list)
    approvals: list[ObservedApproval] = Field(default_factory=list)
    latency_s: float = 0.0
    """Wall time the runner spent on the case: start, approvals, result."""
    run_latency_s: float | None = None
    """From the run's first to its last event: the runtime's own time, without the runner around it."""
    tokens: int = 0
    tokens_source: str = "none"
    """usage (model-reported counts) | stream (streamed token events) | none."""
    cost: float | None = None
    models: list[str] = Field(default_factory=list)
    input_blocked: bool = False
    """The input guards blocked the run input (at the start, or inside the workflow)."""

    @property
    def guard_blocks(self) -> list[str]:
        return (["input"] if self.input_blocked else []) + [c.tool for c in self.calls if c.status == "denied"]


# -- reading the event log -----------------------------------------------------------------------------


def observe(
    run_id: str,
    events: Sequence[dict[str, Any]],
    ledger: Sequence[dict[str, Any]] = (),
    approval_rows: Sequence[dict[str, Any]] = (),
) -> Observation:
    """Build an observation from a run's events (``Store.events_after``), tool ledger and approvals index."""
    calls: dict[str, ObservedCall] = {}
    approvals: dict[str, ObservedApproval] = {}
    step, status, error, outcome = 0, "running", None, None
    usage_tokens, stream_tokens, cost, input_blocked = 0, 0, None, False
    models: set[str] = set()
    for e in events:
        t, d = e["type"], e.get("data") or {}
        if t == "node_finished":
            step += 1
        elif t == "tool_call_proposed":
            cid = str(d.get("tool_call_id"))
            calls.setdefault(
                cid, ObservedCall(tool_call_id=cid, tool=str(d.get("tool")), args=dict(d.get("args") or {}), step=step)
            )
        elif t == "tool_call_dropped":
            # A dependent action whose decision was rejected, edited or never taken (agents.guarded): proposed,
            # never put to anyone, never run.
            cid = str(d.get("tool_call_id"))
            calls.setdefault(
                cid, ObservedCall(tool_call_id=cid, tool=str(d.get("tool")), args=dict(d.get("args") or {}), step=step)
            ).status = "dropped"
        elif t == "policy_decision" and d.get("effect") == "deny":
            call = calls.get(str(d.get("tool_call_id")))
            if call is not None:
                call.status, call.deny_reason = "denied", d.get("reason")
        elif t in ("approval_requested", "approval_escalated"):
            aid = str(d.get("approval_id"))
            prior = approvals.get(aid)
            approvals[aid] = ObservedApproval(
                approval_id=aid,
                tool=str(d.get("tool")),
                tool_call_id=str(d.get("tool_call_id") or (prior.tool_call_id if prior else "")),
                required_role=str(d.get("required_role") or (prior.required_role if prior else "")),
                approvals_required=int(d.get("approvals_required") or 1),
                status=prior.status if prior else "pending",
            )
        elif t == "approval_decided":
            a = approvals.get(str(d.get("approval_id")))
            if a is not None and d.get("status") != "pending":
                a.status, a.decided_by = str(d.get("status")), d.get("decided_by")
                call = calls.get(a.tool_call_id)
                if call is not None and a.status in ("rejected", "timed_out", "responded"):
                    call.status = "responded" if a.status == "responded" else "rejected"
        elif t == "tool_finished":
            call = calls.get(str(d.get("tool_call_id")))
            if call is not None:
                call.status = "executed"
        elif t == "tool_failed":
            call = calls.get(str(d.get("tool_call_id")))
            if call is not None and call.status != "executed":
                call.status = "failed"
        elif t == "token":
            stream_tokens += 1
        elif t == "guard_verdict" and d.get("point") == "input" and not d.get("passed"):
            input_blocked = input_blocked or d.get("on_fail") in ("exception", "reask")
        elif t == "run_finished":
            status, outcome, error = str(d.get("status")), d.get("outcome"), d.get("error")
        usage = d.get("usage") if isinstance(d, dict) else None
        if isinstance(usage, dict):
            usage_tokens += int(usage.get("total_tokens") or 0) or int(
                (usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
                + (usage.get("completion_tokens") or usage.get("output_tokens") or 0)
            )
        for key in ("cost", "cost_usd"):
            if isinstance(d.get(key), int | float):
                cost = (cost or 0.0) + float(d[key])
        if isinstance(d.get("model"), str):  # model_fallback events, and tokens (only a model's are tokens)
            models.add(d["model"])
    for row in ledger:
        call = calls.get(str(row.get("tool_call_id")))
        if call is not None:
            call.final_args = dict(row.get("args") or {})
    for row in approval_rows:
        a = approvals.get(str(row.get("approval_id")))
        if a is not None:
            request = row.get("request") or {}
            a.approvals_required = int(request.get("approvals_required") or a.approvals_required)
    stamps = [float(e["ts"]) for e in events if e.get("ts") is not None]
    return Observation(
        run_id=run_id,
        status=status,
        error=error,
        outcome=outcome,
        calls=sorted(calls.values(), key=lambda c: (c.step, c.tool, c.tool_call_id)),
        approvals=sorted(approvals.values(), key=lambda a: (a.tool, a.approval_id)),
        run_latency_s=(max(stamps) - min(stamps)) if len(stamps) > 1 else None,
        tokens=usage_tokens or stream_tokens,
        tokens_source="usage" if usage_tokens else ("stream" if stream_tokens else "none"),
        cost=cost,
        models=sorted(models),
        input_blocked=input_blocked,
    )
