"""The transactional outbox of webhook actions, and the dispatcher that delivers them.

Why an outbox: a tool that POSTed from inside its activity could send and then crash before the ledger says
so (the retry sends again with nothing to tell the two apart), or record and crash before sending (lost).
Instead the webhook adapter (``tools/adapters.py``) only stages the action, and ``execute_tool`` commits the
outbox row in the same SQLite transaction as the tool's ledger row: the action exists iff the tool finished.

Delivery is at-least-once: the dispatcher (one asyncio task per worker process) claims one row at a time
under a lease, POSTs it with an ``Idempotency-Key`` header, and marks it delivered only after a 2xx. A worker
killed between the send and the mark leaves the row queued; once the lease expires any worker sends it
again with the same key. **Exactly-once effect downstream therefore needs the receiver to deduplicate on
``Idempotency-Key``**; Steward guarantees that every key is sent until acknowledged and that no action is
reported "delivered" before a 2xx for it. Two workers never send the same row at the same time: a claim is an
``UPDATE`` under SQLite's write lock (``BEGIN IMMEDIATE``) that only takes rows without a live lease.

Failures (connection refused, timeouts, 5xx, 408/425/429) are retried with exponential backoff, capped; any
other 4xx is a refusal the receiver will repeat, so the action is marked failed and says why. The table lives
in the app store's SQLite file, created here with the store's connection (the store's SQLAlchemy port will
move it with the rest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from runtime.settings import Settings
from runtime.store import Store
from tools.adapters import ActionReport, ActionRouting, AdapterName, Delivery, StagedAction

log = logging.getLogger("steward.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY, run_id TEXT NOT NULL, tool_call_id TEXT NOT NULL, tenant TEXT NOT NULL,
    tool TEXT NOT NULL, adapter TEXT NOT NULL, url TEXT NOT NULL, payload TEXT NOT NULL,
    delivery TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    next_attempt_at REAL NOT NULL, lease_owner TEXT, lease_until REAL,
    created_at REAL NOT NULL, delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(delivery, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_run ON outbox(run_id);
"""

_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class OutboxAction:
    """One row of the outbox."""

    idempotency_key: str
    run_id: str
    tool_call_id: str
    tenant: str
    tool: str
    adapter: str
    url: str
    payload: dict[str, Any]
    delivery: Delivery
    attempts: int
    last_error: str | None
    next_attempt_at: float
    lease_owner: str | None
    lease_until: float | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxAction:
        d = dict(row)
        d["payload"] = json.loads(d["payload"])
        d["delivery"] = Delivery(d["delivery"])
        return cls(**d)

    def report(self) -> ActionReport:
        return ActionReport(
            tool=self.tool,
            adapter=self.adapter,
            delivery=self.delivery,
            idempotency_key=self.idempotency_key,
            attempts=self.attempts,
            last_error=self.last_error,
        )

    @property
    def target(self) -> str:
        """The receiver without query string or credentials (what the API shows)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def body(self) -> dict[str, Any]:
        """What the receiver gets: the action and where it came from."""
        return {
            "idempotency_key": self.idempotency_key,
            "tool": self.tool,
            "run_id": self.run_id,
            "tool_call_id": self.tool_call_id,
            "tenant": self.tenant,
            "action": self.payload,
        }


def action_routing(settings: Settings) -> ActionRouting:
    """The adapter routing the worker's tools use, from settings (checked: a webhook needs a URL)."""
    routing = ActionRouting(
        default=AdapterName(settings.action_adapter),
        webhook_url=settings.webhook_url,
        overrides={tool: AdapterName(name) for tool, name in settings.action_adapters.items()},
        webhook_urls=dict(settings.webhook_urls),
    )
    routing.check()
    return routing


