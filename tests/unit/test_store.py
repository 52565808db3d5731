"""The app store on both backends (SQLite and a real PostgreSQL 18): idempotent event log with sequence ids,
tool ledger, approvals, threads and the run queue, API keys, hash-chained audit, SQL-side filtering."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from runtime.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def _sql(store: Store, statement: str, **params: object) -> None:
    """A write behind the store's back (what someone with database access could do)."""
    with store.engine.begin() as c:
        c.execute(text(statement), params)


def test_events_get_sequence_ids_and_repeated_keys_are_skipped(store: Store) -> None:
    assert store.append_events("run-1", [("a", "x", {"i": 1}), ("b", "y", {"i": 2})]) == [1, 2]
    assert store.append_events("run-1", [("b", "y", {"i": 2}), ("c", "z", {})]) == [3]
    assert store.append_events("run-2", [("a", "x", {})]) == [1]
    assert [e["seq"] for e in store.events_after("run-1")] == [1, 2, 3]
    assert [e["type"] for e in store.events_after("run-1", 1)] == ["y", "z"]
    assert [e["seq"] for e in store.events_after("run-1", 0, limit=2)] == [1, 2]
    assert [e["type"] for e in store.events_of_types("run-1", ("x", "z"))] == ["x", "z"]
    assert store.last_event_seq("run-1") == 3 and store.last_event_seq("nope") == 0


def test_tool_execution_is_claimed_once_and_cached(store: Store) -> None:
    assert store.begin_tool_execution("r", "c1", "approve_loan", {"a": 1}, "apr") is None
    assert store.begin_tool_execution("r", "c1", "approve_loan", {"a": 1}, "apr") is None  # a retry before done
    store.finish_tool_execution("r", "c1", "done", {"ok": True})
    assert store.begin_tool_execution("r", "c1", "approve_loan", {"a": 1}, "apr") == {"ok": True}
    (row,) = store.tool_executions("r")
    assert row["attempts"] == 2 and row["status"] == "done" and row["args"] == {"a": 1}


def test_api_keys_are_hashed_at_rest(store: Store) -> None:
    key_id, secret = store.create_api_key("ops", "bank-a", ["approver"])
    with store.engine.connect() as c:
        raw = c.execute(text("SELECT key_hash FROM api_keys")).scalar_one()
    assert secret not in raw and len(raw) == 64
    found = store.lookup_api_key(secret)
    assert found and found["tenant"] == "bank-a" and found["roles"] == ["approver"] and found["key_id"] == key_id
    assert store.lookup_api_key(secret + "x") is None
    _sql(store, "UPDATE api_keys SET revoked=1")
    assert store.lookup_api_key(secret) is None


def test_audit_chain_detects_edits_and_deletions(store: Store) -> None:
    for i in range(5):
        store.append_audit("t", "alice", "act", {"i": i}, run_id="r", key=f"k{i}")
    assert store.append_audit("t", "alice", "act", {"i": 0}, run_id="r", key="k0") is None
    assert store.verify_audit() == (True, "5 audit records verified")
    assert store.audit_last()[0] == 5
    _sql(store, "UPDATE audit SET data=:d WHERE seq=3", d='{"i":99}')
    assert store.verify_audit() == (False, "audit record 3 was altered")
    _sql(store, "UPDATE audit SET data=:d WHERE seq=3", d='{"i":2}')
    _sql(store, "DELETE FROM audit WHERE seq=4")
    ok, message = store.verify_audit()
    assert not ok and message == "audit record 4 is missing (next present: 5)"


def test_audit_records_filter_in_sql_and_mask_card_numbers(store: Store) -> None:
    store.append_audit("bank-a", "alice", "act", {"card": "4111 1111 1111 1111"}, run_id="r1")
    store.append_audit("bank-b", "bob", "act", {}, run_id="r2")
    (only,) = store.audit_records(tenant="bank-a")
    assert only["run_id"] == "r1" and "4111 1111 1111 1111" not in str(only["data"])
    assert [r["tenant"] for r in store.audit_records(run_id="r2")] == ["bank-b"]
    assert store.verify_audit()[0]


def test_runs_threads_and_status_follow_the_run(store: Store) -> None:
    thread = store.create_thread("t1", "bank-a", {"k": "v"})
    assert thread["metadata"] == {"k": "v"} and thread["state"] == {} and thread["status"] == "idle"
    store.create_run("r1", "t1", "loan_triage", "bank-a", "alice", {"x": 1})
    store.create_run("r1", "t1", "loan_triage", "bank-a", "alice", {"x": 2})  # idempotent
    run = store.get_run("r1")
    assert run is not None and run["status"] == "pending" and run["input"] == {"x": 1} and run["output"] is None
    store.set_run_status("r1", "running")
    assert store.get_thread("t1")["status"] == "busy"  # type: ignore[index]
    store.set_run_status("r1", "interrupted")
    assert store.get_thread("t1")["status"] == "interrupted"  # type: ignore[index]
    store.set_run_status("r1", "success", output={"ok": True})
    store.set_run_status("r1", "success", error=None)  # keeps the output (COALESCE)
    assert store.get_run("r1")["output"] == {"ok": True}  # type: ignore[index]
    assert store.get_thread("t1")["status"] == "idle"  # type: ignore[index]
    store.create_run("r2", "t2", "loan_triage", "bank-a", "alice", {})  # creates its thread
    assert {r["run_id"] for r in store.list_runs()} == {"r1", "r2"}
    assert [r["run_id"] for r in store.list_runs(thread_id="t1")] == ["r1"]
    assert len(store.list_runs(limit=1)) == 1
    store.save_thread_state("t1", "bank-a", {"messages": 3}, "r1")
    store.update_thread_metadata("t1", {"k2": "w"})
    t1 = store.get_thread("t1")
    assert t1 is not None and t1["state"] == {"messages": 3} and t1["metadata"] == {"k": "v", "k2": "w"}
    assert t1["last_run_id"] == "r1"
    assert [t["thread_id"] for t in store.list_threads("bank-a", limit=1, offset=1)] == ["t1"]
    assert store.list_threads("bank-b") == []
    assert store.delete_thread("t1") and not store.delete_thread("t1") and store.get_thread("t1") is None


