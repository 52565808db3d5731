"""The app store's schema and connections: SQLAlchemy Core tables split by concern, one engine factory for
SQLite (the embedded default) and PostgreSQL (``STEWARD_DATABASE_URL``), and Alembic migrations applied when a
store opens.

Why Core and not the ORM: the store's writes are a handful of idempotent statements (``ON CONFLICT DO
NOTHING``, advisory locks, ``MAX(seq)+1`` under a lock) whose exact SQL matters for correctness under
concurrent writers; Core says that SQL plainly and still renders it for both dialects.
"""

from runtime.db.engine import DatabaseUnavailable, is_postgresql, make_engine, redact_url, sqlite_url, wait_for_database
from runtime.db.enums import ApprovalStatus, NodeStatus, RunStatus, ThreadStatus, ToolStatus
from runtime.db.migrate import HEAD, DataLossRefused, current_revision, downgrade, upgrade
from runtime.db.tables import metadata

__all__ = [
    "HEAD",
    "ApprovalStatus",
    "DataLossRefused",
    "DatabaseUnavailable",
    "NodeStatus",
    "RunStatus",
    "ThreadStatus",
    "ToolStatus",
    "current_revision",
    "downgrade",
    "is_postgresql",
    "make_engine",
    "metadata",
    "redact_url",
    "sqlite_url",
    "upgrade",
    "wait_for_database",
]
