"""Push, not poll: PostgreSQL LISTEN/NOTIFY wakes the SSE streams of every API replica when an event lands.

The store issues ``pg_notify('steward_events', '<run_id>:<seq>')`` in the transaction that appends events
(``Store._append_events``), so PostgreSQL delivers it on commit, to every listening session, on every replica,
and never for a rolled-back append. Each API process holds **one** listening connection (psycopg 3,
autocommit, ``LISTEN steward_events``) per event loop: :func:`listener_for` starts it lazily on the first
stream, and it fans notifications out to the streams watching that run (:meth:`EventListener.watch`).

A notification only says "look again": streams still read the log with ``Store.events_after``, so the
notification's content never has to be trusted and a duplicate costs one read. What makes it safe to miss
one:

- a :class:`RunWatch` is registered *before* the stream's first read, and remembers a wake-up that arrives
  while the stream is busy, so nothing falls between a read and the next wait;
- after every (re)connect the listener wakes every watch once, since notifications sent while it was not
  listening are gone (PostgreSQL does not queue them for a session that is not there);
- streams keep a slow safety poll (``server.streaming.SAFETY_POLL_S``, 1 s) in case all of that fails.

SQLite has no NOTIFY: :func:`listener_for` returns None and streams poll the log every 50 ms, as before.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Engine

log = logging.getLogger("steward.db.notify")

CHANNEL = "steward_events"
"""The one channel every event append notifies; the payload is ``<run_id>:<seq>`` (seq: the last appended)."""


def payload(run_id: str, seq: int) -> str:
    """What the store sends; PostgreSQL caps a payload at 8000 bytes, far above a run id."""
    return f"{run_id}:{seq}"


def _parse(text: str) -> tuple[str, int] | None:
    run_id, sep, seq = text.rpartition(":")
    if not sep or not run_id:
        return None
    try:
        return run_id, int(seq)
    except ValueError:
        return None


def conninfo(engine: Engine) -> str:
    """The engine's URL as libpq understands it (SQLAlchemy's ``postgresql+psycopg`` scheme is not)."""
    url = engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class RunWatch:
    """One stream's interest in one run: remembers the highest ``seq`` notified, and whether it was woken
    for a resync (reconnect), until the stream waits again."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.latest = 0
        self._resync = False
        self._changed = asyncio.Event()

    def _notify(self, seq: int) -> None:
        if seq > self.latest:
            self.latest = seq
            self._changed.set()

    def _wake(self) -> None:
        self._resync = True
        self._changed.set()

    async def wait(self, after: int, within_s: float) -> bool:
        """Until an event after ``after`` is announced (or a resync), at most ``within_s`` seconds.

        Returns True when woken, False on timeout; either way the caller reads the log next.
        """
        while True:
            if self.latest > after or self._resync:
                self._resync = False
                return True
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), within_s)
            except TimeoutError:
                return False


class EventListener:
    """One LISTEN connection for this process and event loop; reconnects with backoff when it drops."""

    def __init__(
        self, dsn: str, *, first_backoff_s: float = 0.1, max_backoff_s: float = 5.0, keepalive_s: int = 10
    ) -> None:
        self.dsn = dsn
        self.first_backoff_s = first_backoff_s
        """First wait after a dropped connection; doubled per failed attempt."""
        self.max_backoff_s = max_backoff_s
        """Cap of the reconnect wait: how long a replica may stay deaf after the database is back."""
        self.keepalive_s = keepalive_s
        """TCP keepalive idle time: a silently dead link (no FIN, no RST) is noticed within a few multiples."""
        self.connects = 0
        """Successful LISTENs so far (1 on a healthy run; each reconnect adds one)."""
        self.backend_pid: int | None = None
        """The listening session's server pid, while connected (what ``pg_terminate_backend`` takes)."""
        self._watches: dict[str, set[RunWatch]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    # -- streams --------------------------------------------------------------------------------------------
    @contextmanager
    def watch(self, run_id: str) -> Iterator[RunWatch]:
        """Watch ``run_id`` for the body; register before the first read so no wake-up falls in between."""
        w = RunWatch(run_id)
        self._watches.setdefault(run_id, set()).add(w)
        try:
            yield w
        finally:
            group = self._watches.get(run_id)
            if group is not None:
                group.discard(w)
                if not group:
                    del self._watches[run_id]

    def dispatch(self, text: str) -> None:
        """Wake the watches of the run a notification names (unknown runs cost a dict lookup)."""
        parsed = _parse(text)
        if parsed is None:
            log.debug("ignoring notification %r on %s", text[:80], CHANNEL)
            return
        for w in self._watches.get(parsed[0], ()):
            w._notify(parsed[1])

    def _wake_all(self) -> None:
        for group in self._watches.values():
            for w in group:
                w._wake()

    # -- the connection -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start listening in the background (idempotent); call from the loop the streams run on."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="steward-event-listener")

    async def ready(self, within_s: float = 10.0) -> None:
        """Until LISTEN is in effect (tests; a stream never waits for this, it has the safety poll)."""
        await asyncio.wait_for(self._listening.wait(), within_s)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self.first_backoff_s
        while True:
            connects = self.connects
            try:
                await self._listen()
                reason = "the server ended the session"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the link means: reconnect later
                reason = str(exc).strip() or type(exc).__name__
            if self.connects > connects:
                delay = self.first_backoff_s  # it was listening: this is a new outage, not the same one
            log.warning("event listener lost %s (%s); reconnecting in %.1fs", CHANNEL, reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)

    async def _listen(self) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.dsn,
            autocommit=True,
            keepalives=1,
            keepalives_idle=self.keepalive_s,
            keepalives_interval=max(1, self.keepalive_s // 3),
            keepalives_count=3,
            application_name="steward-event-listener",
        )
        try:
            async with conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                self.backend_pid = conn.info.backend_pid
                self.connects += 1
                self._listening.set()
                # Whatever was notified while we were not listening is lost: every stream re-reads once.
                self._wake_all()
                log.info("listening on %s (session %s, connect #%d)", CHANNEL, self.backend_pid, self.connects)
                async for note in conn.notifies():
                    self.dispatch(note.payload)
        finally:
            self._listening.clear()
            self.backend_pid = None


_LISTENERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, EventListener]] = weakref.WeakKeyDictionary()


def listener_for(engine: Engine) -> EventListener | None:
    """This loop's listener for ``engine``'s database, started on first use; None on SQLite (poll instead).

    One per event loop and database: a listener's connection and task belong to the loop that started them
    (an API process has one loop; tests may run several).
    """
    if engine.dialect.name != "postgresql":
        return None
    loop = asyncio.get_running_loop()
    dsn = conninfo(engine)
    per_loop = _LISTENERS.setdefault(loop, {})
    listener = per_loop.get(dsn)
    if listener is None:
        listener = per_loop[dsn] = EventListener(dsn)
    listener.start()
    return listener


async def close_listeners() -> None:
    """Close this loop's listeners (the API's shutdown)."""
    per_loop = _LISTENERS.pop(asyncio.get_running_loop(), {})
    for listener in per_loop.values():
        await listener.close()
