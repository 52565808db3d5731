"""The event loops Steward's processes run on, and the API's hop to its store threads (``server.aio.db``).

``db`` replaced anyio's ``to_thread`` with a plain executor for speed; these tests hold it to what callers
relied on: the caller's context variables, errors raised where it awaits, a cancelled caller that still waits
for its write, and no more threads than the database pool has connections.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from runtime.cli.services import event_loop_runner
from server.aio import DB_THREADS, db

REQUEST = contextvars.ContextVar[str]("request", default="none")


def test_the_worker_runs_on_uvloop_unless_told_not_to() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert event_loop_runner(True)(loop_type()) is uvloop.Loop
    assert not issubclass(event_loop_runner(False)(loop_type()), uvloop.Loop)


async def test_db_runs_in_a_thread_with_the_callers_context() -> None:
    REQUEST.set("r-1")
    loop_thread = threading.get_ident()
    seen = await db(lambda: (REQUEST.get(), threading.get_ident()))
    assert seen[0] == "r-1"
    assert seen[1] != loop_thread


async def test_db_raises_the_calls_error_where_it_is_awaited() -> None:
    def broken() -> None:
        raise LookupError("no such run")

    with pytest.raises(LookupError, match="no such run"):
        await db(broken)


async def test_a_cancelled_caller_waits_for_its_write_to_finish() -> None:
    written: list[bool] = []

    def slow_write() -> None:
        time.sleep(0.3)
        written.append(True)

    task = asyncio.create_task(db(slow_write))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()  # a second cancel while it waits changes nothing
    with pytest.raises(asyncio.CancelledError):
        await task
    assert written, "the cancellation went on before the write had finished"


async def test_db_never_runs_more_calls_at_once_than_the_pool_has_connections() -> None:
    lock = threading.Lock()
    running = peak = 0

    def call() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    await asyncio.gather(*(db(call) for _ in range(DB_THREADS * 3)))
    assert 2 <= peak <= DB_THREADS
