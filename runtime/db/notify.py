"""Push, not poll: an event append wakes the SSE streams that watch its run, on PostgreSQL and on SQLite.

**PostgreSQL.** The store issues ``pg_notify('steward_events', '<run_id>:<seq>')`` in the transaction that
appends events (``Store._append_events``), so PostgreSQL delivers it on commit, to every listening session, on
every replica, and never for a rolled-back append. Each API process holds **one** listening connection
(psycopg 3, autocommit, ``LISTEN steward_events``) per event loop: :func:`listener_for` starts it lazily on the
first stream (:class:`EventListener`).

**SQLite.** No NOTIFY, but every process that writes the file is on this machine, so the same payload travels
as a Unix datagram. An API process binds one ``AF_UNIX``/``SOCK_DGRAM`` socket per event loop in a folder next
to the database, ``<db file>.notify/<pid>-<random>.sock`` (:class:`SocketListener`, read with
``loop.add_reader``, no thread), and unlinks it on close. A writer (:class:`SocketNotifier`, held by the
``Store``) sends ``<run_id>:<seq>`` to every ``*.sock`` in that folder **after** the appending transaction has
committed (``Store._tx``), never for a rollback; a socket file whose listener is gone (refused) is unlinked, any
other send failure (a full queue, say) is ignored. A path too long for ``AF_UNIX`` or a failed bind is logged
once and :func:`listener_for` returns None: streams then poll every ``poll_s`` as before.

Either way the listener fans notifications out to the streams watching that run (:meth:`Listener.watch`). A
notification only says "look again": streams still read the log with ``Store.events_after``, so its content
never has to be trusted and a duplicate costs one read. What makes it safe to miss one:

- a :class:`RunWatch` is registered *before* the stream's first read, and remembers a wake-up that arrives
  while the stream is busy, so nothing falls between a read and the next wait;
- after every (re)connect or bind the listener wakes every watch once, since notifications sent while it was
  not listening are gone (PostgreSQL does not queue them for a session that is not there); on SQLite, a
  socket queue found full (``net.unix.max_dgram_qlen`` datagrams, beyond which a sender's datagram is
  refused) wakes every watch too;
- streams keep a slow safety poll (``server.streaming.SAFETY_POLL_S``, 1 s) in case all of that fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import Engine

log = logging.getLogger("steward.db.notify")

CHANNEL = "steward_events"
"""The one channel every event append notifies; the payload is ``<run_id>:<seq>`` (seq: the last appended)."""

SUN_PATH_MAX = 108
"""``sizeof(sun_path)`` on Linux: a socket path must fit in it with its terminating NUL."""
_DGRAM_MAX = 4096
"""The longest datagram a SocketListener reads; a payload is a run id and a number."""


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


def notify_dir(engine: Engine) -> Path | None:
    """The folder of a SQLite database's listener sockets (``<db file>.notify``); None for other databases
    and for an in-memory one (no other process can write it)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{Path(database).resolve()}.notify")


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


class Listener:
    """What streams use of a listener: watches per run, and the fan-out of ``<run_id>:<seq>`` notifications.

    Subclasses deliver the notifications (:meth:`dispatch`) and say when they are in effect (``_listening``).
    """

    def __init__(self) -> None:
        self.connects = 0
        """Times listening started so far (1 on a healthy run; each reconnect or rebind adds one)."""
        self._watches: dict[str, set[RunWatch]] = {}
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

    def _started_listening(self) -> None:
        """Listening is in effect: count it, and make every stream re-read once (what came before is lost)."""
        self.connects += 1
        self._listening.set()
        self._wake_all()

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start listening (idempotent); call from the loop the streams run on."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop listening."""
        raise NotImplementedError

    async def ready(self, within_s: float = 10.0) -> None:
        """Until listening is in effect (tests; a stream never waits for this, it has the safety poll)."""
        await asyncio.wait_for(self._listening.wait(), within_s)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()


class EventListener(Listener):
    """PostgreSQL: one LISTEN connection for this process and event loop; reconnects with backoff when it drops."""

    def __init__(
        self, dsn: str, *, first_backoff_s: float = 0.1, max_backoff_s: float = 5.0, keepalive_s: int = 10
    ) -> None:
        super().__init__()
        self.dsn = dsn
        self.first_backoff_s = first_backoff_s
        """First wait after a dropped connection; doubled per failed attempt."""
        self.max_backoff_s = max_backoff_s
        """Cap of the reconnect wait: how long a replica may stay deaf after the database is back."""
        self.keepalive_s = keepalive_s
        """TCP keepalive idle time: a silently dead link (no FIN, no RST) is noticed within a few multiples."""
        self.backend_pid: int | None = None
        """The listening session's server pid, while connected (what ``pg_terminate_backend`` takes)."""
        self._task: asyncio.Task[None] | None = None

    # -- the connection -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start listening in the background (idempotent); call from the loop the streams run on."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="steward-event-listener")

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
                # Whatever was notified while we were not listening is lost: every stream re-reads once.
                self._started_listening()
                log.info("listening on %s (session %s, connect #%d)", CHANNEL, self.backend_pid, self.connects)
                async for note in conn.notifies():
                    self.dispatch(note.payload)
        finally:
            self._listening.clear()
            self.backend_pid = None


def _max_dgram_qlen() -> int:
    """How many datagrams a Unix socket queues before senders are refused (``EAGAIN``); Linux's default 10."""
    try:
        return max(1, int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text().strip()))
    except (OSError, ValueError):
        return 10


