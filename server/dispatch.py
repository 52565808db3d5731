"""Starting, queueing, resuming and cancelling runs for the API (multitask strategies live here).

Runs start through ``runtime.runs.start_run`` and approvals are decided through ``runtime.runs.decide``:
this module only decides *when* (now, after the thread's current run, or never) and translates the Agent
Server's ``command.resume`` into decisions on the thread's pending approvals.

``enqueue`` is durable: a queued run is a ``pending`` row in ``runs`` plus a ``run_queue`` row holding the
requester's principal; a background loop starts the oldest queued run of a thread once no other run of that
thread is active. Starting is idempotent (workflow id = run id), so a crash between start and dequeue cannot
start a run twice.

**Many API replicas.** Everything that must happen in one place at a time goes through leases in the
database (``runtime.db.leases``), never a process lock: a thread's occupancy check and the start or queueing
of its new run hold the lease ``thread:<id>``, so two replicas given runs for one thread with ``reject``
accept exactly one; and only the replica holding the ``dispatcher`` lease drains the queue (the others
check, cheaply, whether its holder has lapsed, and take over when it has).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext, suppress
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from guards.types import ApprovalDecision, Principal, has_role
from runtime import interrupts, runs
from runtime.db.leases import LeaderLease, hold, holder_id, lease_holder
from runtime.db.notify import listener_for
from runtime.errors import Conflict, Forbidden, UserError
from runtime.proofs import DecisionSigner
from runtime.store import TERMINAL_STATUSES, Store
from server.aio import db
from server.connection import TemporalConnection
from server.schemas import RunCreate
from server.streaming import SAFETY_POLL_S

log = logging.getLogger("steward.server.dispatch")

_UNSUPPORTED: dict[str, str] = {
    "interrupt_before": "breakpoints are not supported; approvals come from the policy",
    "interrupt_after": "breakpoints are not supported; approvals come from the policy",
    "webhook": "webhooks are not supported; stream or join the run",
    "checkpoint": "runs cannot start from a checkpoint; Temporal's history is the checkpoint",
    "checkpoint_id": "runs cannot start from a checkpoint; Temporal's history is the checkpoint",
}


def check_supported(body: RunCreate) -> None:
    """Refuse, by name, the Agent Server options Steward cannot honour (never ignore them silently)."""
    for name, why in _UNSUPPORTED.items():
        if getattr(body, name) not in (None, [], {}):
            raise UserError(f"{name}: {why}")
    if body.after_seconds:
        raise UserError("after_seconds: delayed runs are not supported")
    if body.multitask_strategy == "rollback":
        raise UserError(
            "multitask_strategy: 'rollback' is not supported (runs are never deleted); "
            "use 'reject', 'enqueue' or 'interrupt'"
        )
    if body.stream_subgraphs:
        raise UserError("stream_subgraphs: subgraph streaming is not supported")
    if body.command is not None:
        if body.command.update is not None or body.command.goto is not None:
            raise UserError("command: only 'resume' is supported (approvals resume the run)")
        if body.command.resume is None:
            raise UserError("command.resume: required when 'command' is given")
        if body.input is not None:
            raise UserError("input: give either 'input' (a new run) or 'command' (resume), not both")


_HUMAN_RESPONSE = {"accept": "approve", "edit": "edit", "response": "respond", "ignore": "reject"}


def _from_human_response(value: Any) -> Any:
    """LangGraph's ``HumanResponse`` (``{"type", "args"}``, what Agent Inbox sends) as a Steward decision;
    any other value is returned unchanged."""
    if not (isinstance(value, dict) and "type" in value and set(value) <= {"type", "args"}):
        return value
    kind, args = value["type"], value.get("args")
    if kind not in _HUMAN_RESPONSE:
        raise UserError(f"command.resume.type: {kind!r} is not a HumanResponse type; known: {sorted(_HUMAN_RESPONSE)}")
    if kind == "edit":  # args is an ActionRequest {"action", "args"}, or the edited arguments themselves
        return {"action": "edit", "args": args.get("args") if isinstance(args, dict) and "action" in args else args}
    if kind == "response":
        return {"action": "respond", "response": "" if args is None else str(args)}
    return {"action": _HUMAN_RESPONSE[kind]}


def _decisions(resume: Any, pending: list[dict[str, Any]], principal: Principal) -> list[ApprovalDecision]:
    """``command.resume`` -> one decision per pending approval.

    Accepted: ``"approve"``; ``{"action": "approve" | "edit" | "reject" | "respond", "args", "comment",
    "response"}`` or a ``HumanResponse`` ``{"type": "accept" | "edit" | "response" | "ignore", "args"}``
    (applies to every pending approval); a map of approval id -> either of those; or a list of them, one per
    pending approval in order (Agent Inbox sends ``[HumanResponse]``).
    """
    ids = [a["approval_id"] for a in pending]
    if isinstance(resume, list):
        if len(resume) not in (1, len(ids)):
            raise UserError(f"command.resume: {len(resume)} responses for {len(ids)} pending approvals {ids}")
        resume = dict(zip(ids, resume * len(ids) if len(resume) == 1 else resume, strict=True))
    if isinstance(resume, dict) and resume and all(k in ids for k in resume):
        chosen = dict(resume)
    elif isinstance(resume, str | dict):
        chosen = dict.fromkeys(ids, resume)
    else:
        raise UserError(
            f"command.resume: expected a decision like {{'action': 'approve'}} or a map of approval id "
            f"to decision; pending approvals: {ids}"
        )
    out = []
    for approval_id, given in chosen.items():
        value = _from_human_response(given)
        fields = {"action": value} if isinstance(value, str) else value
        if not isinstance(fields, dict):
            raise UserError(f"command.resume.{approval_id}: expected a decision object, got {type(value).__name__}")
        unknown = set(fields) - {"action", "args", "comment", "response"}
        if unknown:
            raise UserError(
                f"command.resume: unknown field {sorted(unknown)[0]!r}; a decision has action, args, "
                f"comment, response (pending approvals: {ids})"
            )
        try:
            out.append(ApprovalDecision(approval_id=approval_id, principal=principal, **fields))
        except ValidationError as exc:
            problems = "; ".join(
                f"command.resume.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise UserError(problems) from None
    return out


def store_engine(store: Store) -> Engine:
    """The SQLAlchemy engine on the store's database (the store's own once it has one)."""
    engine: Engine | None = getattr(store, "engine", None)
    if engine is not None:
        return engine
    # A store without an engine is the SQLite file store: open the same file and bring its schema to head
    # (the lease table lives in a migration), exactly what the store itself does when it opens.
    from runtime.db import make_engine, sqlite_url, upgrade

    path = getattr(store, "path", None)
    if path is None:
        raise UserError("the run dispatcher needs the store's database; this store has no engine and no file")
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    return engine


class RunDispatcher:
    """Decides when a requested run starts, and drives resumes and cancellations."""

    def __init__(
        self,
        store: Store,
        temporal: TemporalConnection,
        task_queue: str,
        poll_s: float = 0.2,
        signer: DecisionSigner | None = None,
        *,
        engine: Engine | None = None,
        holder: str | None = None,
        lease_ttl_s: float = 10.0,
    ) -> None:
        self.store = store
        self.signer = signer
        """Signs resume decisions for the authenticated principal (the app's signer); unset = from settings."""
        self.temporal = temporal
        self.task_queue = task_queue
        self.poll_s = poll_s
        self.engine = engine or store_engine(store)
        self.holder = holder or holder_id("api")
        """This replica's name in the lease table (host, pid, instance)."""
        self.leader = LeaderLease(self.engine, "dispatcher", self.holder, ttl_s=lease_ttl_s, renew_s=lease_ttl_s / 3)
        self.ticks = 0
        """Queue drains this instance ran (it ran none while another replica led)."""
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def _thread_lock(self, thread_id: str) -> AsyncIterator[None]:
        """Occupancy check + start are atomic per thread across replicas (the ``thread:<id>`` lease); the
        local lock only keeps this process's own requests for one thread from polling the lease."""
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        async with lock, hold(self.engine, f"thread:{thread_id}", self.holder):
            yield

    # -- thread occupancy ------------------------------------------------------------------------
    def active_runs(self, thread_id: str) -> list[dict[str, Any]]:
        """Runs of the thread that occupy it: started (or starting) and not finished; queued ones excluded."""
        queued = {q["run_id"] for q in self.store.queued_runs(thread_id)}
        return [
            r
            for r in self.store.list_runs(thread_id, limit=100)
            if r["status"] not in TERMINAL_STATUSES and r["run_id"] not in queued
        ]

    # -- new runs --------------------------------------------------------------------------------
    async def submit(
        self, principal: Principal, body: RunCreate, thread_id: str | None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Start a run now, queue it behind the thread's active run, or refuse (multitask strategy)."""
        data = runs.validate_input(body.assistant_id, body.input if body.input is not None else {})
        strategy = body.multitask_strategy or "enqueue"
        thread_id = thread_id or f"thread-{uuid.uuid4()}"
        run_id = run_id or runs.new_run_id()
        if (
            not self.store.postgres
            and (claimed := await db(self._claim_free_thread, principal, body.assistant_id, data, thread_id, run_id))
            is not None
        ):
            thread_state, recorded = claimed
            await self._start(
                principal, body.assistant_id, data, thread_id, run_id, recorded=True, thread_state=thread_state
            )
            return recorded
        async with self._thread_lock(thread_id):
            busy = await db(self.active_runs, thread_id)
            queued = await db(self.store.queued_runs, thread_id)
            if busy or queued:
                if strategy == "reject":
                    first = (busy or queued)[0]
                    raise Conflict(
                        f"thread {thread_id!r} has a run in progress ({first['run_id']}); "
                        "multitask_strategy 'reject' refuses a second one"
                    )
                if strategy == "interrupt":
                    for run in busy:
                        await self.cancel(run, wait=False)
                await db(self._queue, principal, body.assistant_id, data, thread_id, run_id)
            else:
                await self._start(principal, body.assistant_id, data, thread_id, run_id)
        started = await db(self.store.get_run, run_id)
        assert started is not None
        return started

    def _claim_free_thread(
        self, principal: Principal, assistant_id: str, data: dict[str, Any], thread_id: str, run_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """SQLite: record the run in one write transaction if its thread is free, returning the thread's saved
        state (``runs.record_run``) and the run as recorded (``pending``, as LangGraph answers a new run); None
        leaves it to the lease.

        SQLite has one writer at a time, so a write transaction is itself the cross-process lock the
        ``thread:<id>`` lease provides: no other process can add a run to the thread between this check and
        this insert, and the new row occupies the thread for whoever checks next. A thread that is busy,
        queued or under another replica's lease takes the lease path (the multitask strategies). The common
        case costs one transaction instead of three (lease, run, release), each waiting for SQLite's write
        lock beside the worker's writes.
        """
        with self.store.batch():
            if lease_holder(self.engine, f"thread:{thread_id}") is not None:
                return None
            if self.store.thread_occupied(thread_id):
                return None
            state = runs.record_run(self.store, principal, assistant_id, data, thread_id, run_id)
        recorded = self.store.get_run(run_id)  # committed now: reads see it (the same thread hop)
        assert recorded is not None
        return state, recorded

    def _queue(
        self, principal: Principal, assistant_id: str, data: dict[str, Any], thread_id: str, run_id: str
    ) -> None:
        """Record the run as pending and put it in the thread's queue (``tick`` starts it later)."""
        self.store.create_run(run_id, thread_id, assistant_id, principal.tenant, principal.id, data)
        self.store.enqueue_run(run_id, thread_id, principal.model_dump())

    async def _start(
        self,
        principal: Principal,
        assistant_id: str,
        data: dict[str, Any],
        thread_id: str,
        run_id: str,
        recorded: bool = False,
        thread_state: dict[str, Any] | None = None,
    ) -> None:
        client = await self.temporal.get()
        try:
            await runs.start_run(
                client,
                self.store,
                self.task_queue,
                assistant_id,
                data,
                principal,
                thread_id=thread_id,
                run_id=run_id,
                validate=False,
                recorded=recorded,
                thread_state=thread_state,
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as exc:
            await db(self.store.set_run_status, run_id, "error", error=f"could not start: {exc}")
            raise

    async def run_forever(self) -> None:
        """Start queued runs as their threads free up, while this replica holds the ``dispatcher`` lease.

        Cheap when idle: a follower reads the lease row, the leader renews it every few seconds and reads the
        queue. Leadership is given back on shutdown so another replica takes over at once.
        """
        try:
            while True:
                try:
                    if await db(self.leader.is_leader):
                        await self.tick()
                        self.ticks += 1
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - survive Temporal or database outages; the next tick retries
                    log.exception("run dispatcher tick failed")
                await asyncio.sleep(self.poll_s)
        finally:
            with suppress(Exception):
                await asyncio.shield(db(self.leader.resign))

    async def tick(self) -> int:
        started = 0
        heads: dict[str, dict[str, Any]] = {}
        for q in await db(self.store.queued_runs):
            heads.setdefault(q["thread_id"], q)
        for thread_id, q in heads.items():
            async with self._thread_lock(thread_id):
                if await db(self.active_runs, thread_id):
                    continue
                run = await db(self.store.get_run, q["run_id"])
                if run is not None and run["status"] == "pending":
                    await self._start(
                        Principal.model_validate(q["principal"]),
                        run["assistant_id"],
                        run["input"],
                        thread_id,
                        run["run_id"],
                    )
                    started += 1
                await db(self.store.dequeue_run, q["run_id"])
        return started

    # -- resume ----------------------------------------------------------------------------------
    async def resume(self, principal: Principal, thread_id: str, resume: Any) -> tuple[dict[str, Any], int]:
        """Decide the pending approvals of the thread's waiting run, or answer the questions its graph asked
        with ``interrupt()`` (``runtime.interrupts``); returns (run, last event seq before)."""
        asking = await db(self._asking, thread_id)
        if asking is not None:
            return await self._answer(principal, asking[0], asking[1], resume)
        if not has_role(principal, "approver"):
            raise Forbidden(
                f"principal {principal.id!r} lacks role 'approver' needed to resume an interrupt "
                f"(has {sorted(principal.roles)})"
            )
        waiting = await db(self._waiting, thread_id)
        if not waiting:
            raise Conflict(f"thread {thread_id!r} has no run waiting on an interrupt; nothing to resume")
        run, pending = waiting[0]
        decisions = _decisions(resume, pending, principal)
        after = await db(self.store.last_event_seq, run["run_id"])
        client = await self.temporal.get()
        if self.signer is None:
            from runtime.settings import get_settings

            self.signer = DecisionSigner.from_settings(get_settings())
        for d in decisions:
            await runs.decide(client, self.store, d, self.signer)
        fresh = await db(self.store.get_run, run["run_id"])
        assert fresh is not None
        return fresh, after

    def _waiting(self, thread_id: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """The thread's active runs that wait on approvals, each with its pending approvals."""
        return [
            (r, p)
            for r in self.active_runs(thread_id)
            if (p := self.store.list_approvals(run_id=r["run_id"], status="pending"))
        ]

    def _asking(self, thread_id: str) -> tuple[dict[str, Any], list[str]] | None:
        """The thread's run waiting on its graph's own interrupts (and on no approval), with their ids."""
        for r in self.active_runs(thread_id):
            if self.store.list_approvals(run_id=r["run_id"], status="pending"):
                continue
            open_ids = [q["id"] for q in interrupts.open_questions(self.store, r["run_id"])]
            if open_ids:
                return r, open_ids
        return None

    async def _answer(
        self, principal: Principal, run: dict[str, Any], open_ids: list[str], resume: Any
    ) -> tuple[dict[str, Any], int]:
        """A user interrupt is the graph author's question to whoever drives the thread: any principal of
        the thread's tenant may answer (approvals, not questions, need the approver role)."""
        answers = interrupts.answers_for(resume, open_ids)
        after = await db(self.store.last_event_seq, run["run_id"])
        client = await self.temporal.get()
        await interrupts.answer(client, run["run_id"], answers, principal.model_dump())
        fresh = await db(self.store.get_run, run["run_id"])
        assert fresh is not None
        return fresh, after

    # -- cancel ----------------------------------------------------------------------------------
    async def cancel(self, run: dict[str, Any], wait: bool = False, timeout_s: float = 30.0) -> dict[str, Any]:
        run_id = run["run_id"]
        if not await db(self._cancel_queued, run_id):
            if run["status"] in TERMINAL_STATUSES:
                raise Conflict(f"run {run_id!r} has already finished: {run['status']}")
            client = await self.temporal.get()
            try:
                await client.get_workflow_handle(run_id).cancel()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                raise Conflict(f"run {run_id!r} is not running in Temporal") from None
            if wait:
                await self._until_finished(run_id, timeout_s)
        fresh = await db(self.store.get_run, run_id)
        assert fresh is not None
        return fresh

    async def _until_finished(self, run_id: str, timeout_s: float) -> None:
        """Until the run's status is terminal, at most ``timeout_s``. Woken by the run's events (its finish sets
        the status, then appends ``run_finished``: ``runtime/db/notify.py``) with the streams' safety poll; every
        50 ms where there is no listener."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        listener = listener_for(self.store.engine)
        with listener.watch(run_id) if listener is not None else nullcontext() as watch:
            while True:
                seen = watch.latest if watch is not None else 0  # before the read: a later event wakes us
                fresh = await db(self.store.get_run, run_id)
                left = deadline - loop.time()
                if fresh is None or fresh["status"] in TERMINAL_STATUSES or left <= 0:
                    return
                if watch is None:
                    await asyncio.sleep(min(0.05, left))
                else:
                    await watch.wait(seen, min(SAFETY_POLL_S, left))

    def _cancel_queued(self, run_id: str) -> bool:
        """Take the run out of its queue and finish it as cancelled; False when it was not queued."""
        if not self.store.dequeue_run(run_id):
            return False
        self.store.set_run_status(run_id, "cancelled", error="cancelled before it started")
        self.store.append_events(
            run_id,
            [
                (
                    "finish",
                    "run_finished",
                    {"status": "cancelled", "outcome": None, "error": "cancelled before it started"},
                )
            ],
        )
        return True
