"""Deciding a loan_triage run the way lending policy 2026.12 asks for it: one approval at a time.

Since the dependent-actions change the loan decision (``approve_loan``/``decline_loan``) waits for an approver
first and ``notify_customer`` is proposed only after it ran (straight through for an approval or referral notice,
rule ``stp-loan-notice``; an approver for a decline notice). Tests that used to wait for two parallel approvals
decide each one as it comes instead, until the run ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from guards.types import ApprovalDecision, Principal
from runtime.db.enums import TERMINAL_RUN_STATUSES
from runtime.store import Store
from tests.integration import deciding

APPROVER = Principal(id="bob", roles=["approver"])

Choice = Callable[[dict[str, Any]], tuple[str, dict[str, Any] | None]]


def approve(row: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """Approve as proposed."""
    return "approve", None


async def decide_as_they_come(
    client: Client,
    store: Store,
    run_id: str,
    choose: Choice = approve,
    principal: Principal = APPROVER,
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """Decide every approval ``run_id`` asks for, in the order asked, until the run ends; return the rows decided.

    ``choose(row)`` gives the action and edited args for each. Fails if the run does not end within ``timeout``.
    """
    decided: list[dict[str, Any]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in store.list_approvals(run_id=run_id, status="pending"):
            if row["approval_id"] in seen:
                continue
            action, args = choose(row)
            await deciding.decide(
                client,
                store,
                ApprovalDecision(approval_id=row["approval_id"], action=action, principal=principal, args=args),
            )
            seen.add(row["approval_id"])
            decided.append(row)
        run = store.get_run(run_id)
        if run is not None and run["status"] in TERMINAL_RUN_STATUSES:
            return decided
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end in {timeout} s; decided {[r['tool'] for r in decided]}")
