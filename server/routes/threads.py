"""Threads: a conversation's state across runs (create, get, update, delete, copy, prune, count, search,
state, history), tenant-scoped.

Steward keeps one saved state per thread: the values the last successful run (or a state update) wrote.
Its checkpoint id is the id of that run (Temporal's history is the durable checkpoint of each run), so
``get_history`` returns that one checkpoint, and asking for any other checkpoint is a 404 that names the
current one rather than a state Steward does not have.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict

from guards.types import Principal
from runtime.errors import Conflict, NotFound, UserError
from runtime.store import TERMINAL_STATUSES, Store
from runtime.workflow import _merge_into_thread
from server.aio import db
from server.deps import OperatorDep, PrincipalDep, StoreDep
from server.schemas import (
    Checkpoint,
    ThreadCount,
    ThreadCreate,
    ThreadHistorySearch,
    ThreadPrune,
    ThreadPruned,
    ThreadPublic,
    ThreadSearch,
    ThreadStateAt,
    ThreadStatePublic,
    ThreadStateUpdate,
    ThreadStateUpdated,
    ThreadTask,
    ThreadUpdate,
)
from server.views import load_thread, thread_public, thread_status, ts

router = APIRouter(prefix="/threads", tags=["threads"])


def _matches(t: dict[str, Any], metadata: dict[str, Any] | None, values: dict[str, Any] | None) -> bool:
    return all(t["metadata"].get(k) == v for k, v in (metadata or {}).items()) and all(
        t["state"].get(k) == v for k, v in (values or {}).items()
    )


def _state(store: Store, thread: dict[str, Any]) -> ThreadStatePublic:
    """The thread's saved values; a waiting run shows as a ``tools`` task with its interrupts."""
    thread_id = thread["thread_id"]
    status, interrupts = thread_status(store, thread_id)
    tasks = [ThreadTask(id=run_id, name="tools", interrupts=items) for run_id, items in interrupts.items()]
    return ThreadStatePublic(
        values=thread["state"],
        next=["tools"] if tasks else [],
        checkpoint=Checkpoint(thread_id=thread_id, checkpoint_id=thread.get("last_run_id")),
        metadata={"status": status, **({"source": "update"} if _is_update(thread) else {})},
        created_at=ts(thread["updated_at"]),
        tasks=tasks,
        interrupts=[i for items in interrupts.values() for i in items],
    )


def _is_update(thread: dict[str, Any]) -> bool:
    return str(thread.get("last_run_id") or "").startswith("state-")


def _at_checkpoint(store: Store, thread: dict[str, Any], checkpoint_id: str | None) -> ThreadStatePublic:
    current = thread.get("last_run_id")
    if checkpoint_id and checkpoint_id != current:
        raise NotFound(
            f"checkpoint {checkpoint_id!r} not found in thread {thread['thread_id']!r}; Steward keeps the latest "
            f"state only (checkpoint {current!r}); each run's steps are in its Temporal history"
        )
    return _state(store, thread)


def _active(store: Store, thread_id: str) -> list[dict[str, Any]]:
    return [r for r in store.list_runs(thread_id, limit=100) if r["status"] not in TERMINAL_STATUSES]


@router.post("", response_model=ThreadPublic)
async def create_thread(body: ThreadCreate, principal: OperatorDep, store: StoreDep) -> ThreadPublic:
    """Create a thread (``if_exists``: ``raise`` -> 409, ``do_nothing`` -> the existing one)."""
    if body.supersteps:
        raise UserError("supersteps: threads cannot be pre-filled with supersteps; start a run with its input")
    if body.ttl is not None:
        raise UserError("ttl: thread expiry is not supported; delete or prune threads instead")
    thread_id = body.thread_id or f"thread-{uuid.uuid4()}"
    existing = await db(store.get_thread, thread_id)
    if existing is not None:
        if existing["tenant"] != principal.tenant or body.if_exists != "do_nothing":
            raise Conflict(f"thread {thread_id!r} already exists")
        return await db(thread_public, store, existing)
    metadata = dict(body.metadata or {})
    if body.graph_id:
        metadata.setdefault("graph_id", body.graph_id)
    created = await db(store.create_thread, thread_id, principal.tenant, metadata)
    return await db(thread_public, store, created)


@router.post("/search", response_model=list[ThreadPublic])
async def search_threads(body: ThreadSearch, principal: PrincipalDep, store: StoreDep) -> list[ThreadPublic]:
    """This tenant's threads, newest first, filtered by ids, metadata, values and status."""
    return await db(_search, store, principal.tenant, body)


