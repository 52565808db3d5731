"""Determinism: histories of real runs (with approvals, edits, rejections) replay without divergence."""

from __future__ import annotations

from guards.types import ApprovalDecision, Principal
from runtime import runs
from runtime.worker import build_replayer
from tests.conftest import GOOD_APPLICATION, pending_approvals
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


async def test_agent_run_histories_replay_deterministically(client, store, task_queue, worker) -> None:
    histories = []
    for action in ("approve", "edit", "reject"):
        handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)
        rows = {r["tool"]: r for r in await pending_approvals(store, handle.id, 2)}
        loan = rows["approve_loan"]
        await deciding.decide(
            client,
            store,
            ApprovalDecision(
                approval_id=loan["approval_id"],
                action=action,
                principal=APPROVER,
                args={**loan["args"], "amount": 1000} if action == "edit" else None,
            ),
        )
        await deciding.decide(
            client,
            store,
            ApprovalDecision(approval_id=rows["notify_customer"]["approval_id"], action="approve", principal=APPROVER),
        )
        await handle.result()
        histories.append(await handle.fetch_history())
    replayer = build_replayer()
    for history in histories:
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None
