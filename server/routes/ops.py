"""Operations: liveness, readiness, Prometheus metrics and what the console needs to know about the server."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server.aio import db
from server.deps import AdminDep, PrincipalDep, SettingsDep
from server.metrics import CONTENT_TYPE_LATEST
from server.schemas import Readiness, ServerInfo
from server.streaming import STREAM_MODES

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers. Needs no key."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: the app store answers a query and Temporal answers a health check. Needs no key."""
    state = request.app.state
    try:
        await db(state.store.last_event_seq, "__ready__")
        store_ok = True
    except Exception:  # noqa: BLE001 - readiness reports, never raises
        store_ok = False
    temporal_ok = await state.temporal.healthy()
    body = Readiness(status="ready" if store_ok and temporal_ok else "not_ready", store=store_ok, temporal=temporal_ok)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request, principal: AdminDep) -> Response:
    """Prometheus text format. Spans every tenant, so it needs an admin key (a scraper gets its own)."""
    # Rendering aggregates runs and approvals from the app store at scrape time.
    return Response(await db(request.app.state.metrics.render), media_type=CONTENT_TYPE_LATEST)


@router.get("/info", response_model=ServerInfo)
async def info(request: Request, principal: PrincipalDep, settings: SettingsDep) -> ServerInfo:
    """Who the key belongs to and where the Temporal UI is (the console links runs to it)."""
    return ServerInfo(
        version=request.app.version,
        principal=principal.model_dump(),
        temporal_ui_url=request.app.state.temporal_ui,
        temporal_namespace=settings.temporal_namespace,
        stream_modes=list(STREAM_MODES),
    )


class BreakerPublic(BaseModel):
    breaker: str = Field(description="What it guards: ``<base_url>|<model>`` for a model client.")
    kind: str = Field(description="``model``: the client of an OpenAI-compatible model server.")
    holder: str = Field(description="The process whose breaker this is (``worker@host:pid:id``, ``api@...``).")
    state: str = Field(description="closed | open | half_open")
    failures: int = Field(description="Consecutive failures counted so far.")
    failure_threshold: int
    cooldown_s: float
    opened_at: float | None = Field(description="When the circuit last opened (epoch seconds); null while closed.")
    last_error: str | None
    fallback: str | None = Field(description="What callers get instead while not closed; null while closed.")
    updated_at: float = Field(description="When the holder last reported a change (epoch seconds).")


class BreakerBoardPublic(BaseModel):
    breakers: list[BreakerPublic]


@router.get("/ops/breakers", response_model=BreakerBoardPublic)
async def breakers(request: Request, principal: AdminDep) -> BreakerBoardPublic:
    """Every circuit breaker of every API and worker process that shares this app store, as each last
    reported it: state, failure count, when it opened and the fallback in force. Admin only (it spans tenants
    and names internal endpoints)."""
    from runtime.db.breaker_states import read_breakers

    snaps = await db(read_breakers, request.app.state.dispatcher.engine)
    return BreakerBoardPublic(breakers=[BreakerPublic.model_validate(s.__dict__) for s in snaps])
