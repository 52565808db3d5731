"""``await db(store.method, ...)``: the app store's blocking calls, run off the event loop.

The store (``runtime/store.py``) is synchronous SQLAlchemy Core. Called straight from an ``async def`` route,
every query holds the API's event loop for its whole round trip: on PostgreSQL over a network that is
milliseconds per call, during which no other request, SSE stream or health check makes progress. ``db`` runs
the call in a worker thread instead.

The threads are capped by a limiter of their own, sized for the PostgreSQL pool (``POOL_SIZE + MAX_OVERFLOW``):
a burst of queries cannot take every slot of anyio's default limiter, which FastAPI's sync handlers and
dependencies share, and more threads than the pool has connections would only queue inside the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar

from runtime.db.engine import MAX_OVERFLOW, POOL_SIZE

P = ParamSpec("P")
T = TypeVar("T")

DB_THREADS = POOL_SIZE + MAX_OVERFLOW
"""Most store calls in flight at once per event loop; later ones wait for a slot, not for a connection."""

# One limiter per event loop (a limiter's waiters belong to the loop that made it), as anyio keeps its own.
_limiter: RunVar[CapacityLimiter] = RunVar("steward_db_limiter")


def db_limiter() -> CapacityLimiter:
    """This event loop's limiter for store calls (made on first use)."""
    try:
        return _limiter.get()
    except LookupError:
        limiter = CapacityLimiter(DB_THREADS)
        _limiter.set(limiter)
        return limiter


async def db(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, so its database I/O does not block the event loop.

    ``fn`` is a store method or a small synchronous function of several store calls (one thread hop for all
    of them). A cancelled caller still waits for the call to finish: a write is never left half-observed.
    """
    return await to_thread.run_sync(partial(fn, *args, **kwargs), limiter=db_limiter())
