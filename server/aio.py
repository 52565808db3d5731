"""``await db(store.method, ...)``: the app store's blocking calls, run off the event loop.

The store (``runtime/store.py``) is synchronous SQLAlchemy Core. Called straight from an ``async def`` route,
every query holds the API's event loop for its whole round trip: on PostgreSQL over a network that is
milliseconds per call, during which no other request, SSE stream or health check makes progress. ``db`` runs
the call in a worker thread instead.

The threads are a pool of their own, sized for the PostgreSQL pool (``POOL_SIZE + MAX_OVERFLOW``): a burst of
queries cannot take every thread that FastAPI's sync handlers and dependencies share (anyio's), and more
threads than the pool has connections would only queue inside the pool.

Why a plain ``ThreadPoolExecutor`` and not ``anyio.to_thread.run_sync`` with a limiter: every anyio call looks
up the running backend (sniffio), the limiter's run-scoped variable and a cancel scope, which a py-spy profile
of the API under 8 clients (``bench/peer_bench.py``'s load) showed on every store call. Measured on uvloop,
8 concurrent callers of a no-op (2 cores): 160 us of CPU per call with anyio, 78 us with the executor.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from runtime.db.engine import MAX_OVERFLOW, POOL_SIZE

P = ParamSpec("P")
T = TypeVar("T")

DB_THREADS = POOL_SIZE + MAX_OVERFLOW
"""Most store calls in flight at once per process; later ones wait for a thread, not for a connection."""

_EXECUTOR = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="steward-db")
"""The process's pool for store calls; its threads start on first use. One pool serves every event loop
(tests run many): an executor, unlike an anyio limiter, is not bound to the loop that made it."""


async def db(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, so its database I/O does not block the event loop.

    ``fn`` is a store method or a small synchronous function of several store calls (one thread hop for all
    of them). It runs in a copy of the caller's context (as ``asyncio.to_thread`` does). A cancelled caller
    still waits for the call to finish before the cancellation goes on: a write is never left half-observed.
    """
    call = partial(contextvars.copy_context().run, partial(fn, *args, **kwargs))
    future = asyncio.get_running_loop().run_in_executor(_EXECUTOR, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue  # cancelled again while waiting: the call still finishes first
        if not future.cancelled():
            future.exception()  # retrieved: the caller was cancelled and will not see it
        raise
