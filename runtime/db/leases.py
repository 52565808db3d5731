"""Leases in the database: one holder per name until it expires, on SQLite and PostgreSQL alike.

Why a lease row and not a PostgreSQL session advisory lock: an advisory lock lives as long as one pooled
connection, does not exist on SQLite and cannot say who holds it; a row with a holder and an expiry works
through the same SQLAlchemy statement on both backends, survives a connection being recycled, and a crashed
holder simply stops renewing, so its lease lapses after ``ttl_s`` and another process takes over.

Acquiring is one atomic upsert: insert the row, or take it over only where the current holder is us (a
renewal) or its lease has expired. Expiry is judged by the *database's* clock, so replicas on machines with
skewed clocks agree on who holds what.

Two uses: ``LeaderLease`` (exactly one API replica drains the run queue) and :func:`hold` (a thread's
occupancy check and the start of its run happen under ``thread:<id>`` in one replica at a time).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, case, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runtime.db.engine import WRITE
from runtime.db.shared_state import leases
from runtime.errors import Conflict

_HOLDER = select(leases.c.holder, leases.c.expires_at).where(leases.c.name == bindparam("p_name"))
"""Built once: the run dispatcher asks it on every new run."""

__all__ = ["LeaderLease", "LeaseTimeout", "db_now", "hold", "holder_id", "lease_holder", "release", "try_acquire"]


class LeaseTimeout(Conflict):
    """A lease stayed held by another process for longer than the caller would wait."""


def holder_id(role: str = "api") -> str:
    """A holder name that says where it runs (host, pid) and is unique per instance (two in one process)."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def db_now(conn: Connection) -> float:
    """Seconds since the epoch by the database server's clock (one clock for every replica)."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())::float8")).scalar_one())
    return float(conn.execute(text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one())


def try_acquire(engine: Engine, name: str, holder: str, ttl_s: float) -> float | None:
    """Take or renew lease ``name`` for ``ttl_s`` seconds; returns its expiry (database clock) or None when
    another holder's lease is still valid."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        now = db_now(conn)
        expires = now + ttl_s
        stmt = insert(leases).values(name=name, holder=holder, acquired_at=now, expires_at=expires)
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={
                "holder": holder,
                "expires_at": expires,
                "acquired_at": case((leases.c.holder == holder, leases.c.acquired_at), else_=now),
            },
            where=(leases.c.holder == holder) | (leases.c.expires_at < now),
        )
        # RETURNING, not rowcount: psycopg reports -1 for an upsert through SQLAlchemy; a row comes back only
        # when the insert or the conditional update happened.
        taken = conn.execute(stmt.returning(leases.c.holder)).first()
        return expires if taken is not None else None


def release(engine: Engine, name: str, holder: str) -> bool:
    """Give a lease back (only our own: a lease that lapsed and was taken over is left to its new holder)."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        return conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder)).rowcount == 1


def lease_holder(engine: Engine, name: str) -> str | None:
    """Who holds ``name`` now (an expired lease is held by nobody)."""
    with engine.connect() as conn:
        now = db_now(conn)
        row = conn.execute(_HOLDER, {"p_name": name}).first()
    return row.holder if row is not None and row.expires_at >= now else None


@asynccontextmanager
async def hold(
    engine: Engine, name: str, holder: str, *, ttl_s: float = 60.0, wait_s: float = 15.0, retry_s: float = 0.02
) -> AsyncIterator[None]:
    """Hold lease ``name`` for the body, waiting up to ``wait_s`` for another holder to release it.

    ``ttl_s`` bounds how long a crashed holder blocks others; it must exceed the body's longest run (the
    dispatcher's body is an occupancy read and one Temporal start). Raises :class:`LeaseTimeout` (a 409) when
    the wait runs out. Database calls run in a thread: the event loop never waits on the database.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay = retry_s
    while await asyncio.to_thread(try_acquire, engine, name, holder, ttl_s) is None:
        if loop.time() >= deadline:
            other = await asyncio.to_thread(lease_holder, engine, name)
            raise LeaseTimeout(f"{name!r} is held by {other or 'another process'}; gave up after {wait_s:g}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
    try:
        yield
    finally:
        await asyncio.shield(asyncio.to_thread(release, engine, name, holder))


@dataclass
class LeaderLease:
    """Leadership of one job (``name``) among replicas: held while renewed, lost when renewals stop.

    ``is_leader()`` is cheap when nothing changes: a follower reads the row and writes only once the
    leader's lease has expired; the leader writes a renewal once ``renew_s`` has passed. A leader that cannot
    renew in time (database down) stops acting as leader at its lease's expiry, before anyone can take over.
    """

    engine: Engine
    name: str
    holder: str
    ttl_s: float = 10.0
    """How long a lapsed leader blocks a successor: short enough for a quick takeover, long enough to ride
    out a slow renewal."""
    renew_s: float = 3.0
    """How often the leader extends its lease (well under ``ttl_s``)."""
    _expires_at: float = 0.0
    _renewed_at: float = float("-inf")

    def is_leader(self) -> bool:
        """Acquire, renew or check the lease; True while this instance holds it. Blocking: call in a thread."""
        loop_now = time.monotonic()
        if self._expires_at and loop_now - self._renewed_at < self.renew_s:
            return True
        if not self._expires_at:
            current = lease_holder(self.engine, self.name)
            if current is not None and current != self.holder:
                return False
        expires = try_acquire(self.engine, self.name, self.holder, self.ttl_s)
        if expires is None:
            self._expires_at = 0.0
            return False
        self._expires_at, self._renewed_at = expires, loop_now
        return True

    def resign(self) -> None:
        """Release leadership now (clean shutdown), so a successor need not wait for the expiry."""
        if self._expires_at:
            release(self.engine, self.name, self.holder)
        self._expires_at = 0.0
