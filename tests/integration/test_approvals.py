"""Mandatory human approval on the real path: a real Temporal dev server, the real loan_triage graph."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import WorkflowFailureError

from guards.policy import PolicyEngine
from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.errors import Conflict, Forbidden, NotFound, UserError
from runtime.worker import build_worker
from tests.conftest import GOOD_APPLICATION, make_worker, pending_approvals
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


def executed(store: Any, run_id: str) -> dict[str, dict[str, Any]]:
    return {r["tool"]: r for r in store.tool_executions(run_id)}


async def start(client: Any, store: Any, task_queue: str, payload: dict[str, Any] | None = None) -> Any:
    return await runs.start_run(client, store, task_queue, "loan_triage", payload or GOOD_APPLICATION, REQUESTER)


# Two high-risk calls proposed in one step: both wait for a person at the same time. The loan flow no longer
# proposes two side by side (lending policy 2026.12: the notice follows the decision), so the scripted
# assistant proposes them; the amounts are small but carry no lending evidence, so no straight-through rule fits.
TWO_LOANS = [
    {"id": f"c{i}", "name": "approve_loan", "args": {"application_id": f"A-{i}", "amount": 100 * i, "reason": "band A"}}
    for i in (1, 2)
]


async def start_two_loans(client: Any, store: Any, task_queue: str) -> Any:
    return await runs.start_run(
        client, store, task_queue, "scripted", {"tool_calls": TWO_LOANS}, REQUESTER, validate=False
    )


async def the_loan_approval(store: Any, run_id: str) -> dict[str, Any]:
    """The one approval the loan flow asks for first (GOOD_APPLICATION: approve_loan; the notice comes later)."""
    (row,) = await pending_approvals(store, run_id, 1)
    assert row["tool"] == "approve_loan", row
    return row


async def finished(handle: Any, store: Any, timeout: float = 120.0) -> Any:
    """The run's result; fails naming what still waits if the run asks a person for anything more."""
    import asyncio

    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        pending = [(a["tool"], a["args"]) for a in store.list_approvals(run_id=handle.id, status="pending")]
        raise AssertionError(f"the run did not finish; still pending: {pending}") from None


def assert_referred_and_told(store: Any, run_id: str, result: Any, by: str) -> None:
    """A decision a person did not let run is referred to an underwriter, and the customer is told "referred"
    (the templated notice runs straight through, rule stp-loan-notice); the loan itself never ran."""
    done = executed(store, run_id)
    assert set(done) == {"credit_check", "refer_to_underwriter", "notify_customer"}
    assert done["notify_customer"]["args"]["decision"] == "referred"
    assert result.outcome["decision"] == "referred" and result.outcome["decided_by"] == by


async def test_two_tool_calls_wait_for_approval_at_the_same_time(client, store, task_queue) -> None:
    async with make_worker(client, store, task_queue):
        handle = await start_two_loans(client, store, task_queue)
        rows = await pending_approvals(store, handle.id, 2)
        assert [r["tool"] for r in rows] == ["approve_loan", "approve_loan"]
        assert rows[0]["approval_id"] != rows[1]["approval_id"]
        # Nothing customer-affecting ran while both wait.
        assert executed(store, handle.id) == {}
        assert store.get_run(handle.id)["status"] == "interrupted"
        # The run's begin (its input checked) is in the audit trail before anything it asks people.
        waiting = [r["action"] for r in store.audit_records(run_id=handle.id)]
        assert waiting[0] == "run.started" and waiting.count("approval.requested") == 2, waiting
        for row in rows:
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=APPROVER)
            )
        result = await finished(handle, store)
    assert result.status == "success"
    done = store.tool_executions(handle.id)
    assert sorted(r["args"]["application_id"] for r in done) == ["A-1", "A-2"]
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in done)
    ok, message = store.verify_audit()
    assert ok, message
    actions = [r["action"] for r in store.audit_records(run_id=handle.id)]
    assert actions.count("approval.approved") == 2 and actions.count("tool.executed") == 2


