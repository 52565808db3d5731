"""On SQLite, event appends wake streams through Unix datagram sockets (runtime/db/notify.py: SocketListener,
SocketNotifier), as LISTEN/NOTIFY does on PostgreSQL (tests/integration/test_notify.py).

Writers here are real: another OS process with its own Store (as the worker is), or a second Store in this one.
Streams run with their safety poll and status check at 30 s, so an event that arrives within a second was
pushed, not polled; latencies are printed (``pytest -s``)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.db.notify import SUN_PATH_MAX, SocketListener, close_listeners, listener_for, notify_dir
from runtime.store import Store
from server.streaming import Frame, final_values, run_frames
from tests.conftest import wait_for
from tests.integration.test_notify import new_run

REPO = Path(__file__).resolve().parents[2]
PUSHED_WITHIN_S = 1.0
"""Far under the 30 s safety poll the streams run with here; a push takes milliseconds."""

WRITER = """
import sys, time
from runtime.store import Store
store = Store(sys.argv[1])
run_id = sys.argv[2]
print("ready", flush=True)
for line in sys.stdin:
    key = line.strip()
    if not key:
        break
    kind = "run_finished" if key == "done" else "node_started"
    data = {"status": "success", "outcome": None} if key == "done" else {"node": key}
    started = time.time()
    store.append_events(run_id, [(key, kind, data)])
    print(f"{started} {time.time()}", flush=True)
