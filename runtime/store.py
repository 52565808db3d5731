"""The app store: threads, runs index, approvals index, API keys, the per-run event log, the tool and node
execution ledgers and a hash-chained audit log, in one SQLite file (WAL).

Temporal is the source of truth for run state; this store holds what Temporal doesn't and what readers
(SSE streams, the CLI, the console) need cheaply. Writes are idempotent where a retried activity could repeat
them (events carry a per-run key; ledger rows a primary key).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from guards.detectors import mask_cardholder_value
from runtime.audit import anchor_append, verify_anchor

_SCHEMA = """
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
"""

TERMINAL_STATUSES = frozenset({"success", "error", "timeout", "cancelled"})


def _dumps(value: Any) -> str:
    """Every JSON column is written through here, so no row holds an unmasked card number or security code
    (PCI DSS 3.3/3.4), whichever path the value came by: defence in depth behind masking at intake."""
    return json.dumps(mask_cardholder_value(value), separators=(",", ":"), sort_keys=True, default=str)


def _audit_hash(prev_hash: str, ts: float, tenant: str, actor: str, action: str, run_id: str | None, data: str) -> str:
    material = _dumps([prev_hash, ts, tenant, actor, action, run_id, data])
    return hashlib.sha256(material.encode()).hexdigest()


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Store:
    """Thread-safe access to the SQLite app store. One connection, one lock: SQLite serialises writers anyway."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- threads ---------------------------------------------------------------------------------
    def create_thread(self, thread_id: str, tenant: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO threads(thread_id, tenant, created_at, updated_at, metadata) VALUES (?,?,?,?,?)",
                (thread_id, tenant, now, now, _dumps(metadata or {})),
            )
        thread = self.get_thread(thread_id)
        assert thread is not None
        return thread

    def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM threads WHERE thread_id=?", (thread_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["metadata"] = json.loads(row["metadata"])
        row["state"] = json.loads(row["state"])
        return row

    def save_thread_state(self, thread_id: str, tenant: str, state: dict[str, Any], run_id: str) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT INTO threads(thread_id, tenant, created_at, updated_at, state, last_run_id, status)"
                " VALUES (?,?,?,?,?,?, 'idle') ON CONFLICT(thread_id) DO UPDATE SET state=excluded.state,"
                " updated_at=excluded.updated_at, last_run_id=excluded.last_run_id, status='idle'",
                (thread_id, tenant, now, now, _dumps(state), run_id),
            )

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self, run_id: str, thread_id: str, assistant_id: str, tenant: str, requester: str, input: dict[str, Any]
    ) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO threads(thread_id, tenant, created_at, updated_at) VALUES (?,?,?,?)",
                (thread_id, tenant, now, now),
            )
            c.execute(
                "INSERT OR IGNORE INTO runs(run_id, thread_id, assistant_id, tenant, requester, status, created_at,"
                " updated_at, input) VALUES (?,?,?,?,?, 'pending', ?,?,?)",
                (run_id, thread_id, assistant_id, tenant, requester, now, now, _dumps(input)),
            )

    def set_run_status(
        self, run_id: str, status: str, output: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status=?, updated_at=?, output=COALESCE(?, output), error=COALESCE(?, error)"
                " WHERE run_id=?",
                (status, time.time(), _dumps(output) if output is not None else None, error, run_id),
            )
            c.execute(
                "UPDATE threads SET status=?, updated_at=? WHERE thread_id=(SELECT thread_id FROM runs WHERE run_id=?)",
                (
                    "idle" if status in TERMINAL_STATUSES else ("interrupted" if status == "interrupted" else "busy"),
                    time.time(),
                    run_id,
                ),
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["input"] = json.loads(row["input"])
        row["output"] = json.loads(row["output"]) if row["output"] else None
        return row

    def list_runs(self, thread_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if thread_id:
            rows = self._query(
                "SELECT run_id FROM runs WHERE thread_id=? ORDER BY created_at DESC LIMIT ?", (thread_id, limit)
            )
        else:
            rows = self._query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [r for r in (self.get_run(row["run_id"]) for row in rows) if r is not None]

    # -- events ----------------------------------------------------------------------------------
    def append_events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        """Append (key, type, data) events; a key already present is skipped (idempotent retries)."""
        with self._tx() as c:
            return self._append_events(c, run_id, events)

    @staticmethod
    def _append_events(c: sqlite3.Connection, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        seqs: list[int] = []
        (last,) = c.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id=?", (run_id,)).fetchone()
        for key, type_, data in events:
            seq = last + 1
            cur = c.execute(
                "INSERT OR IGNORE INTO events(run_id, seq, key, type, data, ts) VALUES (?,?,?,?,?,?)",
                (run_id, seq, key, type_, _dumps(data), time.time()),
            )
            if cur.rowcount:
                last = seq
                seqs.append(seq)
        return seqs

    def events_after(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT seq, type, data, ts FROM events WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        )
        return [{"seq": r["seq"], "type": r["type"], "data": json.loads(r["data"]), "ts": r["ts"]} for r in rows]

    def events_of_types(self, run_id: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
        """A run's events of the given types, in order (user interrupts and their answers, without tokens)."""
        marks = ",".join("?" * len(types))
        rows = self._query(
            f"SELECT seq, type, data, ts FROM events WHERE run_id=? AND type IN ({marks}) ORDER BY seq",  # noqa: S608
            (run_id, *types),
        )
        return [{"seq": r["seq"], "type": r["type"], "data": json.loads(r["data"]), "ts": r["ts"]} for r in rows]

    # -- approvals -------------------------------------------------------------------------------
    def upsert_approval(self, request: dict[str, Any], deadline_at: float | None) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO approvals(approval_id, run_id, thread_id, tenant, assistant_id, tool, tool_call_id, args,"
                " reason, risk, required_role, requester, status, created_at, deadline_at, request)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'pending', ?,?,?)"
                " ON CONFLICT(approval_id) DO UPDATE SET required_role=excluded.required_role,"
                " deadline_at=excluded.deadline_at, request=excluded.request",
                (
                    request["approval_id"],
                    request["run_id"],
                    request["thread_id"],
                    request["tenant"],
                    request["assistant_id"],
                    request["tool"],
                    request["tool_call_id"],
                    _dumps(request["args"]),
                    request["reason"],
                    request["risk"],
                    request["required_role"],
                    request["requester"],
                    time.time(),
                    deadline_at,
                    _dumps(request),
                ),
            )

    def decide_approval(
        self,
        approval_id: str,
        status: str,
        decided_by: str,
        action: str,
        comment: str | None,
        final_args: dict[str, Any] | None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, action=?, comment=?, final_args=?"
                " WHERE approval_id=?",
                (
                    status,
                    decided_by,
                    time.time(),
                    action,
                    comment,
                    _dumps(final_args) if final_args is not None else None,
                    approval_id,
                ),
            )
            if status != "pending":
                # The last open approval of a run decided: the run is running again, not interrupted.
                c.execute(
                    "UPDATE runs SET status='running', updated_at=? WHERE status='interrupted' AND run_id="
                    "(SELECT run_id FROM approvals WHERE approval_id=?) AND NOT EXISTS (SELECT 1 FROM approvals"
                    " WHERE run_id=runs.run_id AND status='pending')",
                    (time.time(), approval_id),
                )

    def close_open_approvals(self, run_id: str, status: str = "cancelled") -> int:
        """A run that ended (cancelled, failed) leaves no approval pending in the inbox."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE approvals SET status=?, decided_by='system', decided_at=? WHERE run_id=? AND status='pending'",
                (status, time.time(), run_id),
            )
            return cur.rowcount

    def get_approval(self, approval_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM approvals WHERE approval_id=?", (approval_id,))
        return self._approval_row(rows[0]) if rows else None

    def list_approvals(
        self, tenant: str | None = None, status: str | None = None, run_id: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for col, val in (("tenant", tenant), ("status", status), ("run_id", run_id)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(val)
        sql = "SELECT * FROM approvals" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._query(sql + " ORDER BY created_at LIMIT ?", (*params, limit))
        return [self._approval_row(r) for r in rows]

    @staticmethod
    def _approval_row(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        out["args"] = json.loads(out["args"])
        out["final_args"] = json.loads(out["final_args"]) if out["final_args"] else None
        out["request"] = json.loads(out["request"])
        return out

    # -- execution ledgers -----------------------------------------------------------------------
    def begin_tool_execution(
        self, run_id: str, tool_call_id: str, tool: str, args: dict[str, Any], approval_id: str | None
    ) -> dict[str, Any] | None:
        """Claim a tool execution. Returns the stored result when this call already completed (idempotency)."""
        with self._tx() as c:
            row = c.execute(
                "SELECT status, result FROM tool_executions WHERE run_id=? AND tool_call_id=?", (run_id, tool_call_id)
            ).fetchone()
            if row is not None and row["status"] == "done":
                return json.loads(row["result"])
            if row is None:
                c.execute(
                    "INSERT INTO tool_executions(run_id, tool_call_id, tool, args, approval_id, status, attempts,"
                    " started_at) VALUES (?,?,?,?,?, 'started', 1, ?)",
                    (run_id, tool_call_id, tool, _dumps(args), approval_id, time.time()),
                )
            else:
                c.execute(
                    "UPDATE tool_executions SET attempts=attempts+1 WHERE run_id=? AND tool_call_id=?",
                    (run_id, tool_call_id),
                )
        return None

    def finish_tool_execution(
        self,
        run_id: str,
        tool_call_id: str,
        status: str,
        result: dict[str, Any],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """``also`` runs in the same transaction (the outbox rows of a webhook action: both commit or neither)."""
        with self._tx() as c:
            c.execute(
                "UPDATE tool_executions SET status=?, result=?, finished_at=? WHERE run_id=? AND tool_call_id=?",
                (status, _dumps(result), time.time(), run_id, tool_call_id),
            )
            if also is not None:
                also(c)

    def tool_executions(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM tool_executions WHERE run_id=? ORDER BY started_at", (run_id,))
        out = []
        for r in rows:
            d = dict(r)
            d["args"] = json.loads(d["args"])
            d["result"] = json.loads(d["result"]) if d["result"] else None
            out.append(d)
        return out

    def record_node_execution(
        self,
        run_id: str,
        node: str,
        task_key: str,
        attempt: int,
        status: str,
        event: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO node_executions(run_id, node, task_key, attempt, status, ts)"
                " VALUES (?,?,?,?,?,?)",
                (run_id, node, task_key, attempt, status, time.time()),
            )
            if event is not None:
                self._append_events(c, run_id, [event])

    def node_executions(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM node_executions WHERE run_id=? ORDER BY ts", (run_id,))]

    # -- API keys --------------------------------------------------------------------------------
    def create_api_key(self, principal: str, tenant: str, roles: list[str]) -> tuple[str, str]:
        """Returns (key_id, secret). Only the hash is stored; the secret is shown once."""
        key_id = "key_" + secrets.token_hex(6)
        secret = f"stw_{key_id[4:]}_{secrets.token_urlsafe(24)}"
        with self._tx() as c:
            c.execute(
                "INSERT INTO api_keys(key_id, key_hash, principal, tenant, roles, created_at) VALUES (?,?,?,?,?,?)",
                (key_id, hash_api_key(secret), principal, tenant, _dumps(sorted(roles)), time.time()),
            )
        return key_id, secret

    def lookup_api_key(self, secret: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM api_keys WHERE key_hash=? AND revoked=0", (hash_api_key(secret),))
        if not rows:
            return None
        row = dict(rows[0])
        row["roles"] = json.loads(row["roles"])
        return row

    # -- audit -----------------------------------------------------------------------------------
    def append_audit(
        self,
        tenant: str,
        actor: str,
        action: str,
        data: dict[str, Any],
        run_id: str | None = None,
        key: str | None = None,
    ) -> int | None:
        """Append a hash-chained audit record; a repeated ``key`` (a retried activity) is not written twice."""
        with self._tx() as c:
            if key is not None and c.execute("SELECT 1 FROM audit WHERE key=?", (key,)).fetchone():
                return None
            prev = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            prev_hash = prev["hash"] if prev else "0" * 64
            seq = (prev["seq"] if prev else 0) + 1
            ts = time.time()
            payload = _dumps(data)
            digest = _audit_hash(prev_hash, ts, tenant, actor, action, run_id, payload)
            c.execute(
                "INSERT INTO audit(seq, ts, tenant, actor, action, run_id, key, data, prev_hash, hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (seq, ts, tenant, actor, action, run_id, key, payload, prev_hash, digest),
            )
            anchor_append(c, self.path, seq, digest)
        return seq

    def audit_records(self, run_id: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if run_id:
            where.append("run_id=?")
            params.append(run_id)
        if tenant:
            where.append("tenant=?")
            params.append(tenant)
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        out = []
        for r in self._query(sql, tuple(params)):
            d = dict(r)
            d["data"] = json.loads(d["data"])
            out.append(d)
        return out

    def verify_audit(self) -> tuple[bool, str]:
        """Recompute the chain; returns (ok, message naming the first broken or missing record)."""
        prev_hash, expected_seq = "0" * 64, 1
        for r in self._query("SELECT * FROM audit ORDER BY seq"):
            if r["seq"] != expected_seq:
                return False, f"audit record {expected_seq} is missing (next present: {r['seq']})"
            if r["prev_hash"] != prev_hash:
                return False, f"audit record {r['seq']} does not link to record {r['seq'] - 1}"
            digest = _audit_hash(prev_hash, r["ts"], r["tenant"], r["actor"], r["action"], r["run_id"], r["data"])
            if digest != r["hash"]:
                return False, f"audit record {r['seq']} was altered"
            prev_hash, expected_seq = r["hash"], expected_seq + 1
        # The chain links; the keyed anchor shows nothing was cut off its end or recomputed (runtime/audit.py).
        return verify_anchor(self, expected_seq - 1, prev_hash)

    # -- HTTP API queries (server/) --------------------------------------------------------------
    _RUN_QUEUE_SCHEMA = (
        "CREATE TABLE IF NOT EXISTS run_queue (run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL,"
        " principal TEXT NOT NULL, created_at REAL NOT NULL)"
    )

    def list_threads(self, tenant: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """A tenant's threads, newest first (thread search in the API)."""
        rows = self._query(
            "SELECT thread_id FROM threads WHERE tenant=? ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (tenant, limit, offset),
        )
        return [t for t in (self.get_thread(r["thread_id"]) for r in rows) if t is not None]

    def update_thread_metadata(self, thread_id: str, metadata: dict[str, Any]) -> None:
        """Merge ``metadata`` into the thread's (the Agent Server's ``PATCH /threads/{id}``)."""
        with self._tx() as c:
            row = c.execute("SELECT metadata FROM threads WHERE thread_id=?", (thread_id,)).fetchone()
            if row is not None:
                merged = {**json.loads(row["metadata"]), **metadata}
                c.execute(
                    "UPDATE threads SET metadata=?, updated_at=? WHERE thread_id=?",
                    (_dumps(merged), time.time(), thread_id),
                )

    def delete_thread(self, thread_id: str) -> bool:
        """Forget a thread's state and metadata. Its runs, events, approvals and audit records stay: they are
        the record of what was done, and the audit chain must not lose links."""
        with self._tx() as c:
            return c.execute("DELETE FROM threads WHERE thread_id=?", (thread_id,)).rowcount > 0

    def last_event_seq(self, run_id: str) -> int:
        rows = self._query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE run_id=?", (run_id,))
        return int(rows[0]["seq"])

    def enqueue_run(self, run_id: str, thread_id: str, principal: dict[str, Any]) -> None:
        """Hold a run (already in ``runs`` as pending) until its thread is free (multitask strategy enqueue).

        The requester's whole principal is kept, because the workflow's policy checks need its roles.
        """
        with self._tx() as c:
            c.execute(self._RUN_QUEUE_SCHEMA)
            c.execute(
                "INSERT OR IGNORE INTO run_queue(run_id, thread_id, principal, created_at) VALUES (?,?,?,?)",
                (run_id, thread_id, _dumps(principal), time.time()),
            )

    def queued_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._conn.execute(self._RUN_QUEUE_SCHEMA)
        sql = "SELECT * FROM run_queue" + (" WHERE thread_id=?" if thread_id else "") + " ORDER BY created_at"
        rows = self._query(sql, (thread_id,) if thread_id else ())
        return [{**dict(r), "principal": json.loads(r["principal"])} for r in rows]

    def dequeue_run(self, run_id: str) -> bool:
        with self._tx() as c:
            c.execute(self._RUN_QUEUE_SCHEMA)
            return c.execute("DELETE FROM run_queue WHERE run_id=?", (run_id,)).rowcount > 0

    def api_stats(self) -> dict[str, list[dict[str, Any]]]:
        """Aggregates for /metrics, computed in SQL at scrape time (no counters to lose on restart)."""
        q = self._query
        return {
            "runs": [
                dict(r)
                for r in q(
                    "SELECT assistant_id, status, tenant, COUNT(*) AS n FROM runs GROUP BY assistant_id, status, tenant"
                )
            ],
            "approvals_pending": [
                dict(r)
                for r in q(
                    "SELECT tenant, assistant_id, risk, COUNT(*) AS n FROM approvals WHERE status='pending'"
                    " GROUP BY tenant, assistant_id, risk"
                )
            ],
            "decisions": [
                dict(r)
                for r in q(
                    "SELECT tenant, COUNT(*) AS n, SUM(decided_at - created_at) AS seconds FROM approvals"
                    " WHERE decided_at IS NOT NULL GROUP BY tenant"
                )
            ],
            "steps": [
                dict(r)
                for r in q(
                    "SELECT s.node AS node, COUNT(*) AS n, SUM(c.ts - s.ts) AS seconds FROM node_executions s"
                    " JOIN node_executions c ON c.run_id=s.run_id AND c.task_key=s.task_key"
                    " AND c.attempt=s.attempt AND c.status='completed'"
                    " WHERE s.status='started' GROUP BY s.node"
                )
            ],
        }


_STORE: Store | None = None
_STORE_LOCK = threading.Lock()


def open_store(path: Path | str | None = None) -> Store:
    """The process-wide store (activities and the server share one connection per process)."""
    global _STORE
    with _STORE_LOCK:
        if _STORE is None or (path is not None and Path(path) != _STORE.path):
            if path is None:
                from runtime.settings import get_settings

                path = get_settings().resolved_db_path
            _STORE = Store(path)
        return _STORE