async def test_loan_waits_for_a_person_then_the_notice_follows_it(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    # Nothing customer-affecting ran while the loan waits, and no notice was proposed before the decision ran.
    assert set(executed(store, handle.id)) == {"credit_check"}
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=APPROVER)
    )
    result = await finished(handle, store)
    assert result.status == "success"
    assert result.outcome["decision"] == "approved" and result.outcome["decided_by"] == "bob"
    done = executed(store, handle.id)
    assert set(done) == {"credit_check", "approve_loan", "notify_customer"}
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in done.values())
    assert done["notify_customer"]["args"]["decision"] == "approved"
    assert [a["tool"] for a in store.list_approvals(run_id=handle.id)] == ["approve_loan"]
    verdicts = {e["data"]["tool"]: e["data"] for e in store.events_after(handle.id) if e["type"] == "policy_decision"}
    assert verdicts["notify_customer"]["rule_id"] == "stp-loan-notice"
    ok, message = store.verify_audit()
    assert ok, message
    actions = [r["action"] for r in store.audit_records(run_id=handle.id)]
    assert actions.count("approval.approved") == 1 and actions.count("tool.executed") == 3


async def test_rejected_tool_call_is_never_executed(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    await deciding.decide(
        client,
        store,
        ApprovalDecision(approval_id=loan["approval_id"], action="reject", principal=APPROVER, comment="too risky"),
    )
    result = await finished(handle, store)
    assert "approve_loan" not in executed(store, handle.id)
    assert_referred_and_told(store, handle.id, result, "bob")
    results = {r["tool"]: r for r in result.state["tool_results"]}
    assert results["approve_loan"]["status"] == "rejected" and results["approve_loan"]["reason"] == "too risky"
    assert store.get_approval(loan["approval_id"])["status"] == "rejected"


async def test_edited_arguments_are_revalidated_and_executed(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    # An invalid edit is refused by the workflow's validator, naming the field; the approval stays pending.
    with pytest.raises(UserError, match="amount"):
        await deciding.decide(
            client,
            store,
            ApprovalDecision(
                approval_id=loan["approval_id"], action="edit", principal=APPROVER, args={**loan["args"], "amount": -1}
            ),
        )
    assert store.get_approval(loan["approval_id"])["status"] == "pending"
    edited = {**loan["args"], "amount": 15000, "reason": "approved at a lower amount"}
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=loan["approval_id"], action="edit", principal=APPROVER, args=edited)
    )
    await finished(handle, store)
    done = executed(store, handle.id)
    assert done["approve_loan"]["args"]["amount"] == 15000
    assert done["approve_loan"]["result"]["amount"] == 15000
    # The notice tells what ran: the edited amount, not the one applied for.
    assert "15,000.00" in done["notify_customer"]["args"]["message"]


async def test_edit_that_raises_the_required_role_is_not_executed(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    await deciding.decide(
        client,
        store,
        ApprovalDecision(
            approval_id=loan["approval_id"], action="edit", principal=APPROVER, args={**loan["args"], "amount": 900000}
        ),
    )
    result = await finished(handle, store)
    loan_result = {r["tool"]: r for r in result.state["tool_results"]}["approve_loan"]
    assert loan_result["status"] == "rejected" and "senior_approver" in loan_result["reason"]
    assert "approve_loan" not in executed(store, handle.id)
    assert executed(store, handle.id)["notify_customer"]["args"]["decision"] == "referred"


async def test_respond_answers_instead_of_running_the_tool(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    await deciding.decide(
        client,
        store,
        ApprovalDecision(
            approval_id=loan["approval_id"],
            action="respond",
            principal=APPROVER,
            response="Call the customer instead.",
        ),
    )
    result = await finished(handle, store)
    results = {r["tool"]: r for r in result.state["tool_results"]}
    assert results["approve_loan"]["status"] == "responded"
    assert results["approve_loan"]["output"] == "Call the customer instead."
    assert "approve_loan" not in executed(store, handle.id)
    assert store.get_approval(loan["approval_id"])["status"] == "responded"
    # The loan did not run, so it goes to an underwriter and the customer is told "referred".
    assert_referred_and_told(store, handle.id, result, "bob")


async def test_principal_without_the_role_is_refused(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    viewer = Principal(id="vera", roles=["viewer", "operator"])
    with pytest.raises(Forbidden, match="lacks role 'approver'"):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=viewer)
        )
    other_tenant = Principal(id="olga", roles=["approver"], tenant="other-bank")
    with pytest.raises(NotFound):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=other_tenant)
        )
    # Nothing was lost: the run still waits and completes once an approver decides.
    assert store.get_approval(loan["approval_id"])["status"] == "pending"
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=APPROVER)
    )
    result = await finished(handle, store)
    assert result.status == "success" and result.outcome["decided_by"] == "bob"


