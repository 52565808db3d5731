"""Threads, the runs index and the queue of runs waiting for a busy thread (multitask strategy enqueue).

JSON columns are ``Text`` holding the store's canonical JSON (masked, sorted keys): the same bytes on SQLite
and PostgreSQL, which the audit chain's hashes and the card-masking guarantee both rely on.
"""

from sqlalchemy import Column, Float, Index, Table, Text

from runtime.db._meta import metadata

threads = Table(
    "threads",
    metadata,
    Column("thread_id", Text, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("state", Text, nullable=False, server_default="{}"),
    Column("last_run_id", Text),
    Column("status", Text, nullable=False, server_default="idle"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("thread_id", Text, nullable=False),
    Column("assistant_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("requester", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("input", Text, nullable=False, server_default="{}"),
    Column("output", Text),
    Column("error", Text),
    Index("runs_thread", "thread_id", "created_at"),
)

run_queue = Table(
    "run_queue",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("thread_id", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
