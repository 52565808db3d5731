"""The model server: OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``, plus ``/metrics``.

Any OpenAI-compatible server (llama.cpp's ``llama-server``, vLLM) can stand in for this one: agents only
know the base URL. Models load at start (``preload``) or on first use; each then runs in its own thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from runtime.errors import NotFound, UserError
from runtime.llm.catalog import ModelSpec, build_catalog, get_spec, model_status, resolve_weights
from runtime.llm.engine import (
    ContextOverflow,
    EngineRequest,
    Finished,
    Generation,
    ModelEngine,
    ModelStopped,
    QueueFull,
)
from runtime.llm.metrics import REGISTRY
from runtime.llm.protocol import ChatCompletionCreate
from runtime.llm.schema import SchemaError
from runtime.llm.service import Plan, chunk_body, completion_body, new_id, parse_output, plan_request
from runtime.settings import Settings

log = logging.getLogger(__name__)


def make_engine(spec: ModelSpec, settings: Settings) -> ModelEngine:
    """The engine for ``spec``'s backend; heavy libraries are imported here, not at module import."""
    path = resolve_weights(spec, settings)
    if spec.backend == "llama_cpp":
        from runtime.llm.llama_backend import LlamaCppEngine

        return LlamaCppEngine(spec, path, queue_size=settings.llm_queue_size, n_threads=settings.llm_threads)
    from runtime.llm.hf_backend import TransformersEngine

    return TransformersEngine(spec, path, queue_size=settings.llm_queue_size)


class ModelPool:
    """Catalog models, loaded once each (concurrent first requests share one load)."""

    def __init__(self, settings: Settings, catalog: dict[str, ModelSpec] | None = None) -> None:
        self.settings = settings
        self.catalog = catalog if catalog is not None else build_catalog(settings)
        self.engines: dict[str, ModelEngine] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, name: str) -> ModelEngine:
        spec = get_spec(self.catalog, name)
        engine = self.engines.get(name)
        if engine is not None:
            return engine
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self.engines:
                engine = make_engine(spec, self.settings)
                await asyncio.to_thread(engine.start)
                log.info("loaded model %s in %.2fs", name, engine.load_s)
                self.engines[name] = engine
        return self.engines[name]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.stop()


