"""The transactional outbox of webhook actions (see ``runtime/outbox.py``)."""

from sqlalchemy import Column, Float, Index, Integer, Table, Text

from runtime.db._meta import metadata

outbox = Table(
    "outbox",
    metadata,
    Column("idempotency_key", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("tool_call_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("tool", Text, nullable=False),
    Column("adapter", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("delivery", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_owner", Text),
    Column("lease_until", Float),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("outbox_due", "delivery", "next_attempt_at"),
    Index("outbox_run", "run_id"),
)
