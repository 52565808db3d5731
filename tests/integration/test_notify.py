"""Events reach SSE streams on any replica through PostgreSQL LISTEN/NOTIFY (runtime/db/notify.py): two Store
objects on one real PostgreSQL stand for two replicas. The streams' safety poll is set to 30 s here, so an event
that arrives within a few seconds was pushed, not polled. SQLite's push (Unix datagram sockets) is tested in
tests/integration/test_notify_sqlite.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from runtime.db.notify import EventListener, close_listeners, conninfo, listener_for
from runtime.store import Store
from server.streaming import Frame, run_frames
from tests.conftest import new_database, wait_for

PUSHED_WITHIN_S = 5.0
"""Far under the 30 s safety poll (and status check) the streams run with in these tests."""


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[tuple[Store, Store]]:
    url = new_database(postgres_url)
    a, b = Store(url), Store(url)
    yield a, b
    a.close()
    b.close()


def new_run(store: Store) -> dict[str, Any]:
    run_id = f"run-{uuid.uuid4()}"
    store.create_run(run_id, f"thread-{uuid.uuid4()}", "loan_triage", "t1", "alice", {"x": 1})
    run = store.get_run(run_id)
    assert run is not None
    return run


async def append(store: Store, run_id: str, key: str, type_: str = "node_started") -> list[int]:
    return await asyncio.to_thread(store.append_events, run_id, [(key, type_, {"node": key})])


@pytest.fixture
async def listener(replicas: tuple[Store, Store]) -> AsyncIterator[EventListener]:
    # A 1 s first backoff, so an append made right after the connection is killed lands while it is down.
    listening = EventListener(conninfo(replicas[1].engine), first_backoff_s=1.0)
    listening.start()
    await listening.ready()
    yield listening
    await listening.close()


async def test_an_event_appended_on_one_replica_wakes_a_watcher_on_the_other(
    replicas: tuple[Store, Store], listener: EventListener
) -> None:
    writer, reader = replicas
    run = new_run(writer)
    with listener.watch(run["run_id"]) as watch:
        assert await watch.wait(0, 0.2) is False, "nothing was appended yet"
        started = time.monotonic()
        await append(writer, run["run_id"], "a")
        assert await watch.wait(0, 30.0) is True
        assert time.monotonic() - started < PUSHED_WITHIN_S
        assert watch.latest == 1
        assert [e["seq"] for e in reader.events_after(run["run_id"], 0)] == [1]


async def test_a_rolled_back_append_notifies_nobody(replicas: tuple[Store, Store], listener: EventListener) -> None:
    writer, _ = replicas
    run = new_run(writer)
    with listener.watch(run["run_id"]) as watch:

        def doomed() -> None:
            with writer._tx() as c:
                writer._append_events(c, run["run_id"], [("k", "node_started", {})])
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await asyncio.to_thread(doomed)
        # A notification sent by the doomed append would arrive within milliseconds; none comes.
        assert await watch.wait(0, 2.0) is False
        await append(writer, run["run_id"], "other")
        assert await watch.wait(0, 30.0) is True and watch.latest == 1


async def test_a_killed_listener_reconnects_and_loses_no_event(
    replicas: tuple[Store, Store], listener: EventListener
) -> None:
    writer, reader = replicas
    run = new_run(writer)
    with listener.watch(run["run_id"]) as watch:
        first_pid = listener.backend_pid
        with writer.engine.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid}).scalar_one() is True
        await wait_for(lambda: not listener.listening, timeout=10)
        # Appended while nobody listens: PostgreSQL drops this notification; the reconnect's resync wakes us.
        await append(writer, run["run_id"], "while-down")
        assert await watch.wait(0, 30.0) is True
        await wait_for(lambda: listener.listening, timeout=10)
        assert listener.connects == 2 and listener.backend_pid not in (None, first_pid)
        assert [e["seq"] for e in reader.events_after(run["run_id"], 0)] == [1]
        # And it is listening again: the next append is pushed.
        started = time.monotonic()
        await append(writer, run["run_id"], "after")
        assert await watch.wait(1, 30.0) is True and watch.latest == 2
        assert time.monotonic() - started < PUSHED_WITHIN_S


async def _collect(frames: AsyncIterator[Frame], into: list[Frame]) -> None:
    async for f in frames:
        into.append(f)


async def test_a_stream_on_one_replica_gets_events_appended_on_another_without_polling(
    replicas: tuple[Store, Store],
) -> None:
    writer, reader = replicas
    run = new_run(writer)
    got: list[Frame] = []
    # Safety poll and status check at 30 s: only a notification can deliver within PUSHED_WITHIN_S.
    stream = asyncio.create_task(
        _collect(run_frames(reader, run, ("custom",), safety_poll_s=30.0, status_every_s=30.0), got)
    )
    try:
        process_listener = listener_for(reader.engine)
        assert process_listener is not None
        await process_listener.ready()
        await wait_for(lambda: [f.event for f in got] == ["metadata"], timeout=10)
        await asyncio.sleep(0.2)  # the stream is now waiting on its watch
        started = time.monotonic()
        await append(writer, run["run_id"], "n1")
        await wait_for(lambda: len(got) == 2, timeout=PUSHED_WITHIN_S)
        assert got[1].id == "1" and got[1].data["type"] == "node_started"
        await append(writer, run["run_id"], "done", "run_finished")
        await asyncio.wait_for(stream, PUSHED_WITHIN_S)
        assert time.monotonic() - started < 2 * PUSHED_WITHIN_S
        assert [f.event for f in got] == ["metadata", "custom", "custom", "end"]
        assert listener_for(reader.engine) is process_listener, "one listener per process (and loop)"
    finally:
        stream.cancel()
        await close_listeners()


async def test_the_thread_event_stream_is_pushed_too(
    replicas: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/threads/{id}/stream/events`` (``protocol_events``) on one replica gets an event appended on the other
    with its polls and safety poll at 30 s: only the notification can deliver it in time."""
    from server.routes import thread_stream
    from server.routes.thread_stream import EventStreamRequest, protocol_events

    monkeypatch.setattr(thread_stream, "SAFETY_POLL_S", 30.0)
    writer, reader = replicas
    run = new_run(writer)
    await append(writer, run["run_id"], "n0")
    got: list[dict[str, Any]] = []

    async def consume() -> None:
        body = EventStreamRequest(channels=["custom", "lifecycle", "tasks"])
        async for event in protocol_events(reader, run["thread_id"], body, poll_s=30.0):
            got.append(event)

    stream = asyncio.create_task(consume())
    try:
        process_listener = listener_for(reader.engine)
        assert process_listener is not None
        await process_listener.ready()
        await wait_for(lambda: bool(got), timeout=10)  # the first event, read at once
        seen = len(got)
        await asyncio.sleep(0.3)  # now waiting on its watch (or, without the push, a 30 s sleep)
        started = time.monotonic()
        await append(writer, run["run_id"], "n1")
        await wait_for(lambda: len(got) > seen, timeout=PUSHED_WITHIN_S)
        assert time.monotonic() - started < PUSHED_WITHIN_S
    finally:
        stream.cancel()
        await close_listeners()