async def test_self_approval_is_refused(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    self_approver = Principal(id="alice", roles=["operator", "approver", "admin"])
    with pytest.raises(Forbidden, match="separation of duties"):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=self_approver)
        )
    # The requester may withdraw (reject) their own request.
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=loan["approval_id"], action="reject", principal=self_approver)
    )
    result = await finished(handle, store)
    assert "approve_loan" not in executed(store, handle.id)
    assert_referred_and_told(store, handle.id, result, "alice")


async def test_decision_on_an_approval_that_is_not_pending_is_refused(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    aid = (await the_loan_approval(store, handle.id))["approval_id"]
    await deciding.decide(client, store, ApprovalDecision(approval_id=aid, action="approve", principal=APPROVER))
    with pytest.raises(Conflict, match="not pending"):
        await deciding.decide(client, store, ApprovalDecision(approval_id=aid, action="reject", principal=APPROVER))
    with pytest.raises(NotFound, match="apr_does_not_exist"):
        await deciding.decide(
            client, store, ApprovalDecision(approval_id="apr_does_not_exist", action="approve", principal=APPROVER)
        )
    await finished(handle, store)
    assert executed(store, handle.id)["approve_loan"]["attempts"] == 1
    with pytest.raises(Conflict):
        await deciding.decide(client, store, ApprovalDecision(approval_id=aid, action="approve", principal=APPROVER))


def _short_deadline_policy(tmp_path: Path) -> PolicyEngine:
    doc = yaml.safe_load((Path(__file__).parents[2] / "guards" / "policies" / "default.yaml").read_text())
    for rule in doc["rules"]:
        if rule["id"] == "high-risk-approval":
            rule.update(deadline_s=1.0, escalation_deadline_s=1.5)
        if rule["id"] == "medium-side-effect-approval":
            rule.update(deadline_s=1.0)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return PolicyEngine(path)


async def test_deadline_escalates_then_rejects(client, store, tmp_path) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    async with build_worker(client, task_queue, store, _short_deadline_policy(tmp_path)):
        handle = await start(client, store, task_queue)
        result = await finished(handle, store)
    events = [e["type"] for e in store.events_after(handle.id)]
    assert "approval_escalated" in events
    escalated = [e["data"] for e in store.events_after(handle.id) if e["type"] == "approval_escalated"]
    assert escalated[0]["tool"] == "approve_loan" and escalated[0]["required_role"] == "senior_approver"
    approvals = store.list_approvals(run_id=handle.id)
    assert [a["tool"] for a in approvals] == ["approve_loan"], "the referral notice needs no approver"
    assert approvals[0]["status"] == "timed_out" and approvals[0]["required_role"] == "senior_approver"
    # Nobody decided in time: the loan never ran; it is referred to an underwriter and the customer told so.
    done = executed(store, handle.id)
    assert set(done) == {"credit_check", "refer_to_underwriter", "notify_customer"}
    assert done["notify_customer"]["args"]["decision"] == "referred"
    assert result.outcome["decision"] == "referred"
    # The timed-out approval rejected the call (on_timeout: reject after the escalation); the outcome says so.
    assert (result.outcome["overridden"]["tool"], result.outcome["overridden"]["status"]) == (
        "approve_loan",
        "rejected",
    )


async def test_escalated_approval_needs_the_escalation_role(client, store, tmp_path) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    policy = _short_deadline_policy(tmp_path)
    doc = yaml.safe_load(policy.path.read_text())
    for rule in doc["rules"]:
        if rule["id"] == "high-risk-approval":
            rule["escalation_deadline_s"] = 600
        if rule["id"] == "medium-side-effect-approval":
            rule["deadline_s"] = 600
    policy.path.write_text(yaml.safe_dump(doc))
    async with build_worker(client, task_queue, store, PolicyEngine(policy.path)):
        handle = await start(client, store, task_queue)
        loan = (await the_loan_approval(store, handle.id))["approval_id"]
        from tests.conftest import wait_for

        await wait_for(lambda: store.get_approval(loan)["required_role"] == "senior_approver", timeout=20)
        with pytest.raises(Forbidden, match="senior_approver"):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=loan, action="approve", principal=APPROVER)
            )
        senior = Principal(id="sam", roles=["senior_approver"])
        await deciding.decide(client, store, ApprovalDecision(approval_id=loan, action="approve", principal=senior))
        result = await finished(handle, store)
    assert result.outcome == {**result.outcome, "decision": "approved", "decided_by": "sam"}


