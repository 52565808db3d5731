"""The hash-chained audit log, its keyed head anchor and MAC'd checkpoints (see ``runtime/audit.py``)."""

from sqlalchemy import CheckConstraint, Column, Float, Integer, Table, Text

from runtime.db._meta import metadata

audit = Table(
    "audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("run_id", Text),
    Column("key", Text, unique=True),
    Column("data", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("mac", Text, nullable=False),
    CheckConstraint("id = 1"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hash", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("mac", Text, nullable=False),
)
