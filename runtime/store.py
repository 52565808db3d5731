"""The app store: threads, runs index, approvals index, API keys, the per-run event log, the tool and node
execution ledgers and a hash-chained audit log, on SQLAlchemy Core over SQLite (WAL, the embedded default)
or PostgreSQL (``STEWARD_DATABASE_URL``). Tables and migrations live in ``runtime/db``.

Temporal is the source of truth for run state; this store holds what Temporal doesn't and what readers
(SSE streams, the CLI, the console) need cheaply. Writes are idempotent where a retried activity could repeat
them (events carry a per-run key; ledger rows a primary key). Nothing here depends on one process: a run's
next event ``seq`` and the audit head are read and written under a lock every writer takes (SQLite's write
lock via ``BEGIN IMMEDIATE``; PostgreSQL transaction-scoped advisory locks), so any number of workers and API
replicas can append to the same run or the same chain.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, Select, Text, bindparam, exists, func, select, text

from guards.detectors import mask_cardholder_value
from runtime.audit import anchor_append, checkpoint_due, verify_anchor
from runtime.db.engine import WRITE, is_postgresql, make_engine, redact_url, sqlite_url, wait_for_database
from runtime.db.enums import TERMINAL_RUN_STATUSES, ApprovalStatus, RunStatus, ThreadStatus, ToolStatus
from runtime.db.migrate import upgrade
from runtime.db.notify import CHANNEL as NOTIFY_CHANNEL
from runtime.db.notify import SocketNotifier, notify_dir
from runtime.db.notify import payload as notify_payload
from runtime.db.sql import AUDIT_LOCK, EVENTS_LOCK_CLASS, insert_ignore, upsert
from runtime.db.tables import answers, api_keys, approvals, audit, events, node_executions, run_queue, runs, threads
from runtime.db.tables import tool_executions as tool_ledger

TERMINAL_STATUSES = frozenset(str(s) for s in TERMINAL_RUN_STATUSES)


_APPENDED = "steward_appended"
"""``Connection.info`` key: run id -> last seq appended in the open ``Store._tx`` (SQLite's after-commit notify)."""


def _dumps(value: Any) -> str:
    """Every JSON column is written through here, so no row holds an unmasked card number or security code
    (PCI DSS 3.3/3.4), whichever path the value came by: defence in depth behind masking at intake."""
    return json.dumps(mask_cardholder_value(value), separators=(",", ":"), sort_keys=True, default=str)


def _audit_hash(prev_hash: str, ts: float, tenant: str, actor: str, action: str, run_id: str | None, data: str) -> str:
    material = _dumps([prev_hash, ts, tenant, actor, action, run_id, data])
    return hashlib.sha256(material.encode()).hexdigest()


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# Statements every run executes (its start, each node, its end), built once and run with parameters: building
# them per call cost more CPU than SQLite's own work (see runtime/db/sql.py). Parameter names differ from
# column names, which SQLAlchemy reserves in an UPDATE's SET clause.
_GET_THREAD = select(threads).where(threads.c.thread_id == bindparam("p_thread_id"))
_MAX_SEQ = select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.run_id == bindparam("p_run_id"))
_SET_RUN_STATUS = (
    runs.update()
    .where(runs.c.run_id == bindparam("p_run_id"))
    .values(
        status=bindparam("p_status"),
        updated_at=bindparam("p_now"),
        output=func.coalesce(bindparam("p_output", type_=Text), runs.c.output),
        error=func.coalesce(bindparam("p_error", type_=Text), runs.c.error),
    )
)
_SET_RUN_THREAD_STATUS = (
    threads.update()
    .where(
        threads.c.thread_id == select(runs.c.thread_id).where(runs.c.run_id == bindparam("p_run_id")).scalar_subquery()
    )
    .values(status=bindparam("p_thread_status"), updated_at=bindparam("p_now"))
)
_AUDIT_BY_KEY = select(audit.c.seq).where(audit.c.key == bindparam("p_key"))
_AUDIT_LAST = select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
_AUDIT_INSERT = audit.insert()
# Reads every API request makes (its key, the run, the thread's occupancy, the run's events).
_GET_RUN = select(runs).where(runs.c.run_id == bindparam("p_run_id"))
_THREAD_RUNS = (
    select(runs)
    .where(runs.c.thread_id == bindparam("p_thread_id"))
    .order_by(runs.c.created_at.desc())
    .limit(bindparam("p_limit"))
)
_THREAD_QUEUE = (
    select(run_queue).where(run_queue.c.thread_id == bindparam("p_thread_id")).order_by(run_queue.c.created_at)
)
_THREAD_OCCUPIED = select(
    exists().where(runs.c.thread_id == bindparam("p_thread_id"), runs.c.status.not_in(sorted(TERMINAL_STATUSES)))
    | exists().where(run_queue.c.thread_id == bindparam("p_thread_id"))
)
_EVENTS_AFTER = (
    select(events.c.seq, events.c.type, events.c.data, events.c.ts)
    .where(events.c.run_id == bindparam("p_run_id"), events.c.seq > bindparam("p_after"))
    .order_by(events.c.seq)
    .limit(bindparam("p_limit"))
)
_API_KEY = select(api_keys).where(api_keys.c.key_hash == bindparam("p_hash"), api_keys.c.revoked == 0).limit(1)