store.close()
"""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "steward.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
async def listener(store: Store) -> AsyncIterator[SocketListener]:
    got = listener_for(store.engine)
    assert isinstance(got, SocketListener)
    yield got
    await close_listeners()


async def append(store: Store, run_id: str, key: str, type_: str = "node_started") -> list[int]:
    data: dict[str, Any] = {"status": "success", "outcome": None} if type_ == "run_finished" else {"node": key}
    return await asyncio.to_thread(store.append_events, run_id, [(key, type_, data)])


class Writer:
    """Another OS process with its own Store on the same file: appends one event per line it is sent."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, db_path: Path, run_id: str) -> Writer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            str(db_path),
            run_id,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        writer = cls(proc)
        assert (await writer._line()) == "ready"
        return writer

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), 60)).decode().strip()

    def send(self, key: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{key}\n".encode())

    async def appended(self) -> tuple[float, float]:
        """(wall time the append started, wall time it returned: committed and announced)."""
        started, done = (await self._line()).split()
        return float(started), float(done)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.send("")
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def test_an_append_in_another_process_wakes_a_watch_within_milliseconds(
    store: Store, db_path: Path, listener: SocketListener
) -> None:
    run = new_run(store)
    writer = await Writer.start(db_path, run["run_id"])
    woken_after_start: list[float] = []
    woken_after_commit: list[float] = []
    try:
        with listener.watch(run["run_id"]) as watch:
            for n in range(1, 31):
                writer.send(f"n{n}")
                assert await watch.wait(n - 1, 30.0) is True, "woken by the datagram, not a timeout"
                woken = time.time()
                started, committed = await writer.appended()
                woken_after_start.append(woken - started)
                woken_after_commit.append(woken - committed)
                assert watch.latest == n
                # Woken after the commit: the event is there to read.
                assert store.last_event_seq(run["run_id"]) == n
    finally:
        await writer.stop()
    ms = sorted(x * 1000 for x in woken_after_start)
    print(
        f"\nwake-up after another process's append started: p50 {statistics.median(ms):.2f} ms, "
        f"p90 {ms[int(len(ms) * 0.9)]:.2f} ms, max {ms[-1]:.2f} ms (append incl. commit; n={len(ms)}); "
        f"after it returned: p50 {statistics.median(woken_after_commit) * 1000:.2f} ms"
    )
    assert statistics.median(ms) < 25, "well under the 50 ms poll it replaces"
    assert ms[-1] < PUSHED_WITHIN_S * 1000


async def test_the_notification_is_sent_after_the_commit_and_never_for_a_rollback(
    store: Store, listener: SocketListener
) -> None:
    run = new_run(store)
    inside, release = threading.Event(), threading.Event()

    def held_open() -> None:
        with store._tx() as c:
            store._append_events(c, run["run_id"], [("a", "node_started", {})])
            inside.set()
            assert release.wait(30)

    def doomed() -> None:
        with store._tx() as c:
            store._append_events(c, run["run_id"], [("b", "node_started", {})])
            raise RuntimeError("roll back")

    with listener.watch(run["run_id"]) as watch:
        tx = asyncio.create_task(asyncio.to_thread(held_open))
        assert await asyncio.to_thread(inside.wait, 30)
        # Appended but not committed: nothing is announced yet.
        assert await watch.wait(0, 0.5) is False
        assert listener.received == 0
        release.set()
        await tx
        assert await watch.wait(0, PUSHED_WITHIN_S) is True and watch.latest == 1
        assert listener.received == 1

        with pytest.raises(RuntimeError):
            await asyncio.to_thread(doomed)
        assert await watch.wait(1, 0.5) is False, "a rolled-back append notifies nobody"
        assert listener.received == 1
        assert store.last_event_seq(run["run_id"]) == 1
        # The pooled connection carries nothing over from the rollback: the next append announces only itself.
        await append(store, run["run_id"], "c")
        assert await watch.wait(1, PUSHED_WITHIN_S) is True and watch.latest == 2
        assert listener.received == 2


async def test_every_event_appending_path_notifies(store: Store, listener: SocketListener) -> None:
    """``append_events`` and ``record_node_execution`` (the outbox's settle uses ``_tx`` + ``_append_events``,
    covered by the rollback test's path)."""
    run = new_run(store)
    with listener.watch(run["run_id"]) as watch:
        await append(store, run["run_id"], "a")
        assert await watch.wait(0, PUSHED_WITHIN_S) is True and watch.latest == 1
        await asyncio.to_thread(
            store.record_node_execution, run["run_id"], "n", "task-1", 1, "started", ("k2", "node_started", {})
        )
        assert await watch.wait(1, PUSHED_WITHIN_S) is True and watch.latest == 2


async def test_a_dead_socket_is_unlinked_by_the_writer(store: Store, db_path: Path, listener: SocketListener) -> None:
    directory = notify_dir(store.engine)
    assert directory is not None and listener.path.parent == directory
    dead = directory / "99999-dead.sock"
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(dead))
    gone.close()  # the file stays, as after a crash
    not_a_socket = directory / "stray.txt"
    not_a_socket.write_text("left alone")
    run = new_run(store)
    with listener.watch(run["run_id"]) as watch:
        await append(store, run["run_id"], "a")
        assert await watch.wait(0, PUSHED_WITHIN_S) is True
    assert not dead.exists()
    assert listener.path.exists() and not_a_socket.exists()


async def test_close_unlinks_the_socket_and_a_full_queue_wakes_every_watch(store: Store) -> None:
    listener = listener_for(store.engine)
    assert isinstance(listener, SocketListener) and listener.listening
    assert listener_for(store.engine) is listener, "one listener per process (and loop)"
    try:
        with listener.watch("quiet-run") as watch:
            assert store.notifier is not None
            # The loop does not read while this runs: the queue fills and later datagrams are refused.
            store.notifier.send({f"other-{i}": 1 for i in range(listener._qlen + 5)})
            assert await watch.wait(0, PUSHED_WITHIN_S) is True, "resync: a datagram may have been lost"
            assert watch.latest == 0
    finally:
        await close_listeners()
    assert not listener.listening and not listener.path.exists()


