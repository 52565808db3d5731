"""Separation of duties in the workflow's update validator: two distinct approvers for the highest risk, the
requester never approves, and an edit restarts the count."""

from __future__ import annotations

import pytest

from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import Forbidden
from tests.conftest import make_worker, pending_approvals
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator", "senior_approver"])
SENIOR_A = Principal(id="sam", roles=["senior_approver"])
SENIOR_B = Principal(id="sue", roles=["senior_approver"])
APPROVER = Principal(id="bob", roles=["approver"])


def big_loan(amount: float = 300_000) -> dict:
    return {
        "tool_calls": [
            {"id": "c1", "name": "approve_loan", "args": {"application_id": "A-1", "amount": amount, "reason": "large"}}
        ]
    }


async def test_highest_risk_needs_two_distinct_senior_approvers(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(client, store, task_queue, "scripted", big_loan(), REQUESTER, validate=False)
        (row,) = await pending_approvals(store, handle.id, 1)
        aid = row["approval_id"]
        assert row["required_role"] == "senior_approver" and row["request"]["approvals_required"] == 2
        with pytest.raises(Forbidden, match="lacks role 'senior_approver'"):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=aid, action="approve", principal=APPROVER)
            )
        with pytest.raises(Forbidden, match="separation of duties: 'alice' requested"):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=aid, action="approve", principal=REQUESTER)
            )
        first = await deciding.decide(
            client, store, ApprovalDecision(approval_id=aid, action="approve", principal=SENIOR_A)
        )
        assert first["status"] == "pending" and first["approvals"] == 1
        assert store.tool_executions(handle.id) == [], "one approval of two must not execute anything"
        with pytest.raises(Forbidden, match="'sam' already approved"):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=aid, action="approve", principal=SENIOR_A)
            )
        second = await deciding.decide(
            client, store, ApprovalDecision(approval_id=aid, action="approve", principal=SENIOR_B)
        )
        assert second["status"] == "approved"
        await handle.result()
    (executed,) = store.tool_executions(handle.id)
    assert executed["tool"] == "approve_loan" and executed["status"] == "done"
    actions = [r["action"] for r in store.audit_records(run_id=handle.id)]
    assert actions.count("approval.partial") == 1 and actions.count("approval.approved") == 1


async def test_an_edit_restarts_the_approval_count(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(
            client, store, task_queue, "scripted", big_loan(400_000), REQUESTER, validate=False
        )
        (row,) = await pending_approvals(store, handle.id, 1)
        aid = row["approval_id"]
        await deciding.decide(client, store, ApprovalDecision(approval_id=aid, action="approve", principal=SENIOR_A))
        edited = {"application_id": "A-1", "amount": 350_000, "reason": "reduced"}
        out = await deciding.decide(
            client, store, ApprovalDecision(approval_id=aid, action="edit", principal=SENIOR_B, args=edited)
        )
        assert out["status"] == "pending" and out["approvals"] == 1, "sam approved other arguments"
        assert store.get_approval(aid)["final_args"]["amount"] == 350_000
        await deciding.decide(client, store, ApprovalDecision(approval_id=aid, action="approve", principal=SENIOR_A))
        await handle.result()
    (executed,) = store.tool_executions(handle.id)
    assert executed["args"]["amount"] == 350_000


async def test_one_reject_ends_a_two_approver_request(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(client, store, task_queue, "scripted", big_loan(), REQUESTER, validate=False)
        (row,) = await pending_approvals(store, handle.id, 1)
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=SENIOR_A)
        )
        await deciding.decide(
            client,
            store,
            ApprovalDecision(approval_id=row["approval_id"], action="reject", principal=SENIOR_B, comment="no"),
        )
        result = await handle.result()
    assert store.tool_executions(handle.id) == []
    assert result.state["tool_results"][0]["status"] == "rejected"
