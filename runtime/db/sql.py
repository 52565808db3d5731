"""The two statements SQLite and PostgreSQL spell alike but SQLAlchemy builds per dialect: insert-or-ignore
and upsert (both ``INSERT ... ON CONFLICT``), and the store's advisory-lock keys.

Advisory lock keys (PostgreSQL): one-key locks and two-key locks are separate key spaces. One-key locks are
``0x5354_xxxx`` ("ST" + a number), one per serialised thing; two-key locks are (class, ``hashtext(id)``),
one class per kind of row set. Any new lock takes the next free number here, so two never collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

MIGRATION_LOCK = 0x5354_0001
"""Schema upgrades: one replica migrates at a time."""
AUDIT_LOCK = 0x5354_0002
"""The audit chain's head: one append at a time, across every process."""
EVENTS_LOCK_CLASS = 0x5354
"""Two-key class for per-run event sequences: ``(EVENTS_LOCK_CLASS, hashtext(run_id))``."""


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any] | list[dict[str, Any]]) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING``: a row whose key is already there is skipped (idempotent retries)."""
    # preserve_rowcount: callers learn from rowcount whether the row was new (SQLAlchemy drops it for INSERTs).
    return _insert(conn, table).values(values).on_conflict_do_nothing().execution_options(preserve_rowcount=True)


def upsert(
    conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE``: the columns in ``update`` take the new row's values."""
    stmt = _insert(conn, table).values(values)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