async def test_a_stream_gets_another_process_s_events_without_polling(store: Store, db_path: Path) -> None:
    run = new_run(store)
    got: list[tuple[Frame, float]] = []

    async def collect() -> None:
        async for f in run_frames(store, run, ("custom",), safety_poll_s=30.0, status_every_s=30.0):
            got.append((f, time.time()))

    writer = await Writer.start(db_path, run["run_id"])
    stream = asyncio.create_task(collect())
    try:
        await wait_for(lambda: [f.event for f, _ in got] == ["metadata"], timeout=10)
        await asyncio.sleep(0.2)  # the stream now waits on its watch (or, without the push, 30 s)
        writer.send("n1")
        started, _ = await writer.appended()
        await wait_for(lambda: len(got) == 2, timeout=PUSHED_WITHIN_S)
        assert got[1][0].id == "1" and got[1][1] - started < PUSHED_WITHIN_S
        writer.send("done")
        await writer.appended()
        await asyncio.wait_for(stream, PUSHED_WITHIN_S)
        assert [f.event for f, _ in got] == ["metadata", "custom", "custom", "end"]
        print(f"\nstream frame after another process's append started: {(got[1][1] - started) * 1000:.2f} ms")
    finally:
        stream.cancel()
        await writer.stop()
        await close_listeners()


async def test_final_values_and_the_thread_stream_are_pushed_too(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.routes import thread_stream
    from server.routes.thread_stream import EventStreamRequest, protocol_events

    monkeypatch.setattr(thread_stream, "SAFETY_POLL_S", 30.0)
    from server import streaming

    monkeypatch.setattr(streaming, "SAFETY_POLL_S", 30.0)
    monkeypatch.setattr(streaming, "STATUS_EVERY_S", 30.0)
    run = new_run(store)
    other = Store(store.path or "")  # a second writer, as the worker is
    try:
        waiting = asyncio.create_task(final_values(store, run, poll_s=30.0))
        events: list[dict[str, Any]] = []

        async def consume() -> None:
            body = EventStreamRequest(channels=["custom", "lifecycle"])
            async for event in protocol_events(store, run["thread_id"], body, poll_s=30.0):
                events.append(event)

        thread = asyncio.create_task(consume())
        await asyncio.sleep(0.3)  # both wait on their watches now
        assert not waiting.done() and events == []
        started = time.monotonic()
        await append(other, run["run_id"], "n1")
        await wait_for(lambda: bool(events), timeout=PUSHED_WITHIN_S)
        other.save_thread_state(run["thread_id"], "t1", {"answer": 42}, run["run_id"])
        await append(other, run["run_id"], "done", "run_finished")
        assert await asyncio.wait_for(waiting, PUSHED_WITHIN_S) == {"answer": 42}
        assert time.monotonic() - started < 2 * PUSHED_WITHIN_S
        thread.cancel()
    finally:
        other.close()
        await close_listeners()


async def test_a_socket_path_too_long_means_no_listener_and_streams_still_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database path itself is fine; its listener socket's path would not fit in sun_path.
    deep = tmp_path / ("d" * (SUN_PATH_MAX - len(str(tmp_path)) - 20))
    store = Store(deep / "steward.db")
    try:
        directory = notify_dir(store.engine)
        assert directory is not None and len(os.fsencode(directory)) < SUN_PATH_MAX
        with caplog.at_level(logging.WARNING, logger="steward.db.notify"):
            assert listener_for(store.engine) is None
            assert listener_for(store.engine) is None
        assert len([r for r in caplog.records if "cannot listen" in r.getMessage()]) == 1, "logged once"
        run = new_run(store)
        got: list[Frame] = []

        async def collect() -> None:
            async for f in run_frames(store, run, ("custom",), poll_s=0.05):
                got.append(f)

        stream = asyncio.create_task(collect())
        await wait_for(lambda: len(got) == 1, timeout=10)
        await append(store, run["run_id"], "n1")  # the writer finds no socket to send to: no error
        await append(store, run["run_id"], "done", "run_finished")
        await asyncio.wait_for(stream, 5)
        assert [f.event for f in got] == ["metadata", "custom", "custom", "end"]
    finally:
        store.close()
        await close_listeners()
