"""The HTTP API + operator console (FastAPI). Entry point: ``steward server`` or ``uvicorn server.app:app``.

``create_app()`` takes optional settings, store and Temporal client so tests (and benchmarks) can point an
app at their own store file and task queue. The store opens in the lifespan; the Temporal client connects on
first use (``server.connection``), so the API is up, and says why it is not ready, while Temporal starts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError

from runtime.errors import Conflict, Forbidden, NotFound, StewardError
from runtime.proofs import DecisionSigner
from runtime.settings import Settings, get_settings
from runtime.store import Store, open_store
from server.connection import TemporalConnection, TemporalUnavailable
from server.dispatch import RunDispatcher
from server.metrics import ApiMetrics, MetricsMiddleware
from server.routes import (
    approvals,
    ask,
    assistants,
    audit,
    crons,
    events,
    ops,
    outbox,
    runs,
    thread_stream,
    threads,
    tools,
)
from server.schemas import ERROR_RESPONSES

log = logging.getLogger("steward.server")
VERSION = "0.1.0"
CONSOLE_DIR = Path(__file__).parent / "console"


@dataclass(frozen=True)
class StreamOptions:
    poll_s: float = 0.05
    """How often a stream reads the event log where it has no listener to wake it (``runtime/db/notify.py``:
    in-memory SQLite, or a listener socket that could not be bound); otherwise it waits for a notification."""
    ping_s: float = 15.0
    """Heartbeat comment interval; proxies close streams idle for longer (nginx: 60 s)."""
    send_timeout_s: float = 30.0
    """A client that accepts nothing for this long is dropped, so it cannot hold a stream task forever."""


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by Content-Length or while reading a chunked body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = JSONResponse({"detail": f"request body is larger than {self.limit} bytes"}, 413)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


_STATUS: tuple[tuple[type[StewardError], int], ...] = ((NotFound, 404), (Conflict, 409), (Forbidden, 403))


async def _steward_error(request: Request, exc: Exception) -> JSONResponse:
    """The one place runtime errors become HTTP: 404 / 409 / 403, other user errors 422."""
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 422)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    detail = str(exc) if isinstance(exc, TemporalUnavailable) else f"temporal: {getattr(exc, 'message', exc)}"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "2"})


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the API log"}, status_code=500)


def temporal_ui_base(settings: Settings) -> str | None:
    """The embedded dev server's UI for this namespace; a cluster's UI address is not known to us."""
    if not settings.embedded_temporal:
        return None
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "", "::") else settings.api_host
    return f"http://{host}:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}"


def _local_swagger_ui() -> Path | None:
    """Swagger UI's assets from an installed package (litellm ships them), so /docs works offline and the
    browser fetches nothing from a CDN. ``find_spec`` locates the package without importing it (slow)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "proxy" / "swagger"
    return folder if (folder / "swagger-ui-bundle.js").exists() and (folder / "swagger-ui.css").exists() else None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (the field named in ``loc``), with cardholder data masked in the echoed ``input``: a card
    number sent in a wrong field must not come back in the error."""
    from fastapi.encoders import jsonable_encoder

    from guards.detectors import mask_cardholder_value

    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": mask_cardholder_value(jsonable_encoder(errors))}, status_code=422)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    client: Client | None = None,
    *,
    stream: StreamOptions | None = None,
    max_body_bytes: int = 1 << 20,
    dispatch_poll_s: float = 0.2,
) -> FastAPI:
    """Build the API. ``store``/``client`` override what ``settings`` would open (tests, benchmarks)."""
    s = settings or get_settings()
    if s.config is not None:
        from agents.registry import use_project

        use_project(s.config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = store or open_store(s.resolved_db_path)
        app.state.temporal = TemporalConnection(s, client)
        app.state.dispatcher = RunDispatcher(
            app.state.store, app.state.temporal, s.task_queue, dispatch_poll_s, signer=app.state.decision_signer
        )
        dispatcher = asyncio.create_task(app.state.dispatcher.run_forever(), name="steward-run-dispatcher")
        from runtime.db.breaker_states import BreakerBoard

        app.state.breakers = BreakerBoard(app.state.dispatcher.engine, app.state.dispatcher.holder)
        await asyncio.to_thread(app.state.breakers.install)  # this process's breakers on GET /ops/breakers
        try:
            yield
        finally:
            dispatcher.cancel()
            with suppress(asyncio.CancelledError):
                await dispatcher
            with suppress(Exception):
                await asyncio.to_thread(app.state.breakers.withdraw)
            from runtime.db.notify import close_listeners

            await close_listeners()  # what streams started: the LISTEN connection, or SQLite's socket (unlinked)

    app = FastAPI(
        title="Steward",
        version=VERSION,
        description="Durable, guarded agents: LangGraph Agent Server vocabulary (assistants, threads, runs, "
        "streams) plus approvals, tools, audit. Authenticate with `Authorization: Bearer <key>` or "
        "`X-Api-Key: <key>`.",
        lifespan=lifespan,
        docs_url=None,
    )
    app.state.settings = s
    app.state.decision_signer = DecisionSigner.from_settings(s)  # the API mints decision proofs; workers verify
    app.state.store = store
    app.state.stream = stream or StreamOptions()
    app.state.temporal_ui = temporal_ui_base(s)
    app.state.background = set()  # tasks that must outlive their request (cancel on disconnect)
    app.state.metrics = ApiMetrics(lambda: getattr(app.state, "store", None))

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StewardError, _steward_error)
    app.add_exception_handler(TemporalUnavailable, _unavailable)
    app.add_exception_handler(RPCError, _unavailable)
    app.add_exception_handler(Exception, _internal)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    for module in (ops, assistants, threads, ask, thread_stream, crons, runs, approvals, tools, audit, events, outbox):
        for router in getattr(module, "routers", [module.router]):
            app.include_router(router, responses=ERROR_RESPONSES)
    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    swagger = _local_swagger_ui()
    if swagger is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        assets = (
            {
                "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
                "swagger_css_url": "/docs-assets/swagger-ui.css",
                "swagger_favicon_url": "/docs-assets/favicon.png",
            }
            if swagger
            else {}
        )
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Steward API", **assets)  # type: ignore[arg-type]

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app


app = create_app()
