"""Actions consistent with decisions (issue 16, item 1), on the real path: a real Temporal dev server, the
scripted test graph, the guarded tool node and the default policy.

A customer was notified "approved" after the approver rejected the loan, because the notice waited for
approval beside the decision it presupposed. A tool declared with ``depends_on`` is now chained behind its
decision: it is proposed only after the decision executed as proposed, and dropped (with the reason on the
record) when the decision was rejected, edited or never taken. Independent calls still wait side by side.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from guards.types import ApprovalDecision, Principal
from runtime import runs
from tests.conftest import make_worker, pending_approvals
from tests.integration import deciding
from tools.registry import register_tool

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


class DecisionArgs(BaseModel):
    case_id: str
    amount: float


class NoticeArgs(BaseModel):
    case_id: str
    message: str


class Done(BaseModel):
    ok: bool = True


# Test tools: a high-risk decision, a notice that presupposes it, and an unrelated medium-risk action; all three
# need an approver under the default policy (high-risk-approval, medium-side-effect-approval).
@register_tool(name="dep_test_decide", args_schema=DecisionArgs, result_schema=Done, risk="high", side_effect=True)
def _decide(args: DecisionArgs, grant: Any) -> dict[str, Any]:
    return {"ok": True}


@register_tool(
    name="dep_test_notify",
    args_schema=NoticeArgs,
    result_schema=Done,
    risk="medium",
    side_effect=True,
    depends_on=("dep_test_decide",),
)
def _notify(args: NoticeArgs, grant: Any) -> dict[str, Any]:
    return {"ok": True}


@register_tool(name="dep_test_other", args_schema=NoticeArgs, result_schema=Done, risk="medium", side_effect=True)
def _other(args: NoticeArgs, grant: Any) -> dict[str, Any]:
    return {"ok": True}


DECIDE = {"id": "c-decide", "name": "dep_test_decide", "args": {"case_id": "K-1", "amount": 900.0}}
NOTIFY = {"id": "c-notify", "name": "dep_test_notify", "args": {"case_id": "K-1", "message": "approved: 900"}}
OTHER = {"id": "c-other", "name": "dep_test_other", "args": {"case_id": "K-1", "message": "filed"}}


async def _start(client: Any, store: Any, task_queue: str, calls: list[dict[str, Any]]) -> Any:
    return await runs.start_run(client, store, task_queue, "scripted", {"tool_calls": calls}, REQUESTER, validate=False)


def _by_tool(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in rows}


async def _decide_as(client: Any, store: Any, row: dict[str, Any], action: str, **kw: Any) -> None:
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=row["approval_id"], action=action, principal=APPROVER, **kw)
    )


def _results(result: Any) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in result.state["tool_results"]}


async def test_a_dependent_action_waits_for_its_decision_while_independent_calls_wait_in_parallel(
    client, store, task_queue
) -> None:
    async with make_worker(client, store, task_queue):
        handle = await _start(client, store, task_queue, [DECIDE, NOTIFY, OTHER])
        first = _by_tool(await pending_approvals(store, handle.id, 2))
        # The decision and the independent call wait side by side; the notice is not put to anyone yet.
        assert set(first) == {"dep_test_decide", "dep_test_other"}
        await _decide_as(client, store, first["dep_test_decide"], "approve")
        await _decide_as(client, store, first["dep_test_other"], "approve")
        (notice,) = await pending_approvals(store, handle.id, 1)
        assert notice["tool"] == "dep_test_notify"
        # The decision ran before the notice was even proposed.
        assert {r["tool"] for r in store.tool_executions(handle.id)} == {"dep_test_decide", "dep_test_other"}
        await _decide_as(client, store, notice, "approve")
        result = await handle.result()
    assert result.status == "success"
    assert {t: r["status"] for t, r in _results(result).items()} == {
        "dep_test_decide": "executed",
        "dep_test_notify": "executed",
        "dep_test_other": "executed",
    }
    ran = {r["tool"]: r for r in store.tool_executions(handle.id)}
    assert set(ran) == {"dep_test_decide", "dep_test_notify", "dep_test_other"}
    assert all(r["attempts"] == 1 for r in ran.values()), "re-running the chain on resume never ran a tool twice"
    seq = {
        e["data"]["tool"]: e["seq"] for e in store.events_of_types(handle.id, ("tool_finished",)) if "tool" in e["data"]
    }
    proposed = {
        e["data"]["tool"]: e["seq"]
        for e in store.events_of_types(handle.id, ("tool_call_proposed",))
        if "tool" in e["data"]
    }
    assert seq["dep_test_decide"] < proposed["dep_test_notify"] < seq["dep_test_notify"]


async def test_a_dependent_action_is_dropped_when_its_decision_is_rejected(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await _start(client, store, task_queue, [DECIDE, NOTIFY])
        (row,) = await pending_approvals(store, handle.id, 1)
        assert row["tool"] == "dep_test_decide"
        await _decide_as(client, store, row, "reject", comment="not eligible")
        result = await handle.result()
    res = _results(result)
    assert res["dep_test_decide"]["status"] == "rejected"
    notice = res["dep_test_notify"]
    assert notice["status"] == "dropped" and notice["depends_on"] == "dep_test_decide"
    assert "dep_test_decide, which was rejected by bob: not eligible" in notice["reason"]
    assert store.tool_executions(handle.id) == []
    assert [r["tool"] for r in store.list_approvals(run_id=handle.id)] == ["dep_test_decide"], "never put to anyone"
    (dropped,) = store.events_of_types(handle.id, ("tool_call_dropped",))
    assert dropped["data"]["tool"] == "dep_test_notify" and dropped["data"]["reason"] == notice["reason"]


async def test_a_dependent_action_is_dropped_when_its_decision_was_edited(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await _start(client, store, task_queue, [DECIDE, NOTIFY])
        (row,) = await pending_approvals(store, handle.id, 1)
        await _decide_as(client, store, row, "edit", args={"case_id": "K-1", "amount": 500.0})
        result = await handle.result()
    res = _results(result)
    assert res["dep_test_decide"]["status"] == "executed" and res["dep_test_decide"]["edited"] is True
    assert res["dep_test_decide"]["args"]["amount"] == 500.0
    notice = res["dep_test_notify"]
    assert notice["status"] == "dropped" and "was edited by bob" in notice["reason"]
    assert {r["tool"] for r in store.tool_executions(handle.id)} == {"dep_test_decide"}


async def test_a_dependent_action_without_its_decision_is_dropped(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await _start(client, store, task_queue, [NOTIFY, OTHER])
        (row,) = await pending_approvals(store, handle.id, 1)
        assert row["tool"] == "dep_test_other"
        await _decide_as(client, store, row, "approve")
        result = await handle.result()
    notice = _results(result)["dep_test_notify"]
    assert notice["status"] == "dropped"
    assert notice["reason"] == "dep_test_notify presupposes a decision by dep_test_decide, which this run has not taken"
    assert {r["tool"] for r in store.tool_executions(handle.id)} == {"dep_test_other"}
    # Its arguments never reached the guards: only their names are kept, in the result and in the event log.
    assert notice["args"] == {} and notice["arg_names"] == sorted(NOTIFY["args"])
    dropped = [e["data"] for e in store.events_after(handle.id) if e["type"] == "tool_call_dropped"]
    assert [(d["args"], d["arg_names"]) for d in dropped] == [({}, sorted(NOTIFY["args"]))]