async def test_unknown_assistant_and_malformed_input_fail_before_any_run(client, store, task_queue) -> None:
    with pytest.raises(NotFound, match="assistant 'nope' not found; known: \\[.*'loan_triage'"):
        await runs.start_run(client, store, task_queue, "nope", GOOD_APPLICATION, REQUESTER)
    bad = {"application": {**GOOD_APPLICATION["application"], "amount": "lots", "credit_score": 9000}}
    with pytest.raises(UserError) as err:
        await runs.start_run(client, store, task_queue, "loan_triage", bad, REQUESTER)
    assert "input.application.amount" in str(err.value) and "input.application.credit_score" in str(err.value)
    with pytest.raises(UserError, match="input.application: Field required"):
        await runs.start_run(client, store, task_queue, "loan_triage", {}, REQUESTER)
    # A field the assistant does not know is refused, not silently dropped.
    with pytest.raises(UserError, match="input.app: Extra inputs are not permitted"):
        await runs.start_run(client, store, task_queue, "loan_triage", {"app": {}}, REQUESTER)
    assert store.list_runs() == []


async def test_denied_tool_call_is_recorded_and_not_executed(client, store, tmp_path) -> None:
    doc = yaml.safe_load((Path(__file__).parents[2] / "guards" / "policies" / "default.yaml").read_text())
    doc["rules"].insert(
        0,
        {
            "id": "no-credit-checks",
            "when": "tool.name == 'credit_check'",
            "effect": "deny",
            "reason": "bureau unavailable for this tenant",
        },
    )
    path = tmp_path / "deny.yaml"
    path.write_text(yaml.safe_dump(doc))
    task_queue = f"test-{uuid.uuid4()}"
    async with build_worker(client, task_queue, store, PolicyEngine(path)):
        handle = await start(client, store, task_queue)
        result = await handle.result()
    assert executed(store, handle.id) == {}
    assert result.outcome["tools"] == {"credit_check": "denied"}
    verdicts = [e["data"] for e in store.events_after(handle.id) if e["type"] == "policy_decision"]
    assert verdicts[0]["effect"] == "deny" and verdicts[0]["rule_id"] == "no-credit-checks"


async def test_incomplete_application_takes_no_action(client, store, task_queue, worker) -> None:
    app = {"application": {"application_id": "A-1", "applicant_id": "P-1", "amount": 5000}}
    handle = await start(client, store, task_queue, app)
    result = await handle.result()
    assert result.outcome["decision"] == "incomplete"
    assert result.outcome["missing"] == ["annual_income", "credit_score", "purpose"]
    assert executed(store, handle.id) == {}


async def test_failed_run_reports_error_status(client, store, task_queue, worker) -> None:
    # Bypassing input validation lets a bad input reach the graph: the run fails cleanly and says why.
    handle = await runs.start_run(
        client, store, task_queue, "loan_triage", {"application": {"amount": -1}}, REQUESTER, validate=False
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    run = store.get_run(handle.id)
    assert run["status"] == "error" and "application_id" in run["error"]


async def test_cancelled_run_closes_its_approvals(client, store, task_queue) -> None:
    # One step with two approvals (the scripted assistant: the loan flow now asks one at a time): one decided,
    # one still open, then the run is cancelled.
    from tests.conftest import wait_for

    async with make_worker(client, store, task_queue):
        handle = await start_two_loans(client, store, task_queue)
        rows = await pending_approvals(store, handle.id, 2)
        await deciding.decide(
            client, store, ApprovalDecision(approval_id=rows[0]["approval_id"], action="approve", principal=APPROVER)
        )
        await wait_for(lambda: store.get_approval(rows[0]["approval_id"])["status"] == "approved")
        assert store.get_run(handle.id)["status"] == "interrupted", "one approval of the step is still open"
        await handle.cancel()
        await wait_for(lambda: store.get_run(handle.id)["status"] == "cancelled")
    statuses = sorted(a["status"] for a in store.list_approvals(run_id=handle.id))
    assert statuses == ["approved", "cancelled"]
    assert executed(store, handle.id) == {}, "a step runs its calls only once all its approvals are decided"


async def test_run_is_running_again_once_its_approvals_are_decided(client, store, task_queue, worker) -> None:
    handle = await start(client, store, task_queue)
    loan = await the_loan_approval(store, handle.id)
    assert store.get_run(handle.id)["status"] == "interrupted"
    await deciding.decide(
        client, store, ApprovalDecision(approval_id=loan["approval_id"], action="approve", principal=APPROVER)
    )
    assert store.get_run(handle.id)["status"] in ("running", "success")
    assert (await finished(handle, store)).status == "success"