class Outbox:
    """The outbox table's queries, on the app store's SQLite connection."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store._lock:  # noqa: SLF001 - same file, same connection: one transaction with the ledger row
            store._conn.executescript(_SCHEMA)  # noqa: SLF001

    # -- writing (inside execute_tool's ledger transaction) ----------------------------------------------------
    @staticmethod
    def stage(tenant: str, actions: list[StagedAction]) -> Callable[[sqlite3.Connection], None]:
        """A step for ``Store.finish_tool_execution(..., also=...)``: insert the staged actions in its
        transaction. A retried execution stages the same keys again, and ``INSERT OR IGNORE`` keeps one."""

        def insert(c: sqlite3.Connection) -> None:
            now = time.time()
            for a in actions:
                c.execute(
                    "INSERT OR IGNORE INTO outbox(idempotency_key, run_id, tool_call_id, tenant, tool, adapter, url,"
                    " payload, delivery, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        a.idempotency_key,
                        a.run_id,
                        a.tool_call_id,
                        tenant,
                        a.tool,
                        AdapterName.WEBHOOK.value,
                        a.url,
                        json.dumps(a.payload, sort_keys=True, separators=(",", ":")),
                        Delivery.QUEUED.value,
                        now,
                        now,
                    ),
                )

        return insert

    # -- reading ----------------------------------------------------------------------------------------------
    def get(self, key: str) -> OutboxAction | None:
        rows = self.store._query("SELECT * FROM outbox WHERE idempotency_key=?", (key,))  # noqa: SLF001
        return OutboxAction.from_row(rows[0]) if rows else None

    def list_actions(
        self,
        tenant: str | None = None,
        delivery: Delivery | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OutboxAction]:
        where, params = [], []
        for col, val in (("tenant", tenant), ("delivery", delivery), ("run_id", run_id)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(str(val))
        sql = "SELECT * FROM outbox" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.store._query(  # noqa: SLF001
            sql + " ORDER BY created_at, idempotency_key LIMIT ? OFFSET ?", (*params, limit, offset)
        )
        return [OutboxAction.from_row(r) for r in rows]

    # -- the dispatcher's steps -------------------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, now: float | None = None) -> OutboxAction | None:
        """Lease the next due row to ``owner``; a row leased to a live claim is skipped, an expired one retaken."""
        now = time.time() if now is None else now
        with self.store._tx() as c:  # noqa: SLF001
            row = c.execute(
                "SELECT idempotency_key FROM outbox WHERE delivery=? AND next_attempt_at<=?"
                " AND (lease_until IS NULL OR lease_until<?) ORDER BY next_attempt_at LIMIT 1",
                (Delivery.QUEUED.value, now, now),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE outbox SET lease_owner=?, lease_until=? WHERE idempotency_key=?",
                (owner, now + lease_s, row["idempotency_key"]),
            )
            claimed = c.execute("SELECT * FROM outbox WHERE idempotency_key=?", (row["idempotency_key"],)).fetchone()
        return OutboxAction.from_row(claimed)

    def note_attempt(self, key: str, owner: str) -> int:
        """Count a send before it starts, so ``attempts`` is never less than the sends the receiver saw."""
        with self.store._tx() as c:  # noqa: SLF001
            c.execute("UPDATE outbox SET attempts=attempts+1 WHERE idempotency_key=? AND lease_owner=?", (key, owner))
            (attempts,) = c.execute("SELECT attempts FROM outbox WHERE idempotency_key=?", (key,)).fetchone()
        return int(attempts)

    def mark_delivered(self, action: OutboxAction, status_code: int) -> None:
        """Audit first (keyed, so a crash and resend writes it once), then the row, its event and the run's
        outcome in one transaction: nothing says "delivered" unless a 2xx for this key came back."""
        data = {**action.report().model_dump(mode="json"), "delivery": Delivery.DELIVERED.value}
        data["status_code"] = status_code
        self._settle(
            action,
            Delivery.DELIVERED,
            data,
            "UPDATE outbox SET delivery=?, delivered_at=?, last_error=NULL, lease_owner=NULL, lease_until=NULL"
            " WHERE idempotency_key=?",
            (Delivery.DELIVERED.value, time.time(), action.idempotency_key),
        )

    def mark_retry(self, action: OutboxAction, owner: str, error: str, delay_s: float) -> None:
        """Back in the queue after ``delay_s``; the row keeps its key and stays visible as queued."""
        with self.store._tx() as c:  # noqa: SLF001
            c.execute(
                "UPDATE outbox SET last_error=?, next_attempt_at=?, lease_owner=NULL, lease_until=NULL"
                " WHERE idempotency_key=? AND lease_owner=? AND delivery=?",
                (error, time.time() + delay_s, action.idempotency_key, owner, Delivery.QUEUED.value),
            )

    def mark_failed(self, action: OutboxAction, owner: str, error: str) -> None:
        """Given up (refused by the receiver, or attempts used up): said so in the row, the events and the audit."""
        data = {
            **action.report().model_dump(mode="json"),
            "delivery": Delivery.FAILED.value,
            "attempts": action.attempts,
            "last_error": error,
        }
        self._settle(
            action,
            Delivery.FAILED,
            data,
            "UPDATE outbox SET delivery=?, last_error=?, lease_owner=NULL, lease_until=NULL"
            " WHERE idempotency_key=? AND lease_owner=?",
            (Delivery.FAILED.value, error, action.idempotency_key, owner),
            error,
        )

    def _settle(
        self,
        action: OutboxAction,
        delivery: Delivery,
        data: dict[str, Any],
        update: str,
        params: tuple[Any, ...],
        error: str | None = None,
    ) -> None:
        """A final state, said everywhere: the audit record first (keyed, so a crash and resend writes it once),
        then the row, the run's event and the run's outcome in one transaction."""
        word = delivery.value
        self.store.append_audit(
            action.tenant,
            "steward:outbox",
            f"action.{word}",
            {**data, "target": action.target, "tool_call_id": action.tool_call_id},
            run_id=action.run_id,
            key=f"{action.run_id}:{action.idempotency_key}:{word}",
        )
        with self.store._tx() as c:  # noqa: SLF001
            c.execute(update, params)
            self.store._append_events(  # noqa: SLF001
                c, action.run_id, [(f"outbox:{action.idempotency_key}:{word}", f"action_{word}", data)]
            )
            _update_run_outcome(c, action.run_id, action.idempotency_key, delivery, data["attempts"], error)


def _update_run_outcome(
    c: sqlite3.Connection, run_id: str, key: str, delivery: Delivery, attempts: int, error: str | None
) -> None:
    """A finished run's outcome lists its actions as they stood then ("queued"); keep that entry current."""
    row = c.execute("SELECT output FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None or not row["output"]:
        return
    output = json.loads(row["output"])
    actions = output.get("actions") if isinstance(output, dict) else None
    changed = False
    for item in actions if isinstance(actions, list) else []:
        if isinstance(item, dict) and item.get("idempotency_key") == key:
            item.update(delivery=delivery.value, attempts=attempts, last_error=error)
            changed = True
    if changed:
        c.execute(
            "UPDATE runs SET output=? WHERE run_id=?",
            (json.dumps(output, sort_keys=True, separators=(",", ":"), default=str), run_id),
        )


@dataclass(frozen=True)
class DispatchOptions:
    poll_s: float = 1.0
    lease_s: float = 30.0
    timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    max_attempts: int = 0
    pause_at: str | None = None
    pause_s: float = 0.0

    @classmethod
    def from_settings(cls, s: Settings) -> DispatchOptions:
        """Checked: a lease shorter than a send would let a second worker resend while the first still waits."""
        if s.outbox_lease_s <= s.webhook_timeout_s:
            raise ValueError(
                f"outbox_lease_s ({s.outbox_lease_s}) must be longer than webhook_timeout_s ({s.webhook_timeout_s})"
            )
        return cls(
            poll_s=s.outbox_poll_s,
            lease_s=s.outbox_lease_s,
            timeout_s=s.webhook_timeout_s,
            backoff_base_s=s.outbox_backoff_base_s,
            backoff_max_s=s.outbox_backoff_max_s,
            max_attempts=s.outbox_max_attempts,
            pause_at=s.outbox_pause_at,
            pause_s=s.outbox_pause_s,
        )

    def backoff(self, attempts: int) -> float:
        """base, 2*base, 4*base, ... capped at backoff_max_s."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1)))


class OutboxDispatcher:
    """Delivers due outbox rows, one at a time per worker process (an asyncio task in ``steward worker``)."""

    def __init__(self, outbox: Outbox, options: DispatchOptions, owner: str | None = None) -> None:
        self.outbox = outbox
        self.options = options
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self.options.timeout_s) as http:
            while not stop.is_set():
                try:
                    worked = await self.dispatch_one(http)
                except Exception:  # noqa: BLE001 - a store hiccup must not end delivery for this worker
                    log.exception("outbox dispatch step failed; retrying")
                    worked = False
                if not worked:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=self.options.poll_s)
                    except TimeoutError:
                        pass

    async def dispatch_one(self, http: httpx.AsyncClient) -> bool:
        """Claim and send one due action; False when none is due."""
        action = await asyncio.to_thread(self.outbox.claim, self.owner, self.options.lease_s)
        if action is None:
            return False
        await self._pause("before_send")
        attempts = await asyncio.to_thread(self.outbox.note_attempt, action.idempotency_key, self.owner)
        action = replace(action, attempts=attempts)
        try:
            response = await http.post(
                action.url,
                json=action.body(),
                headers={"Idempotency-Key": action.idempotency_key, "X-Steward-Attempt": str(attempts)},
            )
        except httpx.HTTPError as exc:
            await self._failed(action, attempts, f"{type(exc).__name__}: {exc}".rstrip(": "), True)
            return True
        await self._pause("after_send")
        if 200 <= response.status_code < 300:
            await asyncio.to_thread(self.outbox.mark_delivered, action, response.status_code)
            log.info("action %s (%s) delivered after %d attempt(s)", action.idempotency_key, action.tool, attempts)
        else:
            retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_4XX
            await self._failed(action, attempts, f"HTTP {response.status_code}: {response.text[:200]}", retryable)
        return True

    async def _failed(self, action: OutboxAction, attempts: int, error: str, retryable: bool) -> None:
        opts = self.options
        if retryable and (opts.max_attempts == 0 or attempts < opts.max_attempts):
            delay = opts.backoff(attempts)
            log.warning("action %s: %s; retry in %.1fs", action.idempotency_key, error, delay)
            await asyncio.to_thread(self.outbox.mark_retry, action, self.owner, error, delay)
        else:
            log.error("action %s failed for good: %s", action.idempotency_key, error)
            await asyncio.to_thread(self.outbox.mark_failed, action, self.owner, error)

    async def _pause(self, point: str) -> None:
        """The crash tests' hook: sleep where a kill -9 shows what a crash at that point does."""
        if self.options.pause_at == point and self.options.pause_s > 0:
            log.warning("outbox test hook: pausing %.1fs %s", self.options.pause_s, point)
            await asyncio.sleep(self.options.pause_s)
