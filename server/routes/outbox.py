"""The outbox of webhook actions: what was queued, delivered or refused, with attempts and the last error.

A receiver that is down shows here as actions that stay ``queued`` with a growing ``attempts`` and a
``next_attempt_at`` that backs off; nothing becomes ``delivered`` without the receiver's 2xx.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from runtime.outbox import Outbox, OutboxAction
from server.aio import db
from server.deps import PrincipalDep, StoreDep
from server.views import load_run, ts
from tools.adapters import Delivery

router = APIRouter(prefix="/outbox", tags=["outbox"])


class OutboxActionPublic(BaseModel):
    idempotency_key: str
    run_id: str
    tool_call_id: str
    tool: str
    adapter: str
    target: str
    """The receiver's URL without query string or credentials."""
    delivery: Delivery
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    """When the next send is due (queued actions only)."""
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, a: OutboxAction) -> OutboxActionPublic:
        return cls(
            idempotency_key=a.idempotency_key,
            run_id=a.run_id,
            tool_call_id=a.tool_call_id,
            tool=a.tool,
            adapter=a.adapter,
            target=a.target,
            delivery=a.delivery,
            attempts=a.attempts,
            last_error=a.last_error,
            next_attempt_at=ts(a.next_attempt_at) if a.delivery == Delivery.QUEUED else None,
            created_at=ts(a.created_at),  # type: ignore[arg-type]
            delivered_at=ts(a.delivered_at),
            payload=a.payload,
        )


@router.get("", response_model=list[OutboxActionPublic])
async def list_outbox(
    principal: PrincipalDep,
    store: StoreDep,
    delivery: Annotated[Delivery | None, Query(description="queued | delivered | failed")] = None,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OutboxActionPublic]:
    """The tenant's webhook actions, oldest first. A run of another tenant is not found (404)."""
    if run_id is not None:
        await db(load_run, store, principal, run_id)
    rows = await db(
        Outbox(store).list_actions,
        tenant=principal.tenant,
        delivery=delivery,
        run_id=run_id,
        limit=limit,
        offset=offset,
    )
    return [OutboxActionPublic.of(a) for a in rows]
