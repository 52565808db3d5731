"""Every decision record names the policy version it was taken under: the policy verdicts, the approval
requests and their decisions, the guard outcomes (with the guard profile's own version) and the run's start,
in the audit trail, the event log and the approvals index. Real Temporal dev server and worker; the scripted
assistant proposes a tool the policy allows and one it sends to a person."""

from __future__ import annotations

from guards.points import load_profile
from guards.policy import load_policy_engine
from guards.types import ApprovalDecision, Principal
from runtime import runs
from tests.conftest import make_worker, pending_approvals
from tests.integration import deciding

REQUESTER = Principal(id="alice", roles=["operator"])
APPROVER = Principal(id="bob", roles=["approver"])
DECISIONS = ("policy.decision", "approval.requested", "approval.approved", "run.started")
CALLS = [
    {"id": "c1", "name": "approve_loan", "args": {"application_id": "A-1", "amount": 100, "reason": "band A"}},
    {
        "id": "c2",
        "name": "credit_check",
        "args": {"applicant_id": "P-1", "amount": 100.0, "annual_income": 90000.0, "credit_score": 760},
    },
]


async def test_every_decision_records_the_policy_version_it_used(client, store, task_queue) -> None:  # type: ignore[no-untyped-def]
    version = load_policy_engine().version
    async with make_worker(client, store, task_queue):
        handle = await runs.start_run(
            client, store, task_queue, "scripted", {"tool_calls": CALLS}, REQUESTER, validate=False
        )
        for row in await pending_approvals(store, handle.id, 1):
            await deciding.decide(
                client, store, ApprovalDecision(approval_id=row["approval_id"], action="approve", principal=APPROVER)
            )
        await handle.result()

    records = store.audit_records(run_id=handle.id)
    by_action: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in records:
        by_action.setdefault(r["action"], []).append(r["data"])
    for action in DECISIONS:
        assert by_action.get(action), f"no {action} record: {sorted(by_action)}"
        for data in by_action[action]:
            assert data.get("policy_version") == version, f"{action}: {data.get('policy_version')!r} != {version!r}"
    guards = [d for a, ds in by_action.items() if a.startswith("guard.") for d in ds]
    assert guards, f"no guard outcome records: {sorted(by_action)}"
    profile = load_profile("scripted")
    for data in guards:
        assert data["policy_version"] == version
        assert (data["profile"], data["profile_version"]) == (profile.name, profile.version) and profile.version

    verdicts = [e["data"] for e in store.events_after(handle.id) if e["type"] == "policy_decision"]
    assert verdicts and {v["policy_version"] for v in verdicts} == {version}
    approvals = store.list_approvals(run_id=handle.id)
    assert len(approvals) == 1 and {a["request"]["policy_version"] for a in approvals} == {version}
    assert {e["tool"] for e in store.tool_executions(handle.id)} == {"approve_loan", "credit_check"}


def test_a_guard_profile_edit_changes_its_recorded_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from guards.points import PROFILES_DIR, load_profile, use_profiles

    text = (PROFILES_DIR / "default.yaml").read_text()
    mine = tmp_path / "mine.yaml"
    mine.write_text(text)
    use_profiles({"custom-assistant": mine})
    try:
        before = load_profile("custom-assistant").version
        mine.write_text(text + "\n# tightened\n")
        use_profiles({"custom-assistant": mine})
        after = load_profile("custom-assistant").version
    finally:
        use_profiles({})
    assert before and after and before != after