class _AuditTx:
    """The audit chain's head as one write transaction has extended it. The head is read once per transaction
    (every later append links to the record just written; the lock that serialises appends is held until
    commit), and re-anchored once, at commit, with the last record; a record due a checkpoint is anchored at
    once, so checkpoints fall on the same records as when each append anchored itself."""

    __slots__ = ("head", "pending")

    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None
        self.pending: tuple[int, str] | None = None

    def appended(self, c: Connection, data_dirs: tuple[Path, ...], seq: int, digest: str) -> None:
        if checkpoint_due(seq):
            anchor_append(c, data_dirs, seq, digest)
            self.pending = None
        else:
            self.pending = (seq, digest)

    def anchor(self, c: Connection, data_dirs: tuple[Path, ...]) -> None:
        if self.pending is not None:
            anchor_append(c, data_dirs, *self.pending)
            self.pending = None


def _loads(value: str | None) -> Any:
    return json.loads(value) if value else None


def _is_url(target: Path | str) -> bool:
    return isinstance(target, str) and "://" in target


class Store:
    """Thread-safe access to the app store: a pooled engine, one transaction per call.

    ``target`` is a SQLite file path (as before) or a database URL (``postgresql://...``, ``sqlite:///...``).
    Opening waits for an unreachable database with backoff (``connect_timeout_s``) and migrates it to head.
    """

    def __init__(self, target: Path | str, *, connect_timeout_s: float = 30.0) -> None:
        url = str(target) if _is_url(target) else sqlite_url(target)
        self._target = str(target)
        self.engine = make_engine(url)
        self.url = redact_url(self.engine.url)
        database = self.engine.url.database
        # ``path`` is the SQLite file (tests and tamper tools open it directly); None on PostgreSQL.
        self.path: Path | None = Path(database).resolve() if self.engine.dialect.name == "sqlite" and database else None
        self.postgres = is_postgresql(self.engine)
        self._batch = threading.local()
        """The open write transaction of this thread, if any (``batch``)."""
        self._write_lock: AbstractContextManager[Any] = nullcontext() if self.postgres else threading.Lock()
        """SQLite takes one writer at a time: this process's threads queue here, on a lock that hands over at
        once, rather than in SQLite's busy handler, which sleeps in steps of up to 100 ms between tries."""
        directory = notify_dir(self.engine)
        # SQLite: appends are announced to the API's listener sockets after commit (runtime/db/notify.py).
        self.notifier: SocketNotifier | None = SocketNotifier(directory) if directory is not None else None
        if self.postgres:
            wait_for_database(self.engine, connect_timeout_s)
        upgrade(self.engine)

    @property
    def data_dirs(self) -> tuple[Path, ...]:
        """Folders holding the data (the audit key must not live in one)."""
        return (self.path.parent,) if self.path is not None else ()

    def close(self) -> None:
        self.engine.dispose()
        if self.notifier is not None:
            self.notifier.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write of this thread inside the block in one transaction: one commit (and on SQLite one
        wait for the write lock) instead of one per call. A run's start and finish write five to eight
        records; as separate transactions their lock waits, not their work, set the pace under load."""
        with self._tx():
            yield

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``); commits on exit, rolls back on an exception.

        On SQLite, the events it appended are announced to listeners once it has committed: a stream woken
        before the commit would read nothing new (and one woken for a rollback, nothing at all)."""
        open_tx: Connection | None = getattr(self._batch, "conn", None)
        if open_tx is not None:
            yield open_tx  # inside batch(): part of its transaction
            return
        appended: dict[str, int] = {}
        with (
            self._write_lock,
            self.engine.connect().execution_options(**{WRITE: True}) as c,
        ):
            c.info[_APPENDED] = appended
            self._batch.conn = c
            self._batch.audit = _AuditTx()
            try:
                with c.begin():
                    yield c
                    self._batch.audit.anchor(c, self.data_dirs)
            finally:
                self._batch.conn = None
                self._batch.audit = None
                c.info.pop(_APPENDED, None)
        # Only reached after the commit: a rollback (or a failed commit) raised out of the block above.
        if appended and self.notifier is not None:
            self.notifier.send(appended)

    def _rows(self, stmt: Select[Any], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(stmt, params)]

    def _first(self, stmt: Select[Any]) -> dict[str, Any] | None:
        rows = self._rows(stmt.limit(1))
        return rows[0] if rows else None

    # -- threads ---------------------------------------------------------------------------------
    def create_thread(self, thread_id: str, tenant: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        now = time.time()
        with self._tx() as c:
            insert_ignore(
                c,
                threads,
                {
                    "thread_id": thread_id,
                    "tenant": tenant,
                    "created_at": now,
                    "updated_at": now,
                    "metadata": _dumps(metadata or {}),
                },
            )
        thread = self.get_thread(thread_id)
        assert thread is not None
        return thread

    @staticmethod
    def _thread_row(row: dict[str, Any]) -> dict[str, Any]:
        row["metadata"] = json.loads(row["metadata"])
        row["state"] = json.loads(row["state"])
        return row

    def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(_GET_THREAD, {"p_thread_id": thread_id}).first()
        return self._thread_row(dict(row._mapping)) if row is not None else None

    def save_thread_state(self, thread_id: str, tenant: str, state: dict[str, Any], run_id: str) -> None:
        now = time.time()
        values = {
            "thread_id": thread_id,
            "tenant": tenant,
            "created_at": now,
            "updated_at": now,
            "state": _dumps(state),
            "last_run_id": run_id,
            "status": ThreadStatus.IDLE.value,
        }
        with self._tx() as c:
            upsert(c, threads, values, ["thread_id"], ["state", "updated_at", "last_run_id", "status"])

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self, run_id: str, thread_id: str, assistant_id: str, tenant: str, requester: str, input: dict[str, Any]
    ) -> None:
        now = time.time()
        with self._tx() as c:
            insert_ignore(c, threads, {"thread_id": thread_id, "tenant": tenant, "created_at": now, "updated_at": now})
            insert_ignore(
                c,
                runs,
                {
                    "run_id": run_id,
                    "thread_id": thread_id,
                    "assistant_id": assistant_id,
                    "tenant": tenant,
                    "requester": requester,
                    "status": RunStatus.PENDING.value,
                    "created_at": now,
                    "updated_at": now,
                    "input": _dumps(input),
                },
            )

    def set_run_status(
        self, run_id: str, status: str, output: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """The run's status (and output or error, each kept if not given) and its thread's status with it."""
        params = {
            "p_run_id": run_id,
            "p_status": str(status),
            "p_now": time.time(),
            "p_output": _dumps(output) if output is not None else None,
            "p_error": error,
            "p_thread_status": ThreadStatus.for_run(status).value,
        }
        with self._tx() as c:
            c.execute(_SET_RUN_STATUS, params)
            c.execute(_SET_RUN_THREAD_STATUS, params)

    @staticmethod
    def _run_row(row: dict[str, Any]) -> dict[str, Any]:
        row["input"] = json.loads(row["input"])
        row["output"] = _loads(row["output"])
        return row

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._rows(_GET_RUN, {"p_run_id": run_id})
        return self._run_row(rows[0]) if rows else None

    def list_runs(self, thread_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if thread_id:
            rows = self._rows(_THREAD_RUNS, {"p_thread_id": thread_id, "p_limit": limit})
        else:
            rows = self._rows(select(runs).order_by(runs.c.created_at.desc()).limit(limit))
        return [self._run_row(r) for r in rows]

    def thread_occupied(self, thread_id: str) -> bool:
        """Whether a new run must wait for (or be refused by) the thread: one of its runs has not finished,
        or one is queued. One indexed query; the run dispatcher's free-thread fast path asks it."""
        with self.engine.connect() as c:
            return bool(c.execute(_THREAD_OCCUPIED, {"p_thread_id": thread_id}).scalar_one())

    # -- events ----------------------------------------------------------------------------------
    def append_events(self, run_id: str, events: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        """Append (key, type, data) events; a key already present is skipped (idempotent retries)."""
        with self._tx() as c:
            return self._append_events(c, run_id, events)

    def _append_events(self, c: Connection, run_id: str, batch: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
        """Inside a write transaction: the next ``seq`` is read under a per-run lock held to commit, so
        concurrent writers to one run (replicas, retried activities) never take the same number and leave
        no gap; writers to different runs do not wait for each other on PostgreSQL."""
        if not batch:
            return []
        if self.postgres:
            c.execute(
                text("SELECT pg_advisory_xact_lock(:cls, hashtext(:run_id))"),
                {"cls": EVENTS_LOCK_CLASS, "run_id": run_id},
            )
        last = c.execute(_MAX_SEQ, {"p_run_id": run_id}).scalar_one()
        seqs: list[int] = []
        for key, type_, data in batch:
            row = {
                "run_id": run_id,
                "seq": last + 1,
                "key": key,
                "type": str(type_),
                "data": _dumps(data),
                "ts": time.time(),
            }
            if insert_ignore(c, events, row).rowcount:
                last += 1
                seqs.append(last)
        if self.postgres and seqs:
            # Delivered on commit to every replica's listener (runtime/db/notify.py), never for a rollback.
            c.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": notify_payload(run_id, seqs[-1])},
            )
        elif seqs:
            # SQLite: sent by ``_tx`` after the commit (runtime/db/notify.py, SocketNotifier).
            appended = c.info.get(_APPENDED)
            if appended is not None:
                appended[run_id] = max(seqs[-1], appended.get(run_id, 0))
        return seqs

    @staticmethod
    def _event_row(r: dict[str, Any]) -> dict[str, Any]:
        return {"seq": r["seq"], "type": r["type"], "data": json.loads(r["data"]), "ts": r["ts"]}

    def events_after(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._rows(_EVENTS_AFTER, {"p_run_id": run_id, "p_after": after, "p_limit": limit})
        return [self._event_row(r) for r in rows]

    def events_of_types(self, run_id: str, types: tuple[str, ...]) -> list[dict[str, Any]]:
        """A run's events of the given types, in order (user interrupts and their answers, without tokens)."""
        stmt = (
            select(events.c.seq, events.c.type, events.c.data, events.c.ts)
            .where(events.c.run_id == run_id, events.c.type.in_([str(t) for t in types]))
            .order_by(events.c.seq)
        )
        return [self._event_row(r) for r in self._rows(stmt)]

    def last_event_seq(self, run_id: str) -> int:
        with self.engine.connect() as c:
            stmt = select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.run_id == run_id)
            return int(c.execute(stmt).scalar_one())

    # -- approvals -------------------------------------------------------------------------------
    def upsert_approval(self, request: dict[str, Any], deadline_at: float | None) -> None:
        values = {
            **{
                k: request[k]
                for k in (
                    "approval_id",
                    "run_id",
                    "thread_id",
                    "tenant",
                    "assistant_id",
                    "tool",
                    "tool_call_id",
                    "reason",
                    "risk",
                    "required_role",
                    "requester",
                )
            },
            "args": _dumps(request["args"]),
            "status": ApprovalStatus.PENDING.value,
            "created_at": time.time(),
            "deadline_at": deadline_at,
            "request": _dumps(request),
        }
        with self._tx() as c:
            upsert(c, approvals, values, ["approval_id"], ["required_role", "deadline_at", "request"])

    def decide_approval(
        self,
        approval_id: str,
        status: str,
        decided_by: str,
        action: str,
        comment: str | None,
        final_args: dict[str, Any] | None,
    ) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(
                approvals.update()
                .where(approvals.c.approval_id == approval_id)
                .values(
                    status=str(status),
                    decided_by=decided_by,
                    decided_at=now,
                    action=action,
                    comment=comment,
                    final_args=_dumps(final_args) if final_args is not None else None,
                )
            )
            if status != ApprovalStatus.PENDING:
                # The last open approval of a run decided: the run is running again, not interrupted.
                still_open = exists().where(
                    approvals.c.run_id == runs.c.run_id, approvals.c.status == ApprovalStatus.PENDING.value
                )
                its_run = select(approvals.c.run_id).where(approvals.c.approval_id == approval_id).scalar_subquery()
                c.execute(
                    runs.update()
                    .where(runs.c.status == RunStatus.INTERRUPTED.value, runs.c.run_id == its_run, ~still_open)
                    .values(status=RunStatus.RUNNING.value, updated_at=now)
                )

    def close_open_approvals(self, run_id: str, status: str = "cancelled") -> int:
        """A run that ended (cancelled, failed) leaves no approval pending in the inbox."""
        with self._tx() as c:
            cur = c.execute(
                approvals.update()
                .where(approvals.c.run_id == run_id, approvals.c.status == ApprovalStatus.PENDING.value)
                .values(status=str(status), decided_by="system", decided_at=time.time())
            )
            return int(cur.rowcount)

    def get_approval(self, approval_id: str) -> dict[str, Any] | None:
        row = self._first(select(approvals).where(approvals.c.approval_id == approval_id))
        return self._approval_row(row) if row is not None else None

    def list_approvals(
        self, tenant: str | None = None, status: str | None = None, run_id: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        stmt = select(approvals)
        for col, val in ((approvals.c.tenant, tenant), (approvals.c.status, status), (approvals.c.run_id, run_id)):
            if val is not None:
                stmt = stmt.where(col == str(val))
        return [self._approval_row(r) for r in self._rows(stmt.order_by(approvals.c.created_at).limit(limit))]

    @staticmethod
    def _approval_row(out: dict[str, Any]) -> dict[str, Any]:
        out["args"] = json.loads(out["args"])
        out["final_args"] = _loads(out["final_args"])
        out["request"] = json.loads(out["request"])
        return out

    # -- execution ledgers -----------------------------------------------------------------------
    def begin_tool_execution(
        self, run_id: str, tool_call_id: str, tool: str, args: dict[str, Any], approval_id: str | None
    ) -> dict[str, Any] | None:
        """Claim a tool execution. Returns the stored result when this call already completed (idempotency)."""
        this = (tool_ledger.c.run_id == run_id) & (tool_ledger.c.tool_call_id == tool_call_id)
        with self._tx() as c:
            row = c.execute(select(tool_ledger.c.status, tool_ledger.c.result).where(this).with_for_update()).first()
            if row is not None and row.status == ToolStatus.DONE:
                return _loads(row.result)  # type: ignore[no-any-return]
            claimed = (
                row is None
                and insert_ignore(
                    c,
                    tool_ledger,
                    {
                        "run_id": run_id,
                        "tool_call_id": tool_call_id,
                        "tool": tool,
                        "args": _dumps(args),
                        "approval_id": approval_id,
                        "status": ToolStatus.STARTED.value,
                        "attempts": 1,
                        "started_at": time.time(),
                    },
                ).rowcount
            )
            if not claimed:
                c.execute(tool_ledger.update().where(this).values(attempts=tool_ledger.c.attempts + 1))
        return None

    def finish_tool_execution(
        self,
        run_id: str,
        tool_call_id: str,
        status: str,
        result: dict[str, Any],
        also: Callable[[Connection], None] | None = None,
    ) -> None:
        """``also`` runs in the same transaction (the outbox rows of a webhook action: both commit or neither)."""
        with self._tx() as c:
            c.execute(
                tool_ledger.update()
                .where(tool_ledger.c.run_id == run_id, tool_ledger.c.tool_call_id == tool_call_id)
                .values(status=str(status), result=_dumps(result), finished_at=time.time())
            )
            if also is not None:
                also(c)

    def tool_executions(self, run_id: str) -> list[dict[str, Any]]:
        stmt = select(tool_ledger).where(tool_ledger.c.run_id == run_id).order_by(tool_ledger.c.started_at)
        out = self._rows(stmt)
        for d in out:
            d["args"] = json.loads(d["args"])
            d["result"] = _loads(d["result"])
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
        row = {
            "run_id": run_id,
            "node": node,
            "task_key": task_key,
            "attempt": attempt,
            "status": str(status),
            "ts": time.time(),
        }
        with self._tx() as c:
            insert_ignore(c, node_executions, row)
            if event is not None:
                self._append_events(c, run_id, [event])

    def node_executions(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows(
            select(node_executions).where(node_executions.c.run_id == run_id).order_by(node_executions.c.ts)
        )

    # -- API keys --------------------------------------------------------------------------------
    def create_api_key(self, principal: str, tenant: str, roles: list[str]) -> tuple[str, str]:
        """Returns (key_id, secret). Only the hash is stored; the secret is shown once."""
        key_id = "key_" + secrets.token_hex(6)
        secret = f"stw_{key_id[4:]}_{secrets.token_urlsafe(24)}"
        with self._tx() as c:
            c.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    key_hash=hash_api_key(secret),
                    principal=principal,
                    tenant=tenant,
                    roles=_dumps(sorted(roles)),
                    created_at=time.time(),
                )
            )
        return key_id, secret

    def lookup_api_key(self, secret: str) -> dict[str, Any] | None:
        rows = self._rows(_API_KEY, {"p_hash": hash_api_key(secret)})
        if not rows:
            return None
        row = rows[0]
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
        """Append a hash-chained audit record; a repeated ``key`` (a retried activity) is not written twice.

        The head is read and extended under one lock across every process (PostgreSQL: a transaction-scoped
        advisory lock; SQLite: the write lock), so two appends never link to the same predecessor."""
        with self._tx() as c:
            if self.postgres:
                c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
            if key is not None and c.execute(_AUDIT_BY_KEY, {"p_key": key}).first():
                return None
            tx: _AuditTx = self._batch.audit
            if tx.head is None:
                prev = c.execute(_AUDIT_LAST).first()
                tx.head = (prev.seq, prev.hash) if prev else (0, "0" * 64)
            seq, prev_hash = tx.head[0] + 1, tx.head[1]
            ts = time.time()
            payload = _dumps(data)
            digest = _audit_hash(prev_hash, ts, tenant, actor, action, run_id, payload)
            c.execute(
                _AUDIT_INSERT,
                {
                    "seq": seq,
                    "ts": ts,
                    "tenant": tenant,
                    "actor": actor,
                    "action": action,
                    "run_id": run_id,
                    "key": key,
                    "data": payload,
                    "prev_hash": prev_hash,
                    "hash": digest,
                },
            )
            tx.head = (seq, digest)
            tx.appended(c, self.data_dirs, seq, digest)
        return seq

    def has_audit_key(self, key: str) -> bool:
        """Whether an audit record with this idempotency key exists (in the caller's transaction, if any)."""
        open_tx: Connection | None = getattr(self._batch, "conn", None)
        if open_tx is not None:
            return open_tx.execute(_AUDIT_BY_KEY, {"p_key": key}).first() is not None
        with self.engine.connect() as c:
            return c.execute(_AUDIT_BY_KEY, {"p_key": key}).first() is not None

    def audit_records(self, run_id: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        stmt = select(audit).order_by(audit.c.seq)
        if run_id:
            stmt = stmt.where(audit.c.run_id == run_id)
        if tenant:
            stmt = stmt.where(audit.c.tenant == tenant)
        out = self._rows(stmt)
        for d in out:
            d["data"] = json.loads(d["data"])
        return out

    def audit_last(self) -> tuple[int, str]:
        """The chain's last (seq, hash); (0, 64 zeros) while it is empty."""
        row = self._first(select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()))
        return (int(row["seq"]), str(row["hash"])) if row else (0, "0" * 64)

    def audit_chain(self, after: int = 0, upto: int | None = None) -> Iterator[Row[Any]]:
        """The raw records (``data`` as stored, which the hashes cover) in order, streamed in pages."""
        page = 5000
        while True:
            stmt = select(audit).where(audit.c.seq > after).order_by(audit.c.seq).limit(page)
            if upto is not None:
                stmt = stmt.where(audit.c.seq <= upto)
            with self.engine.connect() as c:
                rows = list(c.execute(stmt))
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].seq

    def verify_audit(self) -> tuple[bool, str]:
        """Recompute the chain; returns (ok, message naming the first broken or missing record)."""
        prev_hash, expected_seq = "0" * 64, 1
        for r in self.audit_chain():
            if r.seq != expected_seq:
                return False, f"audit record {expected_seq} is missing (next present: {r.seq})"
            if r.prev_hash != prev_hash:
                return False, f"audit record {r.seq} does not link to record {r.seq - 1}"
            digest = _audit_hash(prev_hash, r.ts, r.tenant, r.actor, r.action, r.run_id, r.data)
            if digest != r.hash:
                return False, f"audit record {r.seq} was altered"
            prev_hash, expected_seq = r.hash, expected_seq + 1
        # The chain links; the keyed anchor shows nothing was cut off its end or recomputed (runtime/audit.py).
        return verify_anchor(self, expected_seq - 1, prev_hash)

    # -- HTTP API queries (server/) --------------------------------------------------------------
    def list_threads(self, tenant: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """A tenant's threads, newest first (thread search in the API)."""
        stmt = (
            select(threads)
            .where(threads.c.tenant == tenant)
            .order_by(threads.c.created_at.desc())
            .limit(limit)
            .offset(offset)
        )
        return [self._thread_row(r) for r in self._rows(stmt)]

    def update_thread_metadata(self, thread_id: str, metadata: dict[str, Any]) -> None:
        """Merge ``metadata`` into the thread's (the Agent Server's ``PATCH /threads/{id}``)."""
        with self._tx() as c:
            current = c.execute(
                select(threads.c.metadata).where(threads.c.thread_id == thread_id).with_for_update()
            ).scalar_one_or_none()
            if current is not None:
                merged = {**json.loads(current), **metadata}
                c.execute(
                    threads.update()
                    .where(threads.c.thread_id == thread_id)
                    .values(metadata=_dumps(merged), updated_at=time.time())
                )

    def delete_thread(self, thread_id: str) -> bool:
        """Forget a thread's state and metadata. Its runs, events, approvals and audit records stay: they are
        the record of what was done, and the audit chain must not lose links."""
        with self._tx() as c:
            return int(c.execute(threads.delete().where(threads.c.thread_id == thread_id)).rowcount) > 0

    def add_answer(self, answer: dict[str, Any], tenant: str) -> None:
        """Keep an answer to an operator's question (``runtime.ask.Answer`` as JSON) with its thread."""
        row = {
            "answer_id": answer["answer_id"],
            "thread_id": answer["thread_id"],
            "run_id": answer["run_id"],
            "tenant": tenant,
            "asked_by": answer["asked_by"],
            "created_at": time.time(),
            "question": answer["question"],
            "answer": _dumps(answer),
        }
        with self._tx() as c:
            c.execute(answers.insert().values(**row))

    def list_answers(self, thread_id: str, tenant: str, limit: int = 200) -> list[dict[str, Any]]:
        """A thread's answers, oldest first."""
        stmt = (
            select(answers.c.answer)
            .where(answers.c.thread_id == thread_id, answers.c.tenant == tenant)
            .order_by(answers.c.created_at)
            .limit(limit)
        )
        return [json.loads(r["answer"]) for r in self._rows(stmt)]

    def enqueue_run(self, run_id: str, thread_id: str, principal: dict[str, Any]) -> None:
        """Hold a run (already in ``runs`` as pending) until its thread is free (multitask strategy enqueue).

        The requester's whole principal is kept, because the workflow's policy checks need its roles.
        """
        row = {"run_id": run_id, "thread_id": thread_id, "principal": _dumps(principal), "created_at": time.time()}
        with self._tx() as c:
            insert_ignore(c, run_queue, row)

    def queued_runs(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        if thread_id:
            rows = self._rows(_THREAD_QUEUE, {"p_thread_id": thread_id})
        else:
            rows = self._rows(select(run_queue).order_by(run_queue.c.created_at))
        return [{**r, "principal": json.loads(r["principal"])} for r in rows]

    def dequeue_run(self, run_id: str) -> bool:
        with self._tx() as c:
            return int(c.execute(run_queue.delete().where(run_queue.c.run_id == run_id)).rowcount) > 0

    _STATS = {
        "runs": "SELECT assistant_id, status, tenant, COUNT(*) AS n FROM runs GROUP BY assistant_id, status, tenant",
        "approvals_pending": (
            "SELECT tenant, assistant_id, risk, COUNT(*) AS n FROM approvals WHERE status='pending'"
            " GROUP BY tenant, assistant_id, risk"
        ),
        "decisions": (
            "SELECT tenant, COUNT(*) AS n, SUM(decided_at - created_at) AS seconds FROM approvals"
            " WHERE decided_at IS NOT NULL GROUP BY tenant"
        ),
        "steps": (
            "SELECT s.node AS node, COUNT(*) AS n, SUM(c.ts - s.ts) AS seconds FROM node_executions s"
            " JOIN node_executions c ON c.run_id=s.run_id AND c.task_key=s.task_key"
            " AND c.attempt=s.attempt AND c.status='completed'"
            " WHERE s.status='started' GROUP BY s.node"
        ),
    }

    def api_stats(self) -> dict[str, list[dict[str, Any]]]:
        """Aggregates for /metrics, computed in SQL at scrape time (no counters to lose on restart)."""
        with self.engine.connect() as c:
            return {name: [dict(r._mapping) for r in c.execute(text(sql))] for name, sql in self._STATS.items()}


_STORE: Store | None = None
_STORE_LOCK = threading.Lock()


def _target(path: Path | str | None) -> Path | str:
    """What to open: ``STEWARD_DATABASE_URL`` when set (for the default location: callers pass
    ``settings.resolved_db_path``), else the given SQLite file or the settings' one."""
    from runtime.settings import get_settings

    s = get_settings()
    url = s.database_url.get_secret_value() if s.database_url is not None else None
    if url and (path is None or Path(path) == s.resolved_db_path):
        return url
    return path if path is not None else s.resolved_db_path


def open_store(path: Path | str | None = None) -> Store:
    """The process-wide store (activities and the server share one engine per process)."""
    global _STORE
    target = _target(path)
    with _STORE_LOCK:
        if _STORE is None or _STORE._target != str(target):
            _STORE = Store(target)
        return _STORE
