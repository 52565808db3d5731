"""The approvals index: what the inbox, the CLI and /metrics read (Temporal holds the decision itself)."""

from sqlalchemy import Column, Float, Index, Table, Text

from runtime.db._meta import metadata

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("thread_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("assistant_id", Text, nullable=False),
    Column("tool", Text, nullable=False),
    Column("tool_call_id", Text, nullable=False),
    Column("args", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("risk", Text, nullable=False),
    Column("required_role", Text, nullable=False),
    Column("requester", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("deadline_at", Float),
    Column("decided_by", Text),
    Column("decided_at", Float),
    Column("action", Text),
    Column("comment", Text),
    Column("final_args", Text),
    Column("request", Text, nullable=False),
    Index("approvals_status", "tenant", "status", "created_at"),
)
