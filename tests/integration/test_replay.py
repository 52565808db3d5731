"""Determinism: histories of real runs (with approvals, edits, rejections) replay without divergence."""

from __future__ import annotations

from typing import Any

from guards.types import Principal
from runtime import runs
from runtime.worker import build_replayer
from tests.conftest import GOOD_APPLICATION
from tests.integration.loan_flow import decide_as_they_come

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


async def test_agent_run_histories_replay_deterministically(client, store, task_queue, worker) -> None:
    histories = []
    for action in ("approve", "edit", "reject"):
        handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)

        def choose(row: dict[str, Any], action: str = action) -> tuple[str, dict[str, Any] | None]:
            """The loan gets this round's action; whatever follows it (a referral, a notice) is approved."""
            if row["tool"] != "approve_loan":
                return "approve", None
            return action, ({**row["args"], "amount": 1000} if action == "edit" else None)

        decided = await decide_as_they_come(client, store, handle.id, choose, principal=APPROVER)
        assert decided and decided[0]["tool"] == "approve_loan", [r["tool"] for r in decided]
        result = await handle.result()
        assert result.status == "success", result
        executed = [t["tool"] for t in store.tool_executions(handle.id)]
        assert ("approve_loan" in executed) == (action != "reject"), (action, executed)
        assert "notify_customer" in executed, (action, executed)
        histories.append(await handle.fetch_history())
    replayer = build_replayer()
    for history in histories:
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None
