"""Alembic, driven from code: every store opens by upgrading its database to head.

The script directory lives inside this package (``runtime/db/migrations``), so migrations run from an
installed wheel or a clean clone with no ``alembic.ini``. Replicas that start together do not race: on
PostgreSQL the upgrade holds a transaction-scoped advisory lock, on SQLite the write lock
(``BEGIN IMMEDIATE``), and the whole upgrade is one transaction (both backends have transactional DDL).

A database made before migrations existed (tables present, no ``alembic_version``) is adopted: it is stamped
at the newest revision whose tables it already has, and the remaining revisions run on top. A revision that
would drop a table or column still holding data refuses (:class:`DataLossRefused`) instead of running.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Float, MetaData, Table, Text, func, inspect, select, table, text

from runtime.db.engine import WRITE, is_postgresql
from runtime.db.sql import MIGRATION_LOCK
from runtime.errors import UserError

log = logging.getLogger("steward.db")

HEAD = "head"
MIGRATIONS = Path(__file__).parent / "migrations"

# What the pre-migration code created, per revision (a legacy database is stamped at the last one it has).
_LEGACY_TABLES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "0001_base",
        frozenset(
            {"threads", "runs", "approvals", "events", "tool_executions", "node_executions", "api_keys", "audit"}
        ),
    ),
    ("0002_outbox", frozenset({"outbox"})),
    ("0003_audit_anchor", frozenset({"audit_head", "audit_checkpoints"})),
)


class DataLossRefused(UserError):
    """A migration would drop a table or column that holds data."""


def _config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Bring the database to ``revision`` (default head), adopting a pre-migration database first."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        if is_postgresql(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        cfg = _config(conn)
        _adopt_legacy(conn, cfg)
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Step back to ``revision``; refused (and rolled back) if a dropped table or column holds data."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        if is_postgresql(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        command.downgrade(_config(conn), revision)


def _adopt_legacy(conn: Connection, cfg: Config) -> None:
    present = set(inspect(conn).get_table_names())
    if "alembic_version" in present or "threads" not in present:
        return
    stamp: str | None = None
    for revision, tables in _LEGACY_TABLES:
        if not tables <= present:
            break
        stamp = revision
    if stamp is None:
        # Tables from an older layout, but not all of 0001's: the base revision creates what is missing.
        log.warning("app store has a partial pre-migration schema (%s); completing it", sorted(present))
        return
    log.warning("app store predates migrations; stamping it at %s and upgrading", stamp)
    command.stamp(cfg, stamp)
    # run_queue was created lazily by the old store, so a legacy file may lack it: 0001_base's table.
    if "run_queue" not in present:
        legacy_queue = Table(
            "run_queue",
            MetaData(),
            Column("run_id", Text, primary_key=True),
            Column("thread_id", Text, nullable=False),
            Column("principal", Text, nullable=False),
            Column("created_at", Float, nullable=False),
        )
        legacy_queue.create(conn)


def script_heads() -> tuple[str, ...]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return tuple(ScriptDirectory.from_config(cfg).get_heads())


# -- guards for revisions ------------------------------------------------------------------------
def refuse_if_rows(conn: Connection, table_name: str) -> None:
    """Call before ``op.drop_table``: a table with rows is not dropped."""
    if not inspect(conn).has_table(table_name):
        return
    n = conn.execute(select(func.count()).select_from(table(table_name))).scalar_one()
    if n:
        raise DataLossRefused(
            f"migration refused: dropping table {table_name!r} would delete {n} row(s); export or move them "
            "first (or write a revision that migrates them)"
        )


def refuse_if_values(conn: Connection, table_name: str, column_name: str) -> None:
    """Call before ``op.drop_column``: a column with any non-NULL value is not dropped."""
    if not inspect(conn).has_table(table_name):
        return
    n = conn.execute(
        text(f"SELECT COUNT(*) FROM {table_name} WHERE {column_name} IS NOT NULL")  # noqa: S608 - names from code
    ).scalar_one()
    if n:
        raise DataLossRefused(
            f"migration refused: dropping column {table_name}.{column_name} would delete {n} value(s)"
        )
