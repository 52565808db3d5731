"""Domain events: ``POST /events`` starts every assistant subscribed to the event's type.

An event with an ``id`` is idempotent per tenant and assistant: the run id is derived from it, so a
redelivered event (at-least-once brokers, webhook retries) returns the run it already started.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from agents.registry import event_types, subscribers
from runtime.errors import NotFound
from server.aio import db
from server.deps import DispatcherDep, OperatorDep, StoreDep
from server.schemas import RunCreate

router = APIRouter(prefix="/events", tags=["events"])
_NAMESPACE = uuid.UUID("6f1c2a57-6d0e-4a1c-9b1e-3c5d2e7f9a10")


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200, examples=["loan.application.received"])
    data: dict[str, Any]
    id: str | None = Field(default=None, min_length=1, max_length=200, description="Idempotency key.")
    thread_id: str | None = Field(default=None, min_length=1, max_length=200)


class EventRun(BaseModel):
    assistant_id: str
    run_id: str
    thread_id: str
    status: str
    duplicate: bool = False


class EventAccepted(BaseModel):
    type: str
    runs: list[EventRun]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=EventAccepted)
async def publish_event(
    event: EventCreate, principal: OperatorDep, store: StoreDep, dispatcher: DispatcherDep
) -> EventAccepted:
    targets = subscribers(event.type)
    if not targets:
        raise NotFound(f"no assistant subscribes to event type {event.type!r}; known: {event_types()}")
    out = []
    for spec in targets:
        run_id = None
        if event.id is not None:
            run_id = f"run-{uuid.uuid5(_NAMESPACE, f'{principal.tenant}:{spec.name}:{event.id}')}"
            existing = await db(store.get_run, run_id)
            if existing is not None:
                out.append(
                    EventRun(
                        assistant_id=spec.name,
                        run_id=run_id,
                        thread_id=existing["thread_id"],
                        status=existing["status"],
                        duplicate=True,
                    )
                )
                continue
        body = RunCreate(assistant_id=spec.name, input={spec.subscriptions[event.type]: event.data})
        run = await dispatcher.submit(principal, body, event.thread_id, run_id=run_id)
        out.append(
            EventRun(assistant_id=spec.name, run_id=run["run_id"], thread_id=run["thread_id"], status=run["status"])
        )
    return EventAccepted(type=event.type, runs=out)
