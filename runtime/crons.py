"""Crons: LangGraph's scheduled runs, each one a Temporal Schedule.

The schedule is the cron: durable, visible (and pausable) in the Temporal UI, firing while no API process
runs. Each firing starts the ordinary ``AgentRun`` workflow with the input validated when the cron was
created; the schedule gives every firing the same arguments, so ``AgentRunInput.run_id`` is left empty and
the workflow takes Temporal's per-firing workflow id (``run-<cron_id>-<time>``) as its run id, and a cron
without a thread gets a new thread per run. The run indexes itself in the app store when it begins, so it
shows in ``/threads/{id}/runs``, the console and the audit log like any other.

LangGraph's ``multitask_strategy`` becomes the schedule's overlap policy (what happens when a firing finds
the previous run still going): ``reject`` -> SKIP (the default, Temporal's too: a run waiting hours for an
approval must not pile up firings), ``enqueue`` -> BUFFER_ALL, ``interrupt`` -> CANCEL_OTHER. ``rollback``
is refused as it is for runs (runs are never deleted). The policy applies among the cron's own runs: a
run started through the API on the same thread is not seen by the schedule (the API's thread occupancy
check is in ``server.dispatch``, which a firing does not pass through).

Where things live: what never changes (tenant, creator, assistant, thread, creation time) is the schedule's
memo; what ``update`` may change (input, metadata, strategy) rides in the start-workflow action's memo, so
every started run also carries its cron in the Temporal UI.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from guards.types import Principal
from runtime.errors import NotFound, UserError
from runtime.runs import validate_input
from runtime.workflow import WORKFLOW_NAME, AgentRunInput

CRON_PREFIX = "cron-"
MEMO_KEY = "steward_cron"
OVERLAP: dict[str, ScheduleOverlapPolicy] = {
    "reject": ScheduleOverlapPolicy.SKIP,
    "enqueue": ScheduleOverlapPolicy.BUFFER_ALL,
    "interrupt": ScheduleOverlapPolicy.CANCEL_OTHER,
}
DEFAULT_STRATEGY = "reject"


@dataclass
class CronRecord:
    """One cron as Steward reads it back from its Temporal Schedule."""

    cron_id: str
    tenant: str
    user_id: str
    assistant_id: str
    thread_id: str | None
    schedule: str
    timezone: str | None
    end_time: float | None
    enabled: bool
    input: dict[str, Any]
    metadata: dict[str, Any]
    multitask_strategy: str
    on_run_completed: str | None
    created_at: float
    updated_at: float
    next_run_at: float | None = None
    recent_run_ids: list[str] = field(default_factory=list)
    """Workflow (= run) ids of the schedule's latest firings, newest last."""

    @property
    def overlap(self) -> str:
        return OVERLAP[self.multitask_strategy].name


def _strategy(value: str | None) -> str:
    chosen = value or DEFAULT_STRATEGY
    if chosen not in OVERLAP:
        raise UserError(
            f"multitask_strategy: {chosen!r} is not supported for crons; expected one of {sorted(OVERLAP)} "
            "('rollback' would delete runs, which Steward never does)"
        )
    return chosen


def _spec(schedule: str, timezone: str | None, end_time: float | None) -> ScheduleSpec:
    fields = schedule.split()
    if len(fields) not in (5, 6, 7) and not schedule.startswith("@"):
        raise UserError(f"schedule: {schedule!r} is not a cron expression (expected 5 fields, e.g. '*/5 * * * *')")
    end_at = datetime.fromtimestamp(end_time, UTC) if end_time is not None else None
    return ScheduleSpec(cron_expressions=[schedule], time_zone_name=timezone or "", end_at=end_at)


def _action(
    cron_id: str,
    task_queue: str,
    static: dict[str, Any],
    mutable: dict[str, Any],
    requester: dict[str, Any],
) -> ScheduleActionStartWorkflow:
    run_input = AgentRunInput(
        run_id="",  # the workflow takes Temporal's per-firing workflow id
        thread_id=static["thread_id"] or "",
        assistant_id=static["assistant_id"],
        input=mutable["input"],
        requester=requester,
        tenant=static["tenant"],
        inline_nodes=True,
        records_ride=True,
    )
    return ScheduleActionStartWorkflow(
        WORKFLOW_NAME,
        run_input,
        id=f"run-{cron_id}",
        task_queue=task_queue,
        memo={MEMO_KEY: {"cron_id": cron_id, **mutable}},
    )


def _rpc_to_user(exc: RPCError, what: str) -> Exception:
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return UserError(f"{what}: {exc.message}")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return NotFound(f"{what}: not found")
    return exc


async def create_cron(
    client: Client,
    task_queue: str,
    principal: Principal,
    assistant_id: str,
    schedule: str,
    *,
    input: dict[str, Any] | None = None,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    multitask_strategy: str | None = None,
    timezone: str | None = None,
    end_time: float | None = None,
    enabled: bool = True,
    on_run_completed: str | None = None,
) -> CronRecord:
    """Validate the input now (bad input costs nothing and names the field) and create the schedule."""
    spec = _spec(schedule, timezone, end_time)
    strategy = _strategy(multitask_strategy)
    data = validate_input(assistant_id, input if input is not None else {})
    cron_id = f"{CRON_PREFIX}{uuid.uuid4()}"
    now = time.time()
    static: dict[str, Any] = {
        "tenant": principal.tenant,
        "user_id": principal.id,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "created_at": now,
        "requester": principal.model_dump(),
    }
    mutable: dict[str, Any] = {
        "input": data,
        "metadata": metadata or {},
        "multitask_strategy": strategy,
        "on_run_completed": on_run_completed,
        "schedule": schedule,
        "timezone": timezone,
        "end_time": end_time,
        "updated_at": now,
    }
    sched = Schedule(
        action=_action(cron_id, task_queue, static, mutable, static["requester"]),
        spec=spec,
        policy=SchedulePolicy(overlap=OVERLAP[strategy]),
        state=ScheduleState(paused=not enabled, note=f"{assistant_id} cron by {principal.id}"),
    )
    try:
        await client.create_schedule(cron_id, sched, memo={MEMO_KEY: static})
    except RPCError as exc:
        raise _rpc_to_user(exc, "schedule") from None
    return await get_cron(client, cron_id, principal.tenant)


