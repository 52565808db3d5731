"""The approvals inbox and decisions (approve / edit / reject / respond).

Decisions go through ``runtime.runs.decide`` to the waiting workflow's ``decide`` update, whose validator
is the authority on roles and separation of duties; its refusals come back as 403 / 409 / 404 / 422.
The API is where a decision gets its proof: the key's principal is signed into it (``runtime.proofs``), and
the workflow accepts no decision without one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from guards.types import ApprovalDecision
from runtime import runs
from runtime.store import Store
from server.aio import db
from server.deps import ApproverDep, ClientDep, PrincipalDep, SignerDep, StoreDep
from server.schemas import ApprovalPublic, DecisionCreate, DecisionResult
from server.views import approval_public, load_approval, open_approvals

router = APIRouter(prefix="/approvals", tags=["approvals"])
ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "responded", "timed_out", "all"]


def _still_waiting(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pending approvals whose run still waits (a cancelled or finished run leaves rows pending)."""
    waiting: dict[str, bool] = {}
    for a in rows:
        if a["run_id"] not in waiting:
            run = store.get_run(a["run_id"])
            waiting[a["run_id"]] = bool(run and open_approvals(store, run))
    return [a for a in rows if waiting[a["run_id"]]]


@router.get("", response_model=list[ApprovalPublic])
async def list_approvals(
    principal: PrincipalDep,
    store: StoreDep,
    status: ApprovalStatus = "pending",
    assistant_id: Annotated[str | None, Query(max_length=200)] = None,
    risk: Literal["low", "medium", "high"] | None = None,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    thread_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ApprovalPublic]:
    """The inbox: this tenant's approvals, oldest first. ``pending`` lists only runs that still wait."""
    rows = await db(
        store.list_approvals,
        tenant=principal.tenant,
        status=None if status == "all" else status,
        run_id=run_id,
        limit=10_000,
    )
    rows = [
        a
        for a in rows
        if (assistant_id is None or a["assistant_id"] == assistant_id)
        and (risk is None or a["risk"] == risk)
        and (thread_id is None or a["thread_id"] == thread_id)
    ]
    if status == "pending":
        rows = await db(_still_waiting, store, rows)
    return [approval_public(a) for a in rows[offset : offset + limit]]


@router.get("/{approval_id}", response_model=ApprovalPublic)
async def get_approval(approval_id: str, principal: PrincipalDep, store: StoreDep) -> ApprovalPublic:
    return approval_public(await db(load_approval, store, principal, approval_id))


@router.post("/{approval_id}/decision", response_model=DecisionResult)
async def decide(
    approval_id: str,
    body: DecisionCreate,
    principal: ApproverDep,
    store: StoreDep,
    client: ClientDep,
    signer: SignerDep,
) -> DecisionResult:
    """Decide as the key's principal, with a proof minted for it. The requester of the run cannot approve it
    (separation of duties)."""
    await db(load_approval, store, principal, approval_id)
    decision = ApprovalDecision(
        approval_id=approval_id,
        action=body.action,
        principal=principal,
        args=body.args,
        comment=body.comment,
        response=body.response,
    )
    return DecisionResult(**await runs.decide(client, store, decision, signer))
