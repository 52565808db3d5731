"""Crons: scheduled runs (``/runs/crons``, ``/threads/{id}/runs/crons``), each a Temporal Schedule.

The mechanics (schedule, overlap policy, how a firing becomes an ordinary run) live in ``runtime.crons``;
this module is the Agent Server's HTTP shape around them, tenant-scoped like every other resource.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from runtime import crons
from runtime.errors import UserError
from server.aio import db
from server.deps import ClientDep, OperatorDep, PrincipalDep, SettingsDep, StoreDep
from server.schemas import CronCount, CronCreate, CronPublic, CronSearch, CronUpdate
from server.views import load_thread, ts

router = APIRouter(prefix="/runs/crons", tags=["crons"])
thread_router = APIRouter(prefix="/threads", tags=["crons"])
routers = [router, thread_router]

_UNSUPPORTED: dict[str, str] = {
    "interrupt_before": "breakpoints are not supported; approvals come from the policy",
    "interrupt_after": "breakpoints are not supported; approvals come from the policy",
    "webhook": "webhooks are not supported; each run is in /threads/{thread_id}/runs and the Temporal UI",
    "config": "run config is not supported; an assistant's configuration is declared in the project file",
    "context": "run context is set by Steward (run, thread, tenant); it cannot be given",
    "checkpoint_during": "Temporal records every step; there is nothing to configure",
    "stream_subgraphs": "subgraph streaming is not supported",
}


def _check_supported(body: CronCreate | CronUpdate) -> None:
    for name, why in _UNSUPPORTED.items():
        if getattr(body, name, None) not in (None, False, [], {}):
            raise UserError(f"{name}: {why}")
    if body.on_run_completed == "delete":
        raise UserError("on_run_completed: 'delete' is not supported (runs are kept as the record); use 'keep'")


def _public(c: crons.CronRecord, temporal_ui: str | None) -> CronPublic:
    return CronPublic(
        cron_id=c.cron_id,
        assistant_id=c.assistant_id,
        thread_id=c.thread_id,
        on_run_completed=c.on_run_completed,
        end_time=ts(c.end_time),
        schedule=c.schedule,
        timezone=c.timezone,
        created_at=ts(c.created_at),
        updated_at=ts(c.updated_at),
        payload={"assistant_id": c.assistant_id, "input": c.input, "multitask_strategy": c.multitask_strategy},
        user_id=c.user_id,
        next_run_date=ts(c.next_run_at),
        metadata=c.metadata,
        enabled=c.enabled,
        overlap_policy=c.overlap,
        recent_run_ids=c.recent_run_ids,
        temporal_url=f"{temporal_ui}/schedules/{c.cron_id}" if temporal_ui else None,
    )


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


async def _create(
    body: CronCreate, thread_id: str | None, principal: Any, client: Any, settings: Any, request: Request
) -> CronPublic:
    _check_supported(body)
    record = await crons.create_cron(
        client,
        settings.task_queue,
        principal,
        body.assistant_id,
        body.schedule,
        input=body.input,
        thread_id=thread_id,
        metadata=body.metadata,
        multitask_strategy=body.multitask_strategy,
        timezone=body.timezone,
        end_time=_epoch(body.end_time),
        enabled=body.enabled is not False,
        on_run_completed=body.on_run_completed,
    )
    return _public(record, request.app.state.temporal_ui)


@router.post("", response_model=CronPublic)
async def create_cron(
    body: CronCreate, principal: OperatorDep, client: ClientDep, settings: SettingsDep, request: Request
) -> CronPublic:
    """A cron whose every run starts on a new thread."""
    return await _create(body, None, principal, client, settings, request)


@thread_router.post("/{thread_id}/runs/crons", response_model=CronPublic)
async def create_thread_cron(
    thread_id: str,
    body: CronCreate,
    principal: OperatorDep,
    store: StoreDep,
    client: ClientDep,
    settings: SettingsDep,
    request: Request,
) -> CronPublic:
    """A cron whose runs continue one thread (its state carries from run to run)."""
    await db(load_thread, store, principal, thread_id)
    return await _create(body, thread_id, principal, client, settings, request)


async def _matching(
    client: Any, tenant: str, assistant_id: str | None, thread_id: str | None, metadata: dict[str, Any] | None
) -> list[crons.CronRecord]:
    return [
        c
        for c in await crons.list_crons(client, tenant)
        if (assistant_id is None or c.assistant_id == assistant_id)
        and (thread_id is None or c.thread_id == thread_id)
        and all(c.metadata.get(k) == v for k, v in (metadata or {}).items())
    ]


@router.post("/search", response_model=list[CronPublic])
async def search_crons(
    body: CronSearch, principal: PrincipalDep, client: ClientDep, request: Request
) -> list[CronPublic]:
    found = await _matching(client, principal.tenant, body.assistant_id, body.thread_id, body.metadata)
    found = [c for c in found if body.enabled is None or c.enabled == body.enabled]
    key = body.sort_by or "created_at"
    attr = "next_run_at" if key == "next_run_date" else key
    found.sort(key=lambda c: (getattr(c, attr) is None, getattr(c, attr) or 0), reverse=body.sort_order == "desc")
    return [_public(c, request.app.state.temporal_ui) for c in found[body.offset : body.offset + body.limit]]


@router.post("/count", response_model=int)
async def count_crons(body: CronCount, principal: PrincipalDep, client: ClientDep) -> int:
    return len(await _matching(client, principal.tenant, body.assistant_id, body.thread_id, body.metadata))


@router.patch("/{cron_id}", response_model=CronPublic)
async def update_cron(
    cron_id: str, body: CronUpdate, principal: OperatorDep, client: ClientDep, request: Request
) -> CronPublic:
    """Change schedule, time zone, end time (``null`` clears it), input, metadata or enabled."""
    _check_supported(body)
    record = await crons.update_cron(
        client,
        cron_id,
        principal.tenant,
        schedule=body.schedule,
        timezone=body.timezone,
        end_time=_epoch(body.end_time),
        clear_end_time="end_time" in body.model_fields_set and body.end_time is None,
        input=body.input,
        metadata=body.metadata,
        enabled=body.enabled,
        on_run_completed=body.on_run_completed,
    )
    return _public(record, request.app.state.temporal_ui)


@router.delete("/{cron_id}", status_code=204)
async def delete_cron(cron_id: str, principal: OperatorDep, client: ClientDep) -> Response:
    """Delete the schedule; runs it already started carry on."""
    await crons.delete_cron(client, cron_id, principal.tenant)
    return Response(status_code=204)