def _decode(client: Client, payload: Any) -> Any:
    return client.data_converter.payload_converter.from_payloads([payload])[0]


async def _record(client: Client, desc: ScheduleDescription) -> CronRecord:
    static = (await desc.memo()).get(MEMO_KEY) or {}
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    raw = (action.memo or {}).get(MEMO_KEY)
    mutable: dict[str, Any] = (_decode(client, raw) if raw is not None and not isinstance(raw, dict) else raw) or {}
    nxt = desc.info.next_action_times
    return CronRecord(
        cron_id=desc.id,
        tenant=static.get("tenant", ""),
        user_id=static.get("user_id", ""),
        assistant_id=static.get("assistant_id", ""),
        thread_id=static.get("thread_id"),
        schedule=mutable.get("schedule", ""),
        timezone=mutable.get("timezone"),
        end_time=mutable.get("end_time"),
        enabled=not desc.schedule.state.paused,
        input=mutable.get("input") or {},
        metadata=mutable.get("metadata") or {},
        multitask_strategy=mutable.get("multitask_strategy", DEFAULT_STRATEGY),
        on_run_completed=mutable.get("on_run_completed"),
        created_at=static.get("created_at", 0.0),
        updated_at=mutable.get("updated_at", 0.0),
        next_run_at=nxt[0].timestamp() if nxt else None,
        recent_run_ids=[a.action.workflow_id for a in desc.info.recent_actions if hasattr(a.action, "workflow_id")],
    )


async def _describe(client: Client, cron_id: str, tenant: str) -> tuple[ScheduleHandle, CronRecord]:
    """The cron's handle and record; another tenant's cron (or any non-cron schedule) is not found."""
    if not cron_id.startswith(CRON_PREFIX):
        raise NotFound(f"cron {cron_id!r} not found")
    handle = client.get_schedule_handle(cron_id)
    try:
        record = await _record(client, await handle.describe())
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"cron {cron_id!r} not found") from None
        raise
    if record.tenant != tenant:
        raise NotFound(f"cron {cron_id!r} not found")
    return handle, record


async def get_cron(client: Client, cron_id: str, tenant: str) -> CronRecord:
    return (await _describe(client, cron_id, tenant))[1]


async def list_crons(client: Client, tenant: str) -> list[CronRecord]:
    """This tenant's crons, oldest first.

    Temporal's schedule list is eventually consistent (a new schedule appears within about a second), so
    ids come from the list and each record from ``describe``, which is exact; a schedule deleted meanwhile is
    skipped."""
    found: list[CronRecord] = []
    async for entry in await client.list_schedules():
        if not entry.id.startswith(CRON_PREFIX):
            continue
        try:
            found.append((await _describe(client, entry.id, tenant))[1])
        except NotFound:
            continue
    return sorted(found, key=lambda c: (c.created_at, c.cron_id))


async def delete_cron(client: Client, cron_id: str, tenant: str) -> None:
    """Delete the schedule; runs it already started carry on."""
    handle, _ = await _describe(client, cron_id, tenant)
    await handle.delete()


async def trigger_cron(client: Client, cron_id: str, tenant: str) -> None:
    """Fire now, under the cron's overlap policy (Temporal's trigger)."""
    handle, _ = await _describe(client, cron_id, tenant)
    await handle.trigger()


async def update_cron(
    client: Client,
    cron_id: str,
    tenant: str,
    *,
    schedule: str | None = None,
    timezone: str | None = None,
    end_time: float | None = None,
    clear_end_time: bool = False,
    input: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    enabled: bool | None = None,
    on_run_completed: str | None = None,
) -> CronRecord:
    """Change the schedule, its input, metadata or enabled state (Temporal's schedule update, atomic)."""
    handle, current = await _describe(client, cron_id, tenant)
    data = validate_input(current.assistant_id, input) if input is not None else current.input
    mutable: dict[str, Any] = {
        "input": data,
        "metadata": {**current.metadata, **(metadata or {})},
        "multitask_strategy": current.multitask_strategy,
        "on_run_completed": on_run_completed or current.on_run_completed,
        "schedule": schedule or current.schedule,
        "timezone": timezone if timezone is not None else current.timezone,
        "end_time": None if clear_end_time else (end_time if end_time is not None else current.end_time),
        "updated_at": time.time(),
    }
    spec = _spec(mutable["schedule"], mutable["timezone"], mutable["end_time"])
    desc = await handle.describe()
    static = (await desc.memo()).get(MEMO_KEY) or {}
    action = _action(cron_id, desc.schedule.action.task_queue, static, mutable, static.get("requester") or {})  # type: ignore[attr-defined]

    def updater(inp: ScheduleUpdateInput) -> ScheduleUpdate:
        sched = inp.description.schedule
        sched.action, sched.spec = action, spec
        if enabled is not None:
            sched.state.paused = not enabled
        return ScheduleUpdate(schedule=sched)

    try:
        await handle.update(updater)
    except RPCError as exc:
        raise _rpc_to_user(exc, "schedule") from None
    return await get_cron(client, cron_id, tenant)
