"""Rebuild one case's run as an MLflow trace from the event log: nodes, tool calls and approval waits as spans.

The event log already has every start and finish with timestamps, so the trace costs the run nothing: it is
written after the eval, from the store, with the case's checks attached as assessments.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from evals.journal import CaseResult


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def log_case_trace(
    mlflow: Any, result: CaseResult, case_input: dict[str, Any], events: Sequence[dict[str, Any]]
) -> str:
    if not events:
        return ""
    start, end = _ns(events[0]["ts"]), _ns(events[-1]["ts"])
    root = mlflow.start_span_no_context(
        name=f"case {result.case_id}",
        span_type="AGENT",
        inputs=case_input,
        attributes={
            "steward.case_id": result.case_id,
            "steward.run_id": result.run_id or "",
            "steward.passed": result.passed,
            "steward.status": result.status,
        },
        start_time_ns=start,
    )
    open_nodes: dict[str, deque[Any]] = defaultdict(deque)
    open_tools: dict[str, Any] = {}
    open_approvals: dict[str, Any] = {}
    for e in events:
        t, d, ts = e["type"], e.get("data") or {}, _ns(e["ts"])
        if t == "node_started":
            span = mlflow.start_span_no_context(
                name=str(d.get("node")), span_type="CHAIN", parent_span=root, start_time_ns=ts,
                attributes={"attempt": d.get("attempt", 1)},
            )  # fmt: skip
            open_nodes[str(d.get("node"))].append(span)
        elif t in ("node_finished", "node_failed") and open_nodes[str(d.get("node"))]:
            span = open_nodes[str(d.get("node"))].popleft()
            span.end(end_time_ns=ts, status="ERROR" if t == "node_failed" else "OK")
        elif t == "tool_started":
            open_tools[str(d.get("tool_call_id"))] = mlflow.start_span_no_context(
                name=str(d.get("tool")), span_type="TOOL", parent_span=root, inputs=d.get("args"), start_time_ns=ts
            )
        elif t in ("tool_finished", "tool_failed") and str(d.get("tool_call_id")) in open_tools:
            span = open_tools.pop(str(d.get("tool_call_id")))
            span.set_outputs(d.get("result") if t == "tool_finished" else {"error": d.get("error")})
            span.end(end_time_ns=ts, status="OK" if t == "tool_finished" else "ERROR")
        elif t == "approval_requested":
            open_approvals[str(d.get("approval_id"))] = mlflow.start_span_no_context(
                name=f"approval {d.get('tool')}", span_type="UNKNOWN", parent_span=root, start_time_ns=ts,
                inputs={"args": d.get("args"), "required_role": d.get("required_role"), "reason": d.get("reason")},
            )  # fmt: skip
        elif t == "approval_decided" and d.get("status") != "pending":
            span = open_approvals.pop(str(d.get("approval_id")), None)
            if span is not None:
                span.set_outputs({"status": d.get("status"), "decided_by": d.get("decided_by")})
                span.end(end_time_ns=ts)
    for span in [*(s for q in open_nodes.values() for s in q), *open_tools.values(), *open_approvals.values()]:
        span.end(end_time_ns=end)
    root.set_outputs({"status": result.status, "outcome": result.outcome})
    root.end(end_time_ns=end, status="OK" if result.status == "success" else "ERROR")
    return str(root.trace_id)


def log_checks(mlflow: Any, trace_id: str, result: CaseResult) -> None:
    """Each check as an assessment on the trace (after the trace is flushed: it must exist to be assessed)."""
    for name, check in result.checks.items():
        if check is not None:
            mlflow.log_feedback(trace_id=trace_id, name=name, value=check.passed, rationale=check.detail or None)
