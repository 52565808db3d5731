"""Tables for state that replicas and workers share instead of holding per process (revision
``0100_shared_state``): leases, circuit breaker snapshots, the scraper's per-host spacing and robots cache;
and the scraper's politeness on those last two (:class:`SharedPoliteness`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Engine, Float, Integer, Table, Text, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from runtime.db._meta import metadata
from runtime.db.engine import WRITE
from runtime.db.sql import upsert

log = logging.getLogger("steward.db.shared_state")

if TYPE_CHECKING:
    from tools.scraper import Politeness, RobotsFetch

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""A named lease: ``dispatcher`` (the one replica that drains the run queue), ``thread:<id>`` (the replica
admitting a run to that thread). Times are the database's clock, so replicas with skewed clocks agree."""

breaker_states = Table(
    "breaker_states",
    metadata,
    Column("breaker", Text, primary_key=True),
    Column("holder", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("failure_threshold", Integer, nullable=False),
    Column("cooldown_s", Float, nullable=False),
    Column("opened_at", Float),
    Column("last_error", Text),
    Column("fallback", Text),
    Column("updated_at", Float, nullable=False),
)
"""The last state each process reported for each of its breakers (a breaker lives in the process that calls
through it; this table is how one endpoint shows them all)."""

scraper_hosts = Table(
    "scraper_hosts",
    metadata,
    Column("host", Text, primary_key=True),
    Column("next_at", Float, nullable=False),
)
"""The earliest time (database clock) the next request to a host may go out, for every worker."""

robots_cache = Table(
    "robots_cache",
    metadata,
    Column("base_url", Text, primary_key=True),
    Column("body", Text, nullable=False),
    Column("status_code", Integer),
    Column("fetched_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""A host's robots.txt as fetched (the rules text it stands for), until ``expires_at``."""


# -- the scraper's politeness, shared by every worker (tools/scraper.py's ``Politeness``) -------------------


def _insert(conn: Connection, table: Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def reserve_host_slot(engine: Engine, host: str, interval_s: float) -> float:
    """Take the next free request slot for ``host`` and return how many seconds to wait for it.

    One atomic upsert: the slot is the later of the host's ``next_at`` and now (the database's clock), and
    ``next_at`` moves to slot + ``interval_s``; concurrent callers in any process get successive slots
    (the row lock on PostgreSQL, SQLite's write lock), so a host sees one spacing from all workers together.
    """
    from runtime.db.leases import db_now

    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        now = db_now(conn)
        later = case((scraper_hosts.c.next_at > now, scraper_hosts.c.next_at), else_=now)
        stmt = _insert(conn, scraper_hosts).values(host=host, next_at=now + interval_s)
        stmt = stmt.on_conflict_do_update(index_elements=[scraper_hosts.c.host], set_={"next_at": later + interval_s})
        next_at = float(conn.execute(stmt.returning(scraper_hosts.c.next_at)).scalar_one())
    return max(0.0, next_at - interval_s - now)


def defer_host(engine: Engine, host: str, delay_s: float) -> None:
    """No request to ``host`` before ``delay_s`` from now (database clock): after a response, or a 429's
    ``Retry-After``. A later ``next_at`` (slots other workers reserved) is kept."""
    from runtime.db.leases import db_now

    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        until = db_now(conn) + delay_s
        later = case((scraper_hosts.c.next_at > until, scraper_hosts.c.next_at), else_=until)
        stmt = _insert(conn, scraper_hosts).values(host=host, next_at=until)
        conn.execute(stmt.on_conflict_do_update(index_elements=[scraper_hosts.c.host], set_={"next_at": later}))


def read_robots(engine: Engine, base_url: str) -> str | None:
    """The cached rules text for ``base_url``, or None when absent or expired (database clock)."""
    from runtime.db.leases import db_now

    with engine.connect() as conn:
        now = db_now(conn)
        row = conn.execute(
            select(robots_cache.c.body).where(robots_cache.c.base_url == base_url, robots_cache.c.expires_at > now)
        ).first()
    return None if row is None else str(row.body)


def write_robots(engine: Engine, base_url: str, body: str, status_code: int | None, ttl_s: float) -> None:
    """Cache the rules text ``base_url``'s robots.txt stands for, for ``ttl_s`` seconds."""
    from runtime.db.leases import db_now

    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        now = db_now(conn)
        row = {
            "base_url": base_url,
            "body": body,
            "status_code": status_code,
            "fetched_at": now,
            "expires_at": now + ttl_s,
        }
        upsert(conn, robots_cache, row, ["base_url"], ["body", "status_code", "fetched_at", "expires_at"])


def forget_hosts(engine: Engine, hosts: list[str], base_urls: list[str]) -> None:
    """Drop the spacing and robots rows of these hosts (an allow-list replaced in tests and demos)."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        conn.execute(delete(scraper_hosts).where(scraper_hosts.c.host.in_(hosts)))
        conn.execute(delete(robots_cache).where(robots_cache.c.base_url.in_(base_urls)))


class SharedPoliteness:
    """The scraper's per-host spacing and robots cache in the app store, shared by every worker.

    Install it with ``tools.scraper.install_politeness`` (the worker does). Database calls run in a thread.
    A robots.txt is fetched by one worker at a time (lease ``robots:<base_url>``), so two workers that miss
    the cache together still fetch it once. When the database fails, the scraper is not stopped: it falls back
    to this process's own spacing and cache (``fallback``) and logs why.
    """

    def __init__(self, engine: Engine, fallback: Politeness) -> None:
        self.engine = engine
        self.fallback = fallback
        """Per-process politeness used while the database is unreachable."""
        self.holder = f"scraper@{uuid.uuid4().hex[:12]}"

    async def reserve(self, host: str, interval_s: float) -> float:
        try:
            return await asyncio.to_thread(reserve_host_slot, self.engine, host, interval_s)
        except SQLAlchemyError as exc:
            log.warning("scraper spacing for %s from this process only: %s", host, exc)
            return await self.fallback.reserve(host, interval_s)

    async def defer(self, host: str, delay_s: float) -> None:
        try:
            await asyncio.to_thread(defer_host, self.engine, host, delay_s)
        except SQLAlchemyError as exc:
            log.warning("scraper Retry-After for %s kept in this process only: %s", host, exc)
            await self.fallback.defer(host, delay_s)

    async def robots(self, base_url: str, fetch: RobotsFetch) -> str:
        from runtime.db.leases import LeaseTimeout, hold

        try:
            cached = await asyncio.to_thread(read_robots, self.engine, base_url)
            if cached is not None:
                return cached
            # A holder per call: the lease treats its own holder as a renewal, so a shared id would let two
            # of this worker's calls in together.
            holder = f"{self.holder}:{uuid.uuid4().hex[:8]}"
            async with hold(self.engine, f"robots:{base_url}", holder, ttl_s=60.0, wait_s=30.0):
                cached = await asyncio.to_thread(read_robots, self.engine, base_url)
                if cached is not None:  # another worker fetched it while we waited
                    return cached
                body, status, ttl_s = await fetch()
                await asyncio.to_thread(write_robots, self.engine, base_url, body, status, ttl_s)
                return body
        except (SQLAlchemyError, LeaseTimeout) as exc:
            log.warning("robots.txt of %s cached in this process only: %s", base_url, exc)
            return await self.fallback.robots(base_url, fetch)

    def clear(self, hosts: list[str], base_urls: list[str]) -> None:
        self.fallback.clear(hosts, base_urls)
        try:
            forget_hosts(self.engine, hosts, base_urls)
        except SQLAlchemyError as exc:
            log.warning("could not forget scraper state of %s: %s", hosts, exc)
