"""The app store: idempotent event log with sequence ids, tool ledger, API keys, hash-chained audit."""

from __future__ import annotations

import sqlite3

from runtime.store import Store


def test_events_get_sequence_ids_and_repeated_keys_are_skipped(store: Store) -> None:
    assert store.append_events("run-1", [("a", "x", {"i": 1}), ("b", "y", {"i": 2})]) == [1, 2]
    assert store.append_events("run-1", [("b", "y", {"i": 2}), ("c", "z", {})]) == [3]
    assert store.append_events("run-2", [("a", "x", {})]) == [1]
    assert [e["seq"] for e in store.events_after("run-1")] == [1, 2, 3]
    assert [e["type"] for e in store.events_after("run-1", 1)] == ["y", "z"]


def test_tool_execution_is_claimed_once_and_cached(store: Store) -> None:
    assert store.begin_tool_execution("r", "c1", "approve_loan", {"a": 1}, "apr") is None
    store.finish_tool_execution("r", "c1", "done", {"ok": True})
    assert store.begin_tool_execution("r", "c1", "approve_loan", {"a": 1}, "apr") == {"ok": True}
    (row,) = store.tool_executions("r")
    assert row["attempts"] == 1 and row["status"] == "done"


def test_api_keys_are_hashed_at_rest(store: Store) -> None:
    key_id, secret = store.create_api_key("ops", "bank-a", ["approver"])
    raw = sqlite3.connect(store.path).execute("SELECT key_hash FROM api_keys").fetchone()[0]
    assert secret not in raw and len(raw) == 64
    found = store.lookup_api_key(secret)
    assert found and found["tenant"] == "bank-a" and found["roles"] == ["approver"]
    assert store.lookup_api_key(secret + "x") is None


def test_audit_chain_detects_edits_and_deletions(store: Store) -> None:
    for i in range(5):
        store.append_audit("t", "alice", "act", {"i": i}, run_id="r", key=f"k{i}")
    assert store.append_audit("t", "alice", "act", {"i": 0}, run_id="r", key="k0") is None
    assert store.verify_audit() == (True, "5 audit records verified")
    db = sqlite3.connect(store.path)
    db.execute("UPDATE audit SET data='{\"i\":99}' WHERE seq=3")
    db.commit()
    assert store.verify_audit() == (False, "audit record 3 was altered")
    db.execute("UPDATE audit SET data='{\"i\":2}' WHERE seq=3")
    db.execute("DELETE FROM audit WHERE seq=4")
    db.commit()
    ok, message = store.verify_audit()
    assert not ok and message == "audit record 4 is missing (next present: 5)"
