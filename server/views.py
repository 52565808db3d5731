"""Store rows -> public models, and tenant-scoped loading.

Status vocabulary: the app store says pending / running / interrupted / success / error / cancelled; the
Agent Server says pending / running / interrupted / success / error / timeout. Two differences are bridged
here, in one place:

- ``interrupted`` in the store stays set after the approvals are decided until the run finishes, so a run
  is shown ``interrupted`` only while it has a pending approval, and ``running`` otherwise.
- ``cancelled`` has no Agent Server name: it is shown as ``interrupted`` with ``cancel_reason`` set, which
  is how the Agent Server reports a cancelled run.

A row of another tenant is reported as not found (404), never as forbidden, so ids do not leak.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from guards.types import Principal
from runtime.errors import NotFound
from runtime.store import TERMINAL_STATUSES, Store
from server.schemas import ApprovalPublic, Interrupt, RunPublic, RunStatus, ThreadPublic, ThreadStatus


@overload
def ts(value: float) -> datetime: ...
@overload
def ts(value: None) -> None: ...
def ts(value: float | None) -> datetime | None:
    """Epoch seconds (the store's clock) as an aware UTC datetime; ``None`` stays ``None``."""
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def load_thread(store: Store, principal: Principal, thread_id: str) -> dict[str, Any]:
    thread = store.get_thread(thread_id)
    if thread is None or thread["tenant"] != principal.tenant:
        raise NotFound(f"thread {thread_id!r} not found")
    return thread


def load_run(store: Store, principal: Principal, run_id: str, thread_id: str | None = None) -> dict[str, Any]:
    run = store.get_run(run_id)
    if run is None or run["tenant"] != principal.tenant or (thread_id is not None and run["thread_id"] != thread_id):
        where = f" in thread {thread_id!r}" if thread_id else ""
        raise NotFound(f"run {run_id!r} not found{where}")
    return run


def load_approval(store: Store, principal: Principal, approval_id: str) -> dict[str, Any]:
    approval = store.get_approval(approval_id)
    if approval is None or approval["tenant"] != principal.tenant:
        raise NotFound(f"approval {approval_id!r} not found")
    return approval


def open_approvals(store: Store, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Approvals the run still waits for; none once it has ended (a cancelled run leaves rows pending)."""
    if run["status"] in TERMINAL_STATUSES:
        return []
    return store.list_approvals(run_id=run["run_id"], status="pending")


def human_interrupt(request: dict[str, Any]) -> dict[str, Any]:
    """An approval request with LangGraph's ``HumanInterrupt`` fields beside Steward's own.

    Agent Inbox-style clients render ``action_request`` / ``config`` / ``description`` and answer with a
    ``HumanResponse`` (``accept`` / ``edit`` / ``response`` / ``ignore``), which ``server.dispatch`` maps to
    approve / edit / respond / reject. Every one of those is a decision the workflow's ``decide`` update takes,
    so all four ``allow_*`` flags are true; the update validator still checks roles and separation of duties.
    A value that is not an approval request (no ``tool``) is returned unchanged.
    """
    if "tool" not in request or "action_request" in request:
        return dict(request)
    risk, reason = request.get("risk", ""), request.get("reason", "")
    return {
        **request,
        "action_request": {"action": request["tool"], "args": request.get("args") or {}},
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True},
        "description": f"{request['tool']} needs approval ({risk} risk, role {request.get('required_role')}): {reason}",
    }


def interrupt_of(approval: dict[str, Any]) -> Interrupt:
    value = human_interrupt(dict(approval["request"]))
    value["deadline_at"] = approval.get("deadline_at")
    return Interrupt(id=approval["approval_id"], value=value)


def open_interrupts(store: Store, run: dict[str, Any]) -> list[Interrupt]:
    """What a run waits on: its pending approvals, then the questions its graph asked with ``interrupt()``
    (their ``id`` is LangGraph's interrupt id, their ``value`` what the node passed, verbatim)."""
    from runtime.interrupts import open_questions

    out = [interrupt_of(a) for a in open_approvals(store, run)]
    if run["status"] == "interrupted":
        out += [Interrupt(id=q["id"], value=q["value"]) for q in open_questions(store, run["run_id"])]
    return out


_SAME_NAME: tuple[RunStatus, ...] = ("pending", "running", "success", "error", "timeout")


def public_status(raw: str, waiting: bool) -> tuple[RunStatus, str | None]:
    """(Agent Server status, cancel reason) of a store status; ``waiting``: a pending approval exists."""
    if raw == "cancelled":
        return "interrupted", "cancelled"
    if raw == "interrupted":
        return ("interrupted" if waiting else "running"), None
    return next((s for s in _SAME_NAME if s == raw), "error"), None


def run_public(store: Store, run: dict[str, Any], temporal_ui: str | None) -> RunPublic:
    pending = open_interrupts(store, run)
    status, cancel_reason = public_status(run["status"], bool(pending))
    return RunPublic(
        run_id=run["run_id"],
        thread_id=run["thread_id"],
        assistant_id=run["assistant_id"],
        created_at=ts(run["created_at"]),
        updated_at=ts(run["updated_at"]),
        status=status,
        kwargs={"input": run["input"]},
        cancel_reason=cancel_reason,
        steward_status=run["status"],
        requester=run["requester"],
        outcome=run["output"],
        error=run["error"],
        interrupts=pending,
        temporal_url=f"{temporal_ui}/workflows/{run['run_id']}" if temporal_ui else None,
    )


def thread_status(store: Store, thread_id: str) -> tuple[ThreadStatus, dict[str, list[Interrupt]]]:
    """The thread's status from its runs: waiting for people, busy, last run failed, or idle."""
    runs = store.list_runs(thread_id, limit=50)
    interrupts: dict[str, list[Interrupt]] = {}
    busy = False
    for run in runs:
        if run["status"] in TERMINAL_STATUSES:
            continue
        busy = True
        pending = open_interrupts(store, run)
        if pending:
            interrupts[run["run_id"]] = pending
    if interrupts:
        return "interrupted", interrupts
    if busy:
        return "busy", {}
    if runs and runs[0]["status"] == "error":
        return "error", {}
    return "idle", {}


def thread_public(store: Store, thread: dict[str, Any]) -> ThreadPublic:
    status, interrupts = thread_status(store, thread["thread_id"])
    return ThreadPublic(
        thread_id=thread["thread_id"],
        created_at=ts(thread["created_at"]),
        updated_at=ts(thread["updated_at"]),
        metadata=thread["metadata"],
        status=status,
        values=thread["state"],
        interrupts=interrupts,
    )


def approval_public(a: dict[str, Any]) -> ApprovalPublic:
    req = a.get("request") or {}
    return ApprovalPublic(
        approval_id=a["approval_id"],
        run_id=a["run_id"],
        thread_id=a["thread_id"],
        assistant_id=a["assistant_id"],
        tool=a["tool"],
        tool_call_id=a["tool_call_id"],
        args=a["args"],
        reason=a["reason"],
        risk=a["risk"],
        required_role=a["required_role"],
        requester=a["requester"],
        status=a["status"],
        created_at=ts(a["created_at"]),
        deadline_at=ts(a["deadline_at"]),
        decided_by=a["decided_by"],
        decided_at=ts(a["decided_at"]),
        action=a["action"],
        comment=a["comment"],
        final_args=a["final_args"],
        rule_id=req.get("rule_id"),
        policy_version=req.get("policy_version"),
    )
