"""Runs: create (background, wait, stream), list, get, join, join the stream, cancel; stateless ``/runs``.

A body with ``command.resume`` resumes the thread's waiting run: the value becomes decisions on its pending
approvals (``server.dispatch``). The Agent Server would answer with a new run; Steward's run is one durable
workflow that waited, so the response is that same run, and a resume stream continues its event log from
the decision on.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from guards.types import Principal, has_role
from runtime.errors import Conflict, Forbidden, NotFound, UserError
from runtime.store import TERMINAL_STATUSES, Store
from server.aio import db
from server.deps import DispatcherDep, OperatorDep, PrincipalDep, StoreDep
from server.dispatch import RunDispatcher, check_supported
from server.schemas import RunCreate, RunPublic, RunsCancel, RunStatus
from server.streaming import (
    Cursor,
    check_cursor,
    encode,
    final_values,
    normalize_modes,
    parse_last_event_id,
    run_frames,
)
from server.views import load_run, load_thread, run_public

router = APIRouter(prefix="/threads", tags=["runs"])
stateless = APIRouter(prefix="/runs", tags=["runs"])
routers = [router, stateless]

_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-sent events (see server.streaming)."}
}


async def _begin(
    principal: Principal, store: Store, dispatcher: RunDispatcher, body: RunCreate, thread_id: str | None
) -> tuple[dict[str, Any], Cursor]:
    """Start, queue or resume; returns the run and where its stream starts."""
    check_supported(body)
    if body.command is not None:
        if thread_id is None:
            raise UserError("command: a resume needs a thread; use POST /threads/{thread_id}/runs...")
        await db(load_thread, store, principal, thread_id)
        run, after = await dispatcher.resume(principal, thread_id, body.command.resume)
        return run, Cursor(after=after)
    if not has_role(principal, "operator"):
        raise Forbidden(
            f"principal {principal.id!r} lacks role 'operator' needed to start runs (has {sorted(principal.roles)})"
        )
    if thread_id is not None:
        thread = await db(store.get_thread, thread_id)
        if thread is None and body.if_not_exists == "create":
            await db(store.create_thread, thread_id, principal.tenant)
        elif thread is None or thread["tenant"] != principal.tenant:
            raise NotFound(f"thread {thread_id!r} not found (if_not_exists='create' creates it)")
    return await dispatcher.submit(principal, body, thread_id), Cursor()


def _publics(store: Store, runs_: list[dict[str, Any]], temporal_ui: str | None) -> list[RunPublic]:
    """Public views of several runs in one worker-thread hop (each reads the run's open interrupts)."""
    return [run_public(store, r, temporal_ui) for r in runs_]


def _location(run: dict[str, Any]) -> str:
    return f"/threads/{run['thread_id']}/runs/{run['run_id']}"


def _sse(
    request: Request,
    store: Store,
    dispatcher: RunDispatcher,
    run: dict[str, Any],
    modes: tuple[str, ...],
    cursor: Cursor,
    *,
    fresh: bool,
    follow: bool,
    cancel_on_disconnect: bool,
) -> EventSourceResponse:
    opts = request.app.state.stream
    background: set[asyncio.Task[Any]] = request.app.state.background

    async def events() -> Any:
        finished = False
        try:
            async for frame in run_frames(
                store, run, modes, cursor, follow=follow, send_metadata=fresh, poll_s=opts.poll_s
            ):
                yield encode(frame)
            finished = True
        finally:
            if cancel_on_disconnect and not finished:
                task = asyncio.get_running_loop().create_task(_cancel_quietly(dispatcher, run["run_id"]))
                background.add(task)
                task.add_done_callback(background.discard)

    query = urlencode([("stream_mode", m) for m in modes])
    headers = {
        "Location": f"{_location(run)}/stream?{query}",  # where langgraph-sdk reconnects, with Last-Event-ID
        "Content-Location": _location(run),
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    return EventSourceResponse(events(), ping=opts.ping_s, send_timeout=opts.send_timeout_s, headers=headers)


async def _unless_disconnected(request: Request, work: Any) -> Any:
    """Run ``work`` (a wait for a run) but give up when the client hangs up: a queued run can wait for hours."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if not done and await request.is_disconnected():
                task.cancel()
                raise UserError("client disconnected")
        return task.result()
    finally:
        if not task.done():
            task.cancel()


async def _cancel_quietly(dispatcher: RunDispatcher, run_id: str) -> None:
    run = await db(dispatcher.store.get_run, run_id)
    if run is not None:
        try:
            await dispatcher.cancel(run)
        except Exception:  # noqa: BLE001 - best effort: the client is gone; the run may have ended meanwhile
            pass


# -- create ----------------------------------------------------------------------------------------
async def _create_background(
    principal: Principal,
    store: Store,
    dispatcher: RunDispatcher,
    request: Request,
    body: RunCreate,
    thread_id: str | None,
) -> JSONResponse:
    run, _ = await _begin(principal, store, dispatcher, body, thread_id)
    public = await db(run_public, store, run, request.app.state.temporal_ui)
    return JSONResponse(public.model_dump(mode="json"), headers={"Content-Location": _location(run)})


async def _create_wait(
    principal: Principal,
    store: Store,
    dispatcher: RunDispatcher,
    request: Request,
    body: RunCreate,
    thread_id: str | None,
) -> JSONResponse:
    run, cursor = await _begin(principal, store, dispatcher, body, thread_id)
    values = await _unless_disconnected(
        request, final_values(store, run, cursor, poll_s=request.app.state.stream.poll_s)
    )
    return JSONResponse(values, headers={"Content-Location": _location(run)})


async def _create_stream(
    principal: Principal,
    store: Store,
    dispatcher: RunDispatcher,
    request: Request,
    body: RunCreate,
    thread_id: str | None,
) -> EventSourceResponse:
    modes = normalize_modes(body.stream_mode)
    run, cursor = await _begin(principal, store, dispatcher, body, thread_id)
    return _sse(
        request,
        store,
        dispatcher,
        run,
        modes,
        cursor,
        fresh=True,
        follow=False,
        cancel_on_disconnect=body.on_disconnect == "cancel",
    )


@router.post("/{thread_id}/runs", response_model=RunPublic)
async def create_run(
    thread_id: str,
    body: RunCreate,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
) -> JSONResponse:
    """Start a run in the background (or queue it, or resume the waiting one with ``command.resume``)."""
    return await _create_background(principal, store, dispatcher, request, body, thread_id)


@router.post("/{thread_id}/runs/wait", response_model=dict[str, Any])
async def create_run_wait(
    thread_id: str,
    body: RunCreate,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
) -> JSONResponse:
    """Start (or resume) and wait: the final values, values with ``__interrupt__`` when it waits for people,
    or ``{"__error__": ...}`` when it failed."""
    return await _create_wait(principal, store, dispatcher, request, body, thread_id)


@router.post("/{thread_id}/runs/stream", response_class=EventSourceResponse, responses=_SSE)
async def create_run_stream(
    thread_id: str,
    body: RunCreate,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
) -> EventSourceResponse:
    """Start (or resume) and stream it. ``Location`` is where to rejoin with ``Last-Event-ID``."""
    return await _create_stream(principal, store, dispatcher, request, body, thread_id)


@stateless.post("", response_model=RunPublic)
async def create_stateless_run(
    body: RunCreate, principal: PrincipalDep, store: StoreDep, dispatcher: DispatcherDep, request: Request
) -> JSONResponse:
    """A run on a new thread of its own."""
    return await _create_background(principal, store, dispatcher, request, body, None)


@stateless.post("/wait", response_model=dict[str, Any])
async def create_stateless_run_wait(
    body: RunCreate, principal: PrincipalDep, store: StoreDep, dispatcher: DispatcherDep, request: Request
) -> JSONResponse:
    return await _create_wait(principal, store, dispatcher, request, body, None)


@stateless.post("/stream", response_class=EventSourceResponse, responses=_SSE)
async def create_stateless_run_stream(
    body: RunCreate, principal: PrincipalDep, store: StoreDep, dispatcher: DispatcherDep, request: Request
) -> EventSourceResponse:
    return await _create_stream(principal, store, dispatcher, request, body, None)


# -- read, join, cancel ------------------------------------------------------------------------------
@router.get("/{thread_id}/runs", response_model=list[RunPublic])
async def list_runs(
    thread_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: RunStatus | None = None,
    select: Annotated[list[str] | None, Query()] = None,
) -> list[RunPublic]:
    """Newest first."""
    await db(load_thread, store, principal, thread_id)
    runs_ = await db(store.list_runs, thread_id, limit=10_000)
    found = await db(_publics, store, runs_, request.app.state.temporal_ui)
    found = [r for r in found if status is None or r.status == status]
    return found[offset : offset + limit]


@router.get("/{thread_id}/runs/{run_id}", response_model=RunPublic)
async def get_run(thread_id: str, run_id: str, principal: PrincipalDep, store: StoreDep, request: Request) -> RunPublic:
    run = await db(load_run, store, principal, run_id, thread_id)
    return await db(run_public, store, run, request.app.state.temporal_ui)


@router.get("/{thread_id}/runs/{run_id}/join", response_model=dict[str, Any])
async def join_run(
    thread_id: str, run_id: str, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    """Wait for the run to finish (or to wait for people) and return its values, as ``/runs/wait`` does."""
    run = await db(load_run, store, principal, run_id, thread_id)
    return await _unless_disconnected(request, final_values(store, run, poll_s=request.app.state.stream.poll_s))


@router.get("/{thread_id}/runs/{run_id}/stream", response_class=EventSourceResponse, responses=_SSE)
async def join_run_stream(
    thread_id: str,
    run_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    follow: Annotated[bool, Query(description="Keep streaming across approvals until the run finishes.")] = False,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> EventSourceResponse:
    """Join a run's stream from the start, or from ``Last-Event-ID`` (nothing lost, nothing twice)."""
    run = await db(load_run, store, principal, run_id, thread_id)
    modes = normalize_modes(stream_mode)
    cursor = parse_last_event_id(last_event_id)
    await db(check_cursor, store, run_id, cursor)
    return _sse(
        request,
        store,
        dispatcher,
        run,
        modes,
        cursor or Cursor(),
        fresh=cursor is None,
        follow=follow,
        cancel_on_disconnect=cancel_on_disconnect,
    )


@stateless.get("/{run_id}/stream", response_class=EventSourceResponse, responses=_SSE)
async def join_run_stream_by_id(
    run_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> EventSourceResponse:
    """Join a run's stream by its id alone: the JavaScript SDK's ``runs.joinStream(null, runId)``."""
    run = await db(load_run, store, principal, run_id)
    return await join_run_stream(
        run["thread_id"],
        run_id,
        principal,
        store,
        dispatcher,
        request,
        stream_mode,
        follow=False,
        cancel_on_disconnect=cancel_on_disconnect,
        last_event_id=last_event_id,
    )


@router.delete("/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: str, run_id: str, principal: OperatorDep, store: StoreDep) -> None:
    """Refused with 409: a run is part of the audit trail (its events, decisions and audit records point at
    it), so Steward never deletes one. Delete the thread to forget its state."""
    run = await db(load_run, store, principal, run_id, thread_id)
    raise Conflict(
        f"run {run['run_id']!r} cannot be deleted: runs are kept as the audit record of what was done; "
        "DELETE /threads/{thread_id} forgets the thread's state"
    )


_THREAD_STREAM_MODES = {"run_modes", "lifecycle", "state_update"}


@router.get("/{thread_id}/stream", response_class=EventSourceResponse, responses=_SSE)
async def join_thread_stream(
    thread_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> EventSourceResponse:
    """Join the thread's stream: its run in progress, else its latest run (``threads.join_stream``).

    The thread-level modes ``run_modes`` / ``lifecycle`` / ``state_update`` (the SDK's default is
    ``run_modes``) stream the run's ``values``; run stream modes may be named directly. A thread without runs
    answers 404, since there is nothing to join."""
    await db(load_thread, store, principal, thread_id)
    runs_ = await db(store.list_runs, thread_id, limit=50)
    if not runs_:
        raise NotFound(f"thread {thread_id!r} has no runs to stream")
    run = next((r for r in runs_ if r["status"] not in TERMINAL_STATUSES), runs_[0])
    modes = normalize_modes([m for m in stream_mode or [] if m not in _THREAD_STREAM_MODES])
    cursor = parse_last_event_id(last_event_id)
    await db(check_cursor, store, run["run_id"], cursor)
    return _sse(
        request,
        store,
        dispatcher,
        run,
        modes,
        cursor or Cursor(),
        fresh=cursor is None,
        follow=False,
        cancel_on_disconnect=False,
    )


@stateless.post("/batch", response_model=list[RunPublic])
async def create_run_batch(
    body: list[RunCreate], principal: PrincipalDep, store: StoreDep, dispatcher: DispatcherDep, request: Request
) -> list[RunPublic]:
    """Several stateless runs, each on a new thread of its own (``runs.create_batch``)."""
    if len(body) > 100:
        raise UserError(f"body: at most 100 runs per batch, got {len(body)}")
    started = [await _begin(principal, store, dispatcher, item, None) for item in body]
    return await db(_publics, store, [run for run, _ in started], request.app.state.temporal_ui)


@stateless.post("/cancel", status_code=204)
async def cancel_runs(
    body: RunsCancel,
    principal: OperatorDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> None:
    """Cancel many runs: those of ``thread_id``, those in ``run_ids``, or (with ``status``) every pending or
    running run of this tenant. Runs that already finished are left alone."""
    if action == "rollback":
        raise UserError("action: 'rollback' is not supported (runs are never deleted); use 'interrupt'")
    if body.thread_id is None and body.run_ids is None and body.status is None:
        raise UserError("body: give thread_id, run_ids or status to say which runs to cancel")
    if body.run_ids is not None:
        chosen = [await db(load_run, store, principal, rid, body.thread_id) for rid in body.run_ids]
    elif body.thread_id is not None:
        await db(load_thread, store, principal, body.thread_id)
        chosen = await db(store.list_runs, body.thread_id, limit=10_000)
    else:
        chosen = [r for r in await db(store.list_runs, limit=10_000) if r["tenant"] == principal.tenant]
    wanted: set[str] = {"pending", "running", "interrupted"} if body.status in (None, "all") else {body.status}
    if body.status == "running":
        wanted.add("interrupted")
    for run in chosen:
        if run["status"] in wanted:
            try:
                await dispatcher.cancel(run)
            except Conflict:
                pass  # it finished meanwhile: nothing left to cancel


@router.post("/{thread_id}/runs/{run_id}/cancel", response_model=RunPublic)
async def cancel_run(
    thread_id: str,
    run_id: str,
    principal: OperatorDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    request: Request,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> RunPublic:
    """Cancel a queued or running run (``wait=1``: until it has stopped). ``rollback`` is not supported."""
    if action == "rollback":
        raise UserError("action: 'rollback' is not supported (runs are never deleted); use 'interrupt'")
    run = await db(load_run, store, principal, run_id, thread_id)
    cancelled = await dispatcher.cancel(run, wait=wait)
    return await db(run_public, store, cancelled, request.app.state.temporal_ui)