def _request(approval_id: str, run_id: str = "r1") -> dict[str, object]:
    return {
        "approval_id": approval_id,
        "run_id": run_id,
        "thread_id": "t1",
        "tenant": "bank-a",
        "assistant_id": "loan_triage",
        "tool": "approve_loan",
        "tool_call_id": f"call-{approval_id}",
        "args": {"amount": 5},
        "reason": "risky",
        "risk": "high",
        "required_role": "approver",
        "requester": "alice",
    }


def test_deciding_the_last_open_approval_resumes_the_run(store: Store) -> None:
    store.create_run("r1", "t1", "loan_triage", "bank-a", "alice", {})
    store.set_run_status("r1", "interrupted")
    store.upsert_approval(_request("a1"), deadline_at=None)
    store.upsert_approval(_request("a2"), deadline_at=123.0)
    store.upsert_approval(_request("a2"), deadline_at=456.0)  # re-raised: deadline moves, one row
    assert [a["approval_id"] for a in store.list_approvals(tenant="bank-a", status="pending")] == ["a1", "a2"]
    assert store.get_approval("a2")["deadline_at"] == 456.0  # type: ignore[index]
    store.decide_approval("a1", "approved", "bob", "approve", "fine", {"amount": 4})
    assert store.get_run("r1")["status"] == "interrupted"  # type: ignore[index]
    decided = store.get_approval("a1")
    assert decided is not None and decided["final_args"] == {"amount": 4} and decided["decided_by"] == "bob"
    store.decide_approval("a2", "rejected", "bob", "reject", None, None)
    assert store.get_run("r1")["status"] == "running"  # type: ignore[index]
    store.upsert_approval(_request("a3"), deadline_at=None)
    assert store.close_open_approvals("r1") == 1
    assert store.list_approvals(status="pending") == []
    assert [a["status"] for a in store.list_approvals(run_id="r1")] == ["approved", "rejected", "cancelled"]


def test_run_queue_keeps_the_principal_in_order(store: Store) -> None:
    store.enqueue_run("r1", "t1", {"id": "alice", "roles": ["operator"]})
    store.enqueue_run("r2", "t1", {"id": "bob", "roles": []})
    store.enqueue_run("r1", "t1", {"id": "alice", "roles": ["operator"]})
    assert [q["run_id"] for q in store.queued_runs("t1")] == ["r1", "r2"]
    assert store.queued_runs()[0]["principal"] == {"id": "alice", "roles": ["operator"]}
    assert store.dequeue_run("r1") and not store.dequeue_run("r1")
    assert [q["run_id"] for q in store.queued_runs()] == ["r2"]


def test_node_ledger_and_api_stats(store: Store) -> None:
    store.create_run("r1", "t1", "loan_triage", "bank-a", "alice", {})
    store.record_node_execution("r1", "intake", "k1", 1, "started", ("n:k1:1:s", "node_started", {"node": "intake"}))
    store.record_node_execution("r1", "intake", "k1", 1, "started", ("n:k1:1:s", "node_started", {"node": "intake"}))
    store.record_node_execution("r1", "intake", "k1", 1, "completed")
    assert [(n["node"], n["status"]) for n in store.node_executions("r1")] == [
        ("intake", "started"),
        ("intake", "completed"),
    ]
    assert [e["type"] for e in store.events_after("r1")] == ["node_started"]
    store.upsert_approval(_request("a1"), deadline_at=None)
    stats = store.api_stats()
    assert stats["runs"] == [{"assistant_id": "loan_triage", "status": "pending", "tenant": "bank-a", "n": 1}]
    assert stats["approvals_pending"][0]["n"] == 1 and stats["decisions"] == []
    assert stats["steps"][0]["node"] == "intake" and stats["steps"][0]["n"] == 1


def test_every_json_column_masks_card_numbers(store: Store) -> None:
    pan = "4111111111111111"
    store.create_thread("t1", "bank-a", {"note": pan})
    store.create_run("r1", "t1", "a", "bank-a", "alice", {"card": pan})
    store.append_events("r1", [("k", "message", {"text": f"card {pan}"})])
    store.save_thread_state("t1", "bank-a", {"card": pan}, "r1")
    with store.engine.connect() as c:
        dumped = [
            str(row) for name in ("threads", "runs", "events") for row in c.execute(text(f"SELECT * FROM {name}"))
        ]
    assert dumped and not any(pan in row for row in dumped)
