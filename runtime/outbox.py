"""The transactional outbox of webhook actions, and the dispatcher that delivers them.

Why an outbox: a tool that POSTed from inside its activity could send and then crash before the ledger says
so (the retry sends again with nothing to tell the two apart), or record and crash before sending (lost).
Instead the webhook adapter (``tools/adapters.py``) only stages the action, and ``execute_tool`` commits the
outbox row in the same transaction as the tool's ledger row: the action exists iff the tool finished.

Delivery is at-least-once: the dispatcher (one asyncio task per worker process) claims one row at a time
under a lease, POSTs it with an ``Idempotency-Key`` header, and marks it delivered only after a 2xx. A worker
killed between the send and the mark leaves the row queued; once the lease expires any worker sends it
again with the same key. **Exactly-once effect downstream therefore needs the receiver to deduplicate on
``Idempotency-Key``**; Steward guarantees that every key is sent until acknowledged and that no action is
reported "delivered" before a 2xx for it. Two workers never send the same row at the same time: a claim only
takes rows without a live lease, under SQLite's write lock (``BEGIN IMMEDIATE``) or, on PostgreSQL, a row lock
(``FOR UPDATE SKIP LOCKED``).

Failures (connection refused, timeouts, 5xx, 408/425/429) are retried with exponential backoff, capped; any
other 4xx is a refusal the receiver will repeat, so the action is marked failed and says why. The table lives
in the app store (migration ``0002_outbox`` in ``runtime/db``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Row, select

from runtime.db.sql import insert_ignore
from runtime.db.tables import outbox, runs
from runtime.settings import Settings
from runtime.store import Store, _dumps
from tools.adapters import ActionReport, ActionRouting, AdapterName, Delivery, StagedAction

log = logging.getLogger("steward.outbox")

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
    def from_row(cls, row: Row[Any]) -> OutboxAction:
        d = dict(row._mapping)
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
    """The outbox table's queries, on the app store's engine (its table is migration ``0002_outbox``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- writing (inside execute_tool's ledger transaction) ----------------------------------------------------
    @staticmethod
    def stage(tenant: str, actions: list[StagedAction]) -> Callable[[Connection], None]:
        """A step for ``Store.finish_tool_execution(..., also=...)``: insert the staged actions in its
        transaction. A retried execution stages the same keys again, and ``ON CONFLICT DO NOTHING`` keeps one."""

        def insert(c: Connection) -> None:
            now = time.time()
            rows = [
                {
                    "idempotency_key": a.idempotency_key,
                    "run_id": a.run_id,
                    "tool_call_id": a.tool_call_id,
                    "tenant": tenant,
                    "tool": a.tool,
                    "adapter": AdapterName.WEBHOOK.value,
                    "url": a.url,
                    "payload": _dumps(a.payload),
                    "delivery": Delivery.QUEUED.value,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for a in actions
            ]
            if rows:
                insert_ignore(c, outbox, rows)

        return insert

    # -- reading ----------------------------------------------------------------------------------------------
    def get(self, key: str) -> OutboxAction | None:
        with self.store.engine.connect() as c:
            row = c.execute(select(outbox).where(outbox.c.idempotency_key == key)).first()
        return OutboxAction.from_row(row) if row else None

    def list_actions(
        self,
        tenant: str | None = None,
        delivery: Delivery | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OutboxAction]:
        stmt = select(outbox)
        for col, val in ((outbox.c.tenant, tenant), (outbox.c.delivery, delivery), (outbox.c.run_id, run_id)):
            if val is not None:
                stmt = stmt.where(col == str(val))
        stmt = stmt.order_by(outbox.c.created_at, outbox.c.idempotency_key).limit(limit).offset(offset)
        with self.store.engine.connect() as c:
            return [OutboxAction.from_row(r) for r in c.execute(stmt)]

    # -- the dispatcher's steps -------------------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, now: float | None = None) -> OutboxAction | None:
        """Lease the next due row to ``owner``; a row leased to a live claim is skipped, an expired one retaken.

        Two dispatchers never take the same row: SQLite's write lock serialises the claim, and on PostgreSQL
        ``FOR UPDATE SKIP LOCKED`` lets each take a different due row without waiting."""
        now = time.time() if now is None else now
        due = (
            select(outbox.c.idempotency_key)
            .where(
                outbox.c.delivery == Delivery.QUEUED.value,
                outbox.c.next_attempt_at <= now,
                (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now),
            )
            .order_by(outbox.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self.store._tx() as c:  # noqa: SLF001
            key = c.execute(due).scalar_one_or_none()
            if key is None:
                return None
            this = outbox.c.idempotency_key == key
            c.execute(outbox.update().where(this).values(lease_owner=owner, lease_until=now + lease_s))
            claimed = c.execute(select(outbox).where(this)).one()
        return OutboxAction.from_row(claimed)

    def note_attempt(self, key: str, owner: str) -> int:
        """Count a send before it starts, so ``attempts`` is never less than the sends the receiver saw."""
        this = outbox.c.idempotency_key == key
        with self.store._tx() as c:  # noqa: SLF001
            c.execute(outbox.update().where(this, outbox.c.lease_owner == owner).values(attempts=outbox.c.attempts + 1))
            attempts = c.execute(select(outbox.c.attempts).where(this)).scalar_one()
        return int(attempts)

    def mark_delivered(self, action: OutboxAction, status_code: int) -> None:
        """Audit first (keyed, so a crash and resend writes it once), then the row, its event and the run's
        outcome in one transaction: nothing says "delivered" unless a 2xx for this key came back."""
        data = {**action.report().model_dump(mode="json"), "delivery": Delivery.DELIVERED.value}
        data["status_code"] = status_code

        def update(c: Connection) -> None:
            c.execute(
                outbox.update()
                .where(outbox.c.idempotency_key == action.idempotency_key)
                .values(
                    delivery=Delivery.DELIVERED.value,
                    delivered_at=time.time(),
                    last_error=None,
                    lease_owner=None,
                    lease_until=None,
                )
            )

        self._settle(action, Delivery.DELIVERED, data, update)

    def mark_retry(self, action: OutboxAction, owner: str, error: str, delay_s: float) -> None:
        """Back in the queue after ``delay_s``; the row keeps its key and stays visible as queued."""
        with self.store._tx() as c:  # noqa: SLF001
            c.execute(
                outbox.update()
                .where(
                    outbox.c.idempotency_key == action.idempotency_key,
                    outbox.c.lease_owner == owner,
                    outbox.c.delivery == Delivery.QUEUED.value,
                )
                .values(last_error=error, next_attempt_at=time.time() + delay_s, lease_owner=None, lease_until=None)
            )

    def mark_failed(self, action: OutboxAction, owner: str, error: str) -> None:
        """Given up (refused by the receiver, or attempts used up): said so in the row, the events and the audit."""
        data = {
            **action.report().model_dump(mode="json"),
            "delivery": Delivery.FAILED.value,
            "attempts": action.attempts,
            "last_error": error,
        }

        def update(c: Connection) -> None:
            c.execute(
                outbox.update()
                .where(outbox.c.idempotency_key == action.idempotency_key, outbox.c.lease_owner == owner)
                .values(delivery=Delivery.FAILED.value, last_error=error, lease_owner=None, lease_until=None)
            )

        self._settle(action, Delivery.FAILED, data, update, error)

    def _settle(
        self,
        action: OutboxAction,
        delivery: Delivery,
        data: dict[str, Any],
        update: Callable[[Connection], None],
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
            update(c)
            self.store._append_events(  # noqa: SLF001
                c, action.run_id, [(f"outbox:{action.idempotency_key}:{word}", f"action_{word}", data)]
            )
            _update_run_outcome(c, action.run_id, action.idempotency_key, delivery, data["attempts"], error)


def _update_run_outcome(
    c: Connection, run_id: str, key: str, delivery: Delivery, attempts: int, error: str | None
) -> None:
    """A finished run's outcome lists its actions as they stood then ("queued"); keep that entry current."""
    stored = c.execute(select(runs.c.output).where(runs.c.run_id == run_id).with_for_update()).scalar_one_or_none()
    if not stored:
        return
    output = json.loads(stored)
    actions = output.get("actions") if isinstance(output, dict) else None
    changed = False
    for item in actions if isinstance(actions, list) else []:
        if isinstance(item, dict) and item.get("idempotency_key") == key:
            item.update(delivery=delivery.value, attempts=attempts, last_error=error)
            changed = True
    if changed:
        c.execute(runs.update().where(runs.c.run_id == run_id).values(output=_dumps(output)))


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