def _discard(sock: socket.socket, path: str) -> None:
    """Close a listener's socket and remove its file (also run when a listener is dropped without close)."""
    sock.close()
    with suppress(OSError):
        os.unlink(path)


class SocketListener(Listener):
    """SQLite: one Unix datagram socket in ``<db file>.notify/`` for this process and event loop, read by the
    loop itself (``add_reader``); writers send to it after their commit (:class:`SocketNotifier`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(6)}.sock"
        self.received = 0
        """Datagrams read so far."""
        self._qlen = _max_dgram_qlen()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize[[socket.socket, str], SocketListener] | None = None

    def start(self) -> None:
        """Bind the socket and read it on the running loop (idempotent). Raises OSError when the path is too
        long for ``AF_UNIX`` or the bind fails; :func:`listener_for` then falls back to polling."""
        if self._sock is not None:
            return
        loop = asyncio.get_running_loop()
        where = os.fsencode(self.path)
        if len(where) >= SUN_PATH_MAX:
            raise OSError(f"socket path is {len(where)} bytes, longer than AF_UNIX allows ({SUN_PATH_MAX - 1})")
        self.directory.mkdir(exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        try:
            loop.add_reader(sock.fileno(), self._readable)
        except NotImplementedError as exc:  # a loop that cannot watch file descriptors
            _discard(sock, str(self.path))
            raise OSError(f"this event loop cannot read a socket: {exc}") from None
        self._finalizer = weakref.finalize(self, _discard, sock, str(self.path))
        self._sock, self._loop = sock, loop
        self._started_listening()
        log.info("listening for %s on %s", CHANNEL, self.path)

    async def close(self) -> None:
        """Stop reading, close the socket and unlink its file (writers skip it from then on)."""
        sock, loop, finalizer = self._sock, self._loop, self._finalizer
        self._sock = self._loop = self._finalizer = None
        self._listening.clear()
        if sock is None:
            return
        if loop is not None and not loop.is_closed():
            loop.remove_reader(sock.fileno())
        if finalizer is not None:
            finalizer()

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        n = 0
        while True:
            try:
                data = sock.recv(_DGRAM_MAX)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.debug("reading %s failed: %s", self.path, exc)
                break
            n += 1
            self.dispatch(data.decode("utf-8", "replace"))
        self.received += n
        if n >= self._qlen:
            # The queue was (nearly) full: a writer may have been refused a datagram; every stream re-reads.
            self._wake_all()


class SocketNotifier:
    """The writer's half on SQLite: sends ``<run_id>:<seq>`` to every listener socket in ``directory``.

    Thread-safe (one unbound, non-blocking datagram socket; ``sendto`` is one system call). Cost per committed
    append: one directory listing, plus one ``sendto`` per listener and run.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sent = 0
        """Datagrams accepted by a listener's queue so far."""
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def _socket(self) -> socket.socket:
        with self._lock:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                self._sock = sock
            return self._sock

    def send(self, latest: Mapping[str, int]) -> None:
        """Announce ``run_id -> last appended seq``; call only once the appending transaction has committed.

        Never raises: a listener that is gone has its socket file unlinked, any other failure is ignored
        (the streams' safety poll covers a lost datagram)."""
        if not latest:
            return
        try:
            targets = [e.path for e in os.scandir(self.directory) if e.name.endswith(".sock")]
        except OSError:
            return  # no folder: nobody has listened on this database yet
        if not targets:
            return
        try:
            sock = self._socket()
        except OSError as exc:
            log.debug("no socket to notify listeners: %s", exc)
            return
        datagrams = [payload(run_id, seq).encode() for run_id, seq in latest.items()]
        for target in targets:
            for datagram in datagrams:
                try:
                    sock.sendto(datagram, target)
                except (ConnectionRefusedError, FileNotFoundError):
                    # Nobody is bound there any more (a listener that died without closing): remove it.
                    with suppress(OSError):
                        os.unlink(target)
                    break
                except OSError:
                    break  # a full queue (the listener re-reads everything then) or anything else: skip it
                self.sent += 1

    def close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


_LISTENERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Listener | None]] = (
    weakref.WeakKeyDictionary()
)
_WARNED: set[str] = set()


def listener_for(engine: Engine) -> Listener | None:
    """This loop's listener for ``engine``'s database, started on first use; None where there is none to have
    (an in-memory SQLite database, or a socket that could not be bound): the caller polls instead.

    One per event loop and database: a listener's connection or socket and its reading belong to the loop
    that started them (an API process has one loop; tests may run several).
    """
    loop = asyncio.get_running_loop()
    per_loop = _LISTENERS.setdefault(loop, {})
    if engine.dialect.name == "postgresql":
        key = conninfo(engine)
        listener = per_loop.get(key)
        if listener is None:
            listener = per_loop[key] = EventListener(key)
        listener.start()
        return listener
    directory = notify_dir(engine)
    if directory is None:
        return None
    key = str(directory)
    if key in per_loop and per_loop[key] is None:
        return None  # binding failed before: don't retry (and log) per stream
    listener = per_loop.get(key) or SocketListener(directory)
    try:
        listener.start()  # idempotent; rebinds a listener closed on its own
    except OSError as exc:
        per_loop[key] = None
        if key not in _WARNED:
            _WARNED.add(key)
            log.warning("cannot listen for event notifications in %s (%s); streams poll the log instead", key, exc)
        return None
    per_loop[key] = listener
    return listener


async def close_listeners() -> None:
    """Close this loop's listeners (the API's shutdown)."""
    per_loop = _LISTENERS.pop(asyncio.get_running_loop(), {})
    for listener in per_loop.values():
        if listener is not None:
            await listener.close()