def _search(store: Store, tenant: str, body: ThreadSearch) -> list[ThreadPublic]:
    matches = [
        t
        for t in store.list_threads(tenant, limit=10_000)
        if (body.ids is None or t["thread_id"] in body.ids) and _matches(t, body.metadata, body.values)
    ]
    if body.sort_order == "asc":
        matches.reverse()
    if body.status is None:  # status needs each thread's runs: compute it only for the page returned
        return [thread_public(store, t) for t in matches[body.offset : body.offset + body.limit]]
    found: list[ThreadPublic] = []
    for t in matches:
        public = thread_public(store, t)
        if public.status == body.status:
            found.append(public)
            if len(found) >= body.offset + body.limit:
                break
    return found[body.offset :]


@router.post("/count", response_model=int)
async def count_threads(body: ThreadCount, principal: PrincipalDep, store: StoreDep) -> int:
    """How many of this tenant's threads match (same filters as search)."""
    return await db(_count, store, principal.tenant, body)


def _count(store: Store, tenant: str, body: ThreadCount) -> int:
    matches = [t for t in store.list_threads(tenant, limit=100_000) if _matches(t, body.metadata, body.values)]
    if body.status is not None:
        matches = [t for t in matches if thread_status(store, t["thread_id"])[0] == body.status]
    return len(matches)


@router.post("/prune", response_model=ThreadPruned)
async def prune_threads(body: ThreadPrune, principal: OperatorDep, store: StoreDep) -> ThreadPruned:
    """``delete``: forget the threads (busy ones are refused); ``keep_latest``: nothing to prune, Steward keeps
    only the latest state of a thread already. Runs, events and audit records are never pruned."""
    return await db(_prune, store, principal, body)


def _prune(store: Store, principal: Principal, body: ThreadPrune) -> ThreadPruned:
    threads = [load_thread(store, principal, tid) for tid in body.thread_ids]
    if body.strategy == "keep_latest":
        return ThreadPruned(pruned_count=0)
    busy = [t["thread_id"] for t in threads if _active(store, t["thread_id"])]
    if busy:
        raise Conflict(f"thread_ids: {busy} have runs in progress; cancel them first")
    return ThreadPruned(pruned_count=sum(store.delete_thread(t["thread_id"]) for t in threads))


@router.get("/{thread_id}", response_model=ThreadPublic)
async def get_thread(thread_id: str, principal: PrincipalDep, store: StoreDep) -> ThreadPublic:
    thread = await db(load_thread, store, principal, thread_id)
    return await db(thread_public, store, thread)


@router.patch("/{thread_id}", response_model=ThreadPublic, responses={204: {"description": "Prefer: return=minimal"}})
async def update_thread(
    thread_id: str,
    body: ThreadUpdate,
    principal: OperatorDep,
    store: StoreDep,
    prefer: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Merge metadata into the thread. ``ttl`` is refused: threads are kept until deleted."""
    if body.ttl is not None:
        raise UserError("ttl: thread expiry is not supported; delete or prune threads instead")
    await db(load_thread, store, principal, thread_id)
    await db(store.update_thread_metadata, thread_id, body.metadata)
    if prefer and "return=minimal" in prefer:
        return Response(status_code=204)
    thread = await db(load_thread, store, principal, thread_id)
    return await db(thread_public, store, thread)


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, principal: OperatorDep, store: StoreDep) -> Response:
    """Forget the thread's state and metadata; its runs' events and audit records stay."""
    await db(load_thread, store, principal, thread_id)
    busy = await db(_active, store, thread_id)
    if busy:
        raise Conflict(f"thread {thread_id!r} has a run in progress ({busy[0]['run_id']}); cancel it first")
    await db(store.delete_thread, thread_id)
    return Response(status_code=204)


@router.post("/{thread_id}/copy", response_model=ThreadPublic)
async def copy_thread(thread_id: str, principal: OperatorDep, store: StoreDep) -> ThreadPublic:
    """A new thread with this one's metadata and saved state (runs are not copied: they happened once)."""
    source = await db(load_thread, store, principal, thread_id)
    copy_id = f"thread-{uuid.uuid4()}"
    await db(store.create_thread, copy_id, principal.tenant, {**source["metadata"], "copied_from": thread_id})
    if source.get("last_run_id"):
        await db(store.save_thread_state, copy_id, principal.tenant, source["state"], source["last_run_id"])
    copy = await db(load_thread, store, principal, copy_id)
    return await db(thread_public, store, copy)


@router.get("/{thread_id}/state", response_model=ThreadStatePublic)
async def get_thread_state(
    thread_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    subgraphs: bool = False,
    select: Annotated[list[str] | None, Query()] = None,
) -> ThreadStatePublic:
    """Values saved by the last successful run; a waiting run shows as a ``tools`` task with its interrupts.

    The checkpoint id is the id of the run that saved the values (Temporal's history is the checkpoint).
    """
    thread = await db(load_thread, store, principal, thread_id)
    return await db(_state, store, thread)


@router.post("/{thread_id}/state", response_model=ThreadStateUpdated)
async def update_thread_state(
    thread_id: str, body: ThreadStateUpdate, principal: OperatorDep, store: StoreDep
) -> ThreadStateUpdated:
    """Merge values into the thread's state as a run's input is merged (list values append), while no run is
    in progress; recorded in the audit log. ``as_node`` is refused: there is no graph step to attribute it to."""
    thread = await db(load_thread, store, principal, thread_id)
    if body.as_node is not None:
        raise UserError("as_node: state updates are not attributed to a node in Steward; leave it out")
    wanted = body.checkpoint_id or (body.checkpoint or {}).get("checkpoint_id")
    await db(_at_checkpoint, store, thread, wanted)
    busy = await db(_active, store, thread_id)
    if busy:
        raise Conflict(f"thread {thread_id!r} has a run in progress ({busy[0]['run_id']}); update it afterwards")
    updates = body.values if isinstance(body.values, list) else [body.values or {}]
    state = dict(thread["state"])
    for update in updates:
        state = _merge_into_thread(state, update)
    checkpoint_id = f"state-{uuid.uuid4()}"
    await db(store.save_thread_state, thread_id, principal.tenant, state, checkpoint_id)
    await db(
        store.append_audit,
        principal.tenant,
        principal.id,
        "thread.state_updated",
        {"thread_id": thread_id, "keys": sorted({k for u in updates for k in u}), "checkpoint_id": checkpoint_id},
    )
    return ThreadStateUpdated(checkpoint=Checkpoint(thread_id=thread_id, checkpoint_id=checkpoint_id))


class ThreadStatePatch(BaseModel):
    """``PATCH /threads/{id}/state``: the JavaScript SDK's ``threads.patchState(threadId, metadata)``."""

    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, Any]


