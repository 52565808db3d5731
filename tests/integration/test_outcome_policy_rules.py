"""An outcome names the policy rules that gated its actions: each guarded tool result carries the rule id and
policy version of the verdict on its call, and ``basis.policy_rules`` lists them (issue 12, shape of outcomes).

Real Temporal dev server and worker, the loan_triage agent, decisions with proofs.
"""

from __future__ import annotations

import asyncio

from guards.types import Principal
from runtime import runs
from tests.conftest import GOOD_APPLICATION
from tests.integration.loan_flow import decide_as_they_come

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])


async def test_a_run_whose_approval_a_rule_demanded_names_that_rule_in_its_outcome(
    client, store, task_queue, worker
) -> None:
    handle = await runs.start_run(client, store, task_queue, "loan_triage", GOOD_APPLICATION, REQUESTER)
    rows = await decide_as_they_come(client, store, handle.id, principal=APPROVER)
    demanded = {row["tool"]: row["request"]["rule_id"] for row in rows}
    assert list(demanded) == ["approve_loan"], demanded
    assert all(demanded.values()), f"approval requests without a rule id: {demanded}"
    out = (await asyncio.wait_for(handle.result(), 60)).outcome
    assert out is not None
    actions = {a["tool"]: a for a in out["actions"]}
    for tool, rule_id in demanded.items():
        assert actions[tool]["policy_rule"] == rule_id
        assert actions[tool]["policy_version"], f"{tool}: no policy version"
        assert rule_id in out["basis"]["policy_rules"], f"{rule_id} missing from {out['basis']}"
    # The approval notice needed no approver: the rule that let it through is named all the same.
    assert actions["notify_customer"]["policy_rule"] == "stp-loan-notice", actions["notify_customer"]
    assert "stp-loan-notice" in out["basis"]["policy_rules"], out["basis"]
    # The tool results in the thread's state carry the rule too, also for calls the policy simply allowed.
    thread = store.get_thread(store.get_run(handle.id)["thread_id"])
    results = thread["state"].get("tool_results") or []
    assert results and all(r.get("policy_rule") and r.get("policy_version") for r in results), results
