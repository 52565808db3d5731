"""Serving an app on loopback for tests and benchmarks: a real uvicorn on a free port, in this event loop.

uvicorn's signal handlers are not installed (the test runner owns signals), and shutdown is bounded so an
open SSE stream cannot hold a test; ``kill()`` drops connections without a graceful drain (a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from runtime.devserver import free_port


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class RunningApp:
    app: FastAPI
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop serving, giving open streams a second to finish."""
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)

    async def kill(self) -> None:
        """Drop every connection mid-response and stop, as a crashed API process would."""
        for connection in list(self.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        self.server.should_exit = True
        self.server.force_exit = True
        await asyncio.wait_for(self.task, 15)


async def start_app(app: FastAPI, port: int | None = None) -> RunningApp:
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1, ws="none"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    return RunningApp(app=app, base_url=f"http://127.0.0.1:{port}", server=server, task=task)


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, port: int | None = None) -> AsyncIterator[RunningApp]:
    running = await start_app(app, port)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()
