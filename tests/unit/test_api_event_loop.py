"""No async route blocks the API's event loop on the app store: while one request waits on a slow database
call, another request on the same server is answered at once.

Each case slows one ``Store`` method with a synchronous 0.5 s sleep (a slow PostgreSQL round trip) and sends a
request that calls it; ``/health`` is then timed on the same uvicorn server. Were the call made on the event
loop, ``/health`` would wait for it. Real uvicorn on loopback, real SQLite and PostgreSQL stores; no Temporal
needed (these routes only read the store).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

SLOW_S = 0.5


@dataclass
class Served:
    base_url: str
    store: Any
    thread_id: str
    key: str


@pytest.fixture
async def served(db_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app on a fresh store of each backend (``db_url``: SQLite file, then embedded PostgreSQL)."""
    from runtime.settings import Settings
    from runtime.store import Store
    from server.app import create_app
    from server.testing import serve_app

    store = Store(db_url)
    _, key = store.create_api_key("alice", "acme", ["operator"])
    thread_id = store.create_thread("thread-slow", "acme")["thread_id"]
    app = create_app(Settings(home=tmp_path, task_queue="test-event-loop"), store=store)
    try:
        async with serve_app(app) as running:
            yield Served(running.base_url, store, thread_id, key)
    finally:
        store.close()


def slow_down(store: Any, method: str, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make ``store.<method>`` sleep ``SLOW_S`` (blocking, as a driver does) first; the event is set on entry."""
    original: Callable[..., Any] = getattr(store, method)
    entered = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        time.sleep(SLOW_S)
        return original(*args, **kwargs)

    monkeypatch.setattr(store, method, slow)
    return entered


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get_thread", "/threads/{thread_id}"),  # a route's own store call
        ("lookup_api_key", "/threads/{thread_id}"),  # the auth dependency every keyed route runs
        ("list_runs", "/threads/{thread_id}/runs"),
        ("get_thread", "/threads/{thread_id}/state"),
    ],
)
async def test_health_answers_while_a_store_call_is_slow(
    served: Served, method: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = slow_down(served.store, method, monkeypatch)
    url = served.base_url + path.format(thread_id=served.thread_id)

    def exchange() -> tuple[httpx.Response, float, httpx.Response, float]:
        # The clients run in threads of their own: uvicorn serves on this test's event loop, so a client on it
        # could not even send /health while a blocking store call held the loop.
        with httpx.Client(timeout=30) as slow_http, httpx.Client(timeout=30) as health_http:
            assert health_http.get(served.base_url + "/health").status_code == 200  # connection is warm
            with ThreadPoolExecutor(1) as pool:
                started = time.monotonic()
                slow_request = pool.submit(slow_http.get, url, headers={"Authorization": f"Bearer {served.key}"})
                assert entered.wait(10), "the slowed store method was never called"
                t0 = time.monotonic()
                health = health_http.get(served.base_url + "/health")
                health_s = time.monotonic() - t0
                slow_response = slow_request.result()
                return slow_response, time.monotonic() - started, health, health_s

    slow_response, slow_s, health, health_s = await asyncio.to_thread(exchange)
    assert slow_response.status_code == 200, slow_response.text
    assert slow_s >= SLOW_S  # the slowed call really was on this request's path
    assert health.status_code == 200
    assert health_s < SLOW_S / 2, f"/health took {health_s:.3f}s while {method} was slow: the event loop was blocked"
