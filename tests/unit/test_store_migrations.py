"""Migrations: a new database reaches head, a file made before migrations is adopted with its rows, a
revision that would drop data refuses (and changes nothing), and an unreachable database is a clear error
that names the URL without its password, after retrying with backoff."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from runtime.audit import _mac, audit_key
from runtime.db import DatabaseUnavailable, DataLossRefused, current_revision, downgrade, make_engine, upgrade
from runtime.db.migrate import script_heads
from runtime.store import Store, _audit_hash, _dumps

# What the store, the outbox and the audit anchor created before migrations (runtime/store.py,
# runtime/outbox.py and runtime/audit.py at 7eb4710), verbatim.
LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL DEFAULT '{}', last_run_id TEXT,
    status TEXT NOT NULL DEFAULT 'idle'
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, assistant_id TEXT NOT NULL, tenant TEXT NOT NULL,
    requester TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    input TEXT NOT NULL DEFAULT '{}', output TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS runs_thread ON runs(thread_id, created_at);
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, thread_id TEXT NOT NULL, tenant TEXT NOT NULL,
    assistant_id TEXT NOT NULL, tool TEXT NOT NULL, tool_call_id TEXT NOT NULL, args TEXT NOT NULL,
    reason TEXT NOT NULL, risk TEXT NOT NULL, required_role TEXT NOT NULL, requester TEXT NOT NULL,
    status TEXT NOT NULL, created_at REAL NOT NULL, deadline_at REAL, decided_by TEXT, decided_at REAL,
    action TEXT, comment TEXT, final_args TEXT, request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(tenant, status, created_at);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL,
    data TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY (run_id, seq), UNIQUE (run_id, key)
);
CREATE TABLE IF NOT EXISTS tool_executions (
    run_id TEXT NOT NULL, tool_call_id TEXT NOT NULL, tool TEXT NOT NULL, args TEXT NOT NULL,
    approval_id TEXT, status TEXT NOT NULL, result TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL, finished_at REAL, PRIMARY KEY (run_id, tool_call_id)
);
CREATE TABLE IF NOT EXISTS node_executions (
    run_id TEXT NOT NULL, node TEXT NOT NULL, task_key TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY (run_id, task_key, attempt, status)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, principal TEXT NOT NULL, tenant TEXT NOT NULL,
    roles TEXT NOT NULL, created_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, tenant TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, run_id TEXT, key TEXT UNIQUE, data TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY, run_id TEXT NOT NULL, tool_call_id TEXT NOT NULL, tenant TEXT NOT NULL,
    tool TEXT NOT NULL, adapter TEXT NOT NULL, url TEXT NOT NULL, payload TEXT NOT NULL,
    delivery TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    next_attempt_at REAL NOT NULL, lease_owner TEXT, lease_until REAL,
    created_at REAL NOT NULL, delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(delivery, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_run ON outbox(run_id);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL, count INTEGER NOT NULL,
    ts REAL NOT NULL, mac TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, count INTEGER NOT NULL, ts REAL NOT NULL, mac TEXT NOT NULL
);
"""


def _legacy_file(path: Path, with_anchor: bool = True) -> None:
    """A store file as the pre-migration code left it: a run with events, an outbox row, a 3-record chain."""
    db = sqlite3.connect(path)
    schema = LEGACY_SCHEMA if with_anchor else LEGACY_SCHEMA.split("CREATE TABLE IF NOT EXISTS outbox")[0]
    db.executescript(schema)
    now = time.time()
    db.execute("INSERT INTO threads(thread_id, tenant, created_at, updated_at) VALUES ('t1','bank-a',?,?)", (now, now))
    db.execute(
        "INSERT INTO runs(run_id, thread_id, assistant_id, tenant, requester, status, created_at, updated_at, input)"
        " VALUES ('r1','t1','loan_triage','bank-a','alice','success',?,?,'{}')",
        (now, now),
    )
    for seq in (1, 2):
        db.execute("INSERT INTO events VALUES ('r1',?,?, 'message', '{}', ?)", (seq, f"k{seq}", now))
    prev = "0" * 64
    for seq in (1, 2, 3):
        data = _dumps({"i": seq})
        digest = _audit_hash(prev, now, "bank-a", "alice", "act", "r1", data)
        db.execute(
            "INSERT INTO audit VALUES (?,?, 'bank-a', 'alice', 'act', 'r1', ?, ?, ?, ?)",
            (seq, now, f"a{seq}", data, prev, digest),
        )
        prev = digest
    if with_anchor:
        db.execute(
            "INSERT INTO audit_head VALUES (1, 3, ?, 3, ?, ?)",
            (prev, now, _mac(audit_key((path.parent,)), "head", 3, prev, 3, now)),
        )
        db.execute(
            "INSERT INTO outbox(idempotency_key, run_id, tool_call_id, tenant, tool, adapter, url, payload, delivery,"
            " next_attempt_at, created_at) VALUES ('stw-1','r1','c1','bank-a','notify','webhook','http://x/',"
            "'{}','queued',?,?)",
            (now, now),
        )
    db.commit()
    db.close()


