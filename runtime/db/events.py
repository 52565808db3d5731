"""The per-run event log SSE streams read: ``seq`` orders a run's events, ``key`` makes a retried append a
no-op (``UNIQUE (run_id, key)``)."""

from sqlalchemy import Column, Float, Integer, Table, Text, UniqueConstraint

from runtime.db._meta import metadata

events = Table(
    "events",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("key", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("ts", Float, nullable=False),
    UniqueConstraint("run_id", "key"),
)