@router.patch("/{thread_id}/state", status_code=204)
async def patch_thread_state(
    thread_id: str, body: ThreadStatePatch, principal: OperatorDep, store: StoreDep
) -> Response:
    """Merge metadata into the thread's latest checkpoint's. Steward keeps one checkpoint per thread (see the
    module docstring), so that metadata is the thread's own: ``GET /threads/{id}`` shows the patch."""
    await db(load_thread, store, principal, thread_id)
    await db(store.update_thread_metadata, thread_id, body.metadata)
    return Response(status_code=204)


@router.post("/{thread_id}/state/checkpoint", response_model=ThreadStatePublic)
async def get_thread_state_at(
    thread_id: str, body: ThreadStateAt, principal: PrincipalDep, store: StoreDep
) -> ThreadStatePublic:
    thread = await db(load_thread, store, principal, thread_id)
    return await db(_at_checkpoint, store, thread, body.checkpoint.get("checkpoint_id"))


@router.get("/{thread_id}/state/{checkpoint_id}", response_model=ThreadStatePublic)
async def get_thread_state_by_id(
    thread_id: str, checkpoint_id: str, principal: PrincipalDep, store: StoreDep, subgraphs: bool = False
) -> ThreadStatePublic:
    thread = await db(load_thread, store, principal, thread_id)
    return await db(_at_checkpoint, store, thread, checkpoint_id)


def _history(
    store: Store, thread: dict[str, Any], limit: int, before: Any, metadata: dict[str, Any] | None
) -> list[ThreadStatePublic]:
    state = _state(store, thread)
    before_id = before.get("checkpoint_id") if isinstance(before, dict) else before
    if before_id or limit < 1 or any(state.metadata.get(k) != v for k, v in (metadata or {}).items()):
        return []  # nothing is older than the one state Steward keeps
    return [state]


@router.post("/{thread_id}/history", response_model=list[ThreadStatePublic])
async def get_thread_history(
    thread_id: str, body: ThreadHistorySearch, principal: PrincipalDep, store: StoreDep
) -> list[ThreadStatePublic]:
    """The thread's checkpoints, newest first: Steward keeps the latest state only, so at most one."""
    thread = await db(load_thread, store, principal, thread_id)
    if body.checkpoint and body.checkpoint.get("checkpoint_id"):
        await db(_at_checkpoint, store, thread, body.checkpoint["checkpoint_id"])
    return await db(_history, store, thread, body.limit, body.before, body.metadata)


@router.get("/{thread_id}/history", response_model=list[ThreadStatePublic])
async def get_thread_history_get(
    thread_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> list[ThreadStatePublic]:
    thread = await db(load_thread, store, principal, thread_id)
    return await db(_history, store, thread, limit, before, None)