def test_a_new_database_is_migrated_to_head_once(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # a second replica starting: nothing to do
    assert current_revision(engine) in script_heads() and len(script_heads()) == 1
    assert {"threads", "events", "audit", "outbox", "audit_head", "run_queue"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_pre_migration_file_is_adopted_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "steward.db"
    _legacy_file(path)
    store = Store(path)
    assert current_revision(store.engine) in script_heads()
    assert [e["seq"] for e in store.events_after("r1")] == [1, 2]
    assert store.get_run("r1")["status"] == "success"  # type: ignore[index]
    assert store.verify_audit() == (True, "3 audit records verified")
    assert store.append_audit("bank-a", "bob", "act", {}) == 4 and store.verify_audit()[0]
    assert store.append_events("r1", [("k3", "message", {})]) == [3]
    assert store.queued_runs() == []  # run_queue, which the old store made lazily, exists now
    with store.engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM outbox")).scalar_one() == 1
    store.close()


def test_a_file_older_than_the_outbox_gets_the_later_tables(tmp_path: Path) -> None:
    path = tmp_path / "steward.db"
    _legacy_file(path, with_anchor=False)
    store = Store(path)
    assert {"outbox", "audit_head", "audit_checkpoints"} <= set(inspect(store.engine).get_table_names())
    assert len(store.audit_records()) == 3
    store.close()


def test_a_migration_that_would_drop_rows_refuses_and_changes_nothing(db_url: str) -> None:
    store = Store(db_url)
    head = current_revision(store.engine)
    with store.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO outbox(idempotency_key, run_id, tool_call_id, tenant, tool, adapter, url, payload,"
                " delivery, next_attempt_at, created_at) VALUES ('stw-1','r1','c1','t','notify','webhook',"
                "'http://x/','{}','queued',0,0)"
            )
        )
    with pytest.raises(DataLossRefused, match="dropping table 'outbox' would delete 1 row"):
        downgrade(store.engine, "0001_base")
    assert current_revision(store.engine) == head, "the refused downgrade rolled back as a whole"
    assert "outbox" in inspect(store.engine).get_table_names()
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM outbox"))
    downgrade(store.engine, "0001_base")  # nothing to lose: allowed
    assert current_revision(store.engine) == "0001_base" and "outbox" not in inspect(store.engine).get_table_names()
    store.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_named_without_its_password_after_retries() -> None:
    port = _closed_port()
    url = f"postgresql://steward:s3cret-pw@127.0.0.1:{port}/steward"
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        Store(url, connect_timeout_s=1.6)
    message = str(err.value)
    assert f"postgresql+psycopg://steward:***@127.0.0.1:{port}/steward" in message
    assert "s3cret-pw" not in message and "STEWARD_DATABASE_URL" in message
    attempts = int(message.split(" after ")[1].split(" attempt")[0])
    assert attempts >= 3 and time.monotonic() - started >= 1.5  # 0.5 s, 1 s backoff, then gave up


def test_database_url_setting_selects_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from runtime import store as store_module
    from runtime.settings import get_settings

    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STEWARD_DATABASE_URL", url)
    get_settings.cache_clear()
    monkeypatch.setattr(store_module, "_STORE", None)
    try:
        chosen = store_module.open_store(get_settings().resolved_db_path)
        assert chosen.path == (tmp_path / "elsewhere.db").resolve()
        other = store_module.open_store(tmp_path / "explicit.db")  # an explicit other file still wins
        assert other.path == (tmp_path / "explicit.db").resolve()
        other.close()
        chosen.close()
    finally:
        get_settings.cache_clear()
        monkeypatch.setattr(store_module, "_STORE", None)


def test_json_rows_of_a_legacy_file_still_read(tmp_path: Path) -> None:
    path = tmp_path / "steward.db"
    _legacy_file(path)
    store = Store(path)
    (record,) = store.audit_records(run_id="r1")[:1]
    assert record["data"] == json.loads(_dumps({"i": 1}))
    store.close()
