"""Threads: a conversation's state across runs (create, get, state, search), tenant-scoped."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from runtime.errors import Conflict
from server.deps import OperatorDep, PrincipalDep, StoreDep
from server.schemas import Checkpoint, ThreadCreate, ThreadPublic, ThreadSearch, ThreadStatePublic, ThreadTask
from server.views import load_thread, thread_public, thread_status, ts

router = APIRouter(prefix="/threads", tags=["threads"])


@router.post("", response_model=ThreadPublic)
async def create_thread(body: ThreadCreate, principal: OperatorDep, store: StoreDep) -> ThreadPublic:
    """Create a thread (``if_exists``: ``raise`` -> 409, ``do_nothing`` -> the existing one)."""
    thread_id = body.thread_id or f"thread-{uuid.uuid4()}"
    existing = store.get_thread(thread_id)
    if existing is not None:
        if existing["tenant"] != principal.tenant or body.if_exists != "do_nothing":
            raise Conflict(f"thread {thread_id!r} already exists")
        return thread_public(store, existing)
    metadata = dict(body.metadata or {})
    if body.graph_id:
        metadata.setdefault("graph_id", body.graph_id)
    return thread_public(store, store.create_thread(thread_id, principal.tenant, metadata))


@router.post("/search", response_model=list[ThreadPublic])
async def search_threads(body: ThreadSearch, principal: PrincipalDep, store: StoreDep) -> list[ThreadPublic]:
    """This tenant's threads, newest first, filtered by ids, metadata, values and status."""
    matches = [
        t
        for t in store.list_threads(principal.tenant, limit=10_000)
        if (body.ids is None or t["thread_id"] in body.ids)
        and all(t["metadata"].get(k) == v for k, v in (body.metadata or {}).items())
        and all(t["state"].get(k) == v for k, v in (body.values or {}).items())
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


@router.get("/{thread_id}", response_model=ThreadPublic)
async def get_thread(thread_id: str, principal: PrincipalDep, store: StoreDep) -> ThreadPublic:
    return thread_public(store, load_thread(store, principal, thread_id))


@router.get("/{thread_id}/state", response_model=ThreadStatePublic)
async def get_thread_state(thread_id: str, principal: PrincipalDep, store: StoreDep) -> ThreadStatePublic:
    """Values saved by the last successful run; a waiting run shows as a ``tools`` task with its interrupts.

    The checkpoint id is the id of the run that saved the values (Temporal's history is the checkpoint).
    """
    thread = load_thread(store, principal, thread_id)
    status, interrupts = thread_status(store, thread_id)
    tasks = [ThreadTask(id=run_id, name="tools", interrupts=items) for run_id, items in interrupts.items()]
    return ThreadStatePublic(
        values=thread["state"],
        next=["tools"] if tasks else [],
        checkpoint=Checkpoint(thread_id=thread_id, checkpoint_id=thread.get("last_run_id")),
        metadata={"status": status},
        created_at=ts(thread["updated_at"]),
        tasks=tasks,
        interrupts=[i for items in interrupts.values() for i in items],
    )