async def _sse(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
OPEN_PATHS = frozenset({"/health"})
"""Paths served without a key: a liveness probe reveals nothing and must work from an orchestrator."""


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to serve beyond loopback without ``STEWARD_LLM_API_KEY``: the prompts it receives carry
    customers' data, and an open port would let anyone on the network read and spend the model."""
    if not is_loopback(host) and settings.llm_api_key is None:
        raise UserError(
            f"model-server: refusing to bind {host!r} (beyond loopback) without an API key; set "
            "STEWARD_LLM_API_KEY (clients send it as 'Authorization: Bearer <key>'), or bind 127.0.0.1"
        )


def _authorized(request: Request, key: str) -> bool:
    import hmac

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def create_app(settings: Settings, preload: list[str] | None = None, pool: ModelPool | None = None) -> FastAPI:
    """The model-server app; ``preload`` names catalog models to load before serving.

    With ``llm_api_key`` set every path but ``/health`` needs ``Authorization: Bearer <key>`` (401 otherwise),
    wherever the server is bound.
    """
    pool = pool or ModelPool(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name in preload or []:
            await pool.get(name)
        yield
        pool.close()

    app = FastAPI(title="Steward model server", lifespan=lifespan)
    app.state.pool = pool

    if settings.llm_api_key is not None:
        key = settings.llm_api_key.get_secret_value()

        @app.middleware("http")
        async def require_key(request: Request, call_next: Any) -> Any:
            if request.url.path in OPEN_PATHS or _authorized(request, key):
                return await call_next(request)
            return JSONResponse(
                {"detail": "Authorization: a Bearer API key is required (the server's STEWARD_LLM_API_KEY)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _error(status: int, kind: str) -> Any:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            model = getattr(request.state, "model", "unknown")
            REGISTRY.inc("steward_llm_errors_total", model=model, kind=kind)
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handler

    app.add_exception_handler(NotFound, _error(404, "unknown_model"))
    app.add_exception_handler(ContextOverflow, _error(400, "context_overflow"))
    app.add_exception_handler(SchemaError, _error(422, "bad_schema"))
    app.add_exception_handler(QueueFull, _error(503, "queue_full"))
    app.add_exception_handler(ModelStopped, _error(503, "model_stopped"))
    app.add_exception_handler(UserError, _error(400, "bad_request"))

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback on the wire; the log has it.
        log.exception("unhandled error", exc_info=exc)
        model = getattr(request.state, "model", "unknown")
        REGISTRY.inc("steward_llm_errors_total", model=model, kind="internal")
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    app.add_exception_handler(Exception, internal)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        data = []
        for name, spec in sorted(pool.catalog.items()):
            engine = pool.engines.get(name)
            status = model_status(spec, settings)
            status.update(engine.describe() if engine else {"loaded": False})
            data.append({"id": name, "object": "model", "created": 0, "owned_by": "steward", "steward": status})
        return {"object": "list", "data": data}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": {n: e.alive for n, e in pool.engines.items()}}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(REGISTRY.render(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionCreate, request: Request) -> Any:
        request.state.model = body.model if body.model in pool.catalog else "unknown"
        engine = await pool.get(body.model)
        plan = plan_request(engine, body)
        generation = Generation(asyncio.get_running_loop())
        engine.submit(EngineRequest(plan.prompt_tokens, plan.params, generation))
        cid = new_id("chatcmpl")
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                _stream(body.model, cid, plan, generation, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await _complete(body.model, cid, plan, generation, request)

    return app


def _usage(f: Finished) -> dict[str, Any]:
    return {
        "prompt_tokens": f.prompt_tokens,
        "completion_tokens": f.completion_tokens,
        "total_tokens": f.prompt_tokens + f.completion_tokens,
    }


def _timings(f: Finished) -> dict[str, Any]:
    gen_s = f.total_s - (f.ttft_s or f.total_s)
    return {
        "queue_ms": round(f.queue_s * 1000, 2),
        "ttft_ms": round(f.ttft_s * 1000, 2) if f.ttft_s is not None else None,
        "total_ms": round(f.total_s * 1000, 2),
        "tokens_per_s": round((f.completion_tokens - 1) / gen_s, 2) if f.completion_tokens > 1 and gen_s else None,
        "cost_usd": f.cost_usd,
    }


async def _complete(model: str, cid: str, plan: Plan, generation: Generation, request: Request) -> JSONResponse:
    parts: list[str] = []
    stream = generation.__aiter__()
    nxt: asyncio.Task[Any] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(anext(stream))
            done: set[asyncio.Task[Any]] = set()
            while not done:
                done, _ = await asyncio.wait({nxt}, timeout=1.0)
                # A client that went away frees its sequence slot instead of decoding to max_tokens.
                if not done and await request.is_disconnected():
                    generation.cancel()
            item = nxt.result()
            if isinstance(item, Finished):
                break
            parts.append(item.text)
    finally:
        if nxt is not None and not nxt.done():
            nxt.cancel()
    if item.error:
        return JSONResponse({"detail": f"model {model!r} failed: {item.error}"}, status_code=500)
    message, finish = parse_output(plan, "".join(parts), item.finish_reason)
    return JSONResponse(completion_body(model, cid, message, finish, _usage(item), _timings(item)))


async def _stream(
    model: str, cid: str, plan: Plan, generation: Generation, include_usage: bool
) -> AsyncIterator[bytes]:
    parts: list[str] = []
    try:
        yield await _sse(chunk_body(model, cid, {"role": "assistant", "content": ""}))
        async for item in generation:
            if isinstance(item, Finished):
                if item.error:
                    yield await _sse({"error": {"message": item.error, "type": "server_error"}})
                    break
                finish = item.finish_reason
                if plan.mode == "tools":
                    # A call is streamed whole: a partial call is useless to an agent, and the grammar
                    # guarantees it is parseable only once complete.
                    message, finish = parse_output(plan, "".join(parts), finish)
                    if message.get("tool_calls"):
                        calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
                        yield await _sse(chunk_body(model, cid, {"tool_calls": calls}))
                    elif message.get("content"):
                        yield await _sse(chunk_body(model, cid, {"content": message["content"]}))
                yield await _sse(chunk_body(model, cid, {}, finish))
                if include_usage:
                    body = chunk_body(model, cid, {})
                    body["choices"] = []
                    body["usage"] = _usage(item)
                    body["steward"] = _timings(item)
                    yield await _sse(body)
                break
            if plan.mode == "tools":
                parts.append(item.text)
            else:
                yield await _sse(chunk_body(model, cid, {"content": item.text}))
        yield await _sse("[DONE]")
    finally:
        # Also runs when the client disconnects mid-stream: the slot is freed at the next model step.
        generation.cancel()
