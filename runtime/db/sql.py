"""The two statements SQLite and PostgreSQL spell alike but SQLAlchemy builds per dialect: insert-or-ignore
and upsert (both ``INSERT ... ON CONFLICT``), and the store's advisory-lock keys.

Advisory lock keys (PostgreSQL): one-key locks and two-key locks are separate key spaces. One-key locks are
``0x5354_xxxx`` ("ST" + a number), one per serialised thing; two-key locks are (class, ``hashtext(id)``),
one class per kind of row set. Any new lock takes the next free number here, so two never collide.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

MIGRATION_LOCK = 0x5354_0001
"""Schema upgrades: one replica migrates at a time."""
AUDIT_LOCK = 0x5354_0002
"""The audit chain's head: one append at a time, across every process."""
EVENTS_LOCK_CLASS = 0x5354
"""Two-key class for per-run event sequences: ``(EVENTS_LOCK_CLASS, hashtext(run_id))``."""


@functools.cache
def _insert_ignore_stmt(dialect: str, table: Table) -> Insert:
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    # preserve_rowcount: callers learn from rowcount whether the row was new (SQLAlchemy drops it for INSERTs).
    return ins.on_conflict_do_nothing().execution_options(preserve_rowcount=True)


@functools.cache
def _upsert_stmt(dialect: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Insert:
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in update})


# Both statements are built once per (dialect, table) and executed with the row as parameters. Building
# ``insert(table).values(row)`` per call made SQLAlchemy coerce every value into a bind parameter and hash the
# new statement for its compiled cache: about 60 % of a one-row write's CPU, and a run writes a dozen rows.
# The SQL sent is the same (its column list follows the row's keys; SQLAlchemy caches one compiled form each).


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any] | list[dict[str, Any]]) -> CursorResult[Any]:
    """``INSERT ... ON CONFLICT DO NOTHING``, executed: a row whose key is already there is skipped (idempotent
    retries); ``rowcount`` says whether it was new. A list is one executemany (its rows share their keys)."""
    return conn.execute(_insert_ignore_stmt(conn.dialect.name, table), values)


def upsert(
    conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> CursorResult[Any]:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE``, executed: the columns in ``update`` take the new row's
    values."""
    return conn.execute(_upsert_stmt(conn.dialect.name, table, tuple(keys), tuple(update)), values)
