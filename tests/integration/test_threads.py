"""Thread state carries over between runs of one thread; each run has its own workflow and history."""

from __future__ import annotations

import uuid

from guards.types import Principal
from runtime import runs
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator"])


async def test_thread_state_carries_over_between_runs(client, store, task_queue, worker) -> None:
    thread_id = f"thread-{uuid.uuid4()}"
    first = {"application": {"application_id": "A-7", "applicant_id": "P-7", "amount": 4000}}
    h1 = await runs.start_run(client, store, task_queue, "loan_triage", first, REQUESTER, thread_id=thread_id)
    r1 = await h1.result()
    assert r1.outcome["decision"] == "incomplete"
    # The second run sends the completed application; the thread keeps the first run's conversation.
    second = {
        "application": {**first["application"], "annual_income": 30000, "credit_score": 600, "purpose": "repairs"}
    }
    h2 = await runs.start_run(client, store, task_queue, "loan_triage", second, REQUESTER, thread_id=thread_id)
    r2 = await h2.result()
    assert h1.id != h2.id
    assert r2.outcome["decision"] == "referred"
    contents = [m["content"] for m in r2.state["messages"]]
    assert contents[0] == "Missing: annual_income, credit_score, purpose."
    assert contents[-1].startswith("Application A-7: referred")
    thread = store.get_thread(thread_id)
    assert thread["last_run_id"] == h2.id and thread["state"]["outcome"]["decision"] == "referred"
    assert [r["run_id"] for r in store.list_runs(thread_id)] == [h2.id, h1.id]


async def test_other_tenant_cannot_run_on_a_thread(client, store, task_queue, worker) -> None:
    import pytest

    from runtime.errors import NotFound

    thread_id = f"thread-{uuid.uuid4()}"
    store.create_thread(thread_id, "bank-a")
    with pytest.raises(NotFound):
        await runs.start_run(
            client,
            store,
            task_queue,
            "loan_triage",
            {"application": {"application_id": "A", "applicant_id": "P", "amount": 1}},
            Principal(id="eve", roles=["operator"], tenant="bank-b"),
            thread_id=thread_id,
        )


async def test_long_run_continues_as_new_at_an_approval_boundary(client, store, task_queue, worker) -> None:
    from temporalio.client import WorkflowExecutionStatus

    from guards.types import ApprovalDecision
    from runtime.workflow import WORKFLOW_NAME, AgentRunInput, AgentRunResult
    from tests.conftest import GOOD_APPLICATION, pending_approvals

    run_id = f"run-{uuid.uuid4()}"
    store.create_run(run_id, "thread-can", "loan_triage", "default", "alice", GOOD_APPLICATION)
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        AgentRunInput(
            run_id=run_id,
            thread_id="thread-can",
            assistant_id="loan_triage",
            input=GOOD_APPLICATION,
            requester=REQUESTER.model_dump(),
            history_limit=1,
        ),
        id=run_id,
        task_queue=task_queue,
        result_type=AgentRunResult,
    )
    first_run = handle.result_run_id
    # Lending policy 2026.12: one approval (the loan); the templated notice follows it straight through.
    (row,) = await pending_approvals(store, run_id, 1)
    assert row["tool"] == "approve_loan"
    await deciding.decide(
        client,
        store,
        ApprovalDecision(
            approval_id=row["approval_id"], action="approve", principal=Principal(id="bob", roles=["approver"])
        ),
    )
    result = await handle.result()
    assert result.status == "success" and result.outcome["decision"] == "approved"
    first = client.get_workflow_handle(run_id, run_id=first_run)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert "continued_as_new" in [e["type"] for e in store.events_after(run_id)]
    tools = store.tool_executions(run_id)
    assert sorted(t["tool"] for t in tools) == ["approve_loan", "credit_check", "notify_customer"]
    assert all(t["attempts"] == 1 for t in tools)
    assert [a["tool"] for a in store.list_approvals(run_id=run_id)] == ["approve_loan"]
    assert store.get_thread("thread-can")["state"]["outcome"]["decision"] == "approved"
