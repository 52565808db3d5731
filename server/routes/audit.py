"""The audit trail, tenant-scoped, and verification of its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.aio import db
from server.deps import AdminDep, StoreDep
from server.schemas import AuditRecordPublic, AuditVerification
from server.views import load_run, ts

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditRecordPublic])
async def list_audit(
    principal: AdminDep,
    store: StoreDep,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditRecordPublic]:
    """Oldest first. A run of another tenant is not found (404)."""
    if run_id is not None:
        await db(load_run, store, principal, run_id)
    rows = (await db(store.audit_records, run_id=run_id, tenant=principal.tenant))[offset : offset + limit]
    return [AuditRecordPublic(**{**r, "ts": ts(r["ts"])}) for r in rows]


@router.get("/verify", response_model=AuditVerification)
async def verify_audit(principal: AdminDep, store: StoreDep) -> AuditVerification:
    """Recompute the whole chain (it links every tenant's records, so it is verified as one)."""
    ok, detail = await db(store.verify_audit)
    return AuditVerification(ok=ok, detail=detail)