async def test_an_sse_client_of_one_api_gets_events_another_replica_appends(
    replicas: tuple[Store, Store], client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real HTTP: the API serves replica b's store; replica a (say, a worker) appends; no poll under 30 s."""
    import httpx

    from runtime.settings import Settings
    from server import streaming
    from server.app import create_app
    from server.testing import serve_app

    monkeypatch.setattr(streaming, "SAFETY_POLL_S", 30.0)
    monkeypatch.setattr(streaming, "STATUS_EVERY_S", 30.0)
    writer, api_store = replicas
    key = api_store.create_api_key("alice", "t1", ["operator"])[1]
    run = new_run(writer)
    app = create_app(Settings(home=tmp_path, task_queue=f"q-{uuid.uuid4()}"), store=api_store, client=client)
    events: list[tuple[str, float]] = []
    async with serve_app(app) as running, httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
        path = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream?stream_mode=custom"

        async def read() -> None:
            async with http.stream("GET", path, headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        events.append((line.split(":", 1)[1].strip(), time.monotonic()))

        reader = asyncio.create_task(read())
        try:
            await wait_for(lambda: [e for e, _ in events] == ["metadata"], timeout=10)
            process_listener = listener_for(api_store.engine)  # the one the stream started, on this loop
            assert process_listener is not None
            await process_listener.ready()
            await asyncio.sleep(0.2)
            sent = time.monotonic()
            await append(writer, run["run_id"], "n1")
            await wait_for(lambda: len(events) == 2, timeout=PUSHED_WITHIN_S)
            assert events[1][0] == "custom" and events[1][1] - sent < PUSHED_WITHIN_S
            await append(writer, run["run_id"], "done", "run_finished")
            await asyncio.wait_for(reader, PUSHED_WITHIN_S)
            assert [e for e, _ in events] == ["metadata", "custom", "custom", "end"]
        finally:
            reader.cancel()
