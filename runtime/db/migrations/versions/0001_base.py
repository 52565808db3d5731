"""The app store as it was before migrations: threads, runs, the run queue, approvals, events, the execution
ledgers, API keys and the audit chain.

Revision ID: 0001_base
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("thread_id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("state", sa.Text, nullable=False, server_default="{}"),
        sa.Column("last_run_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="idle"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, nullable=False),
        sa.Column("assistant_id", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("requester", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("input", sa.Text, nullable=False, server_default="{}"),
        sa.Column("output", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("runs_thread", "runs", ["thread_id", "created_at"])
    op.create_table(
        "run_queue",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("approval_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("thread_id", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("assistant_id", sa.Text, nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("tool_call_id", sa.Text, nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("risk", sa.Text, nullable=False),
        sa.Column("required_role", sa.Text, nullable=False),
        sa.Column("requester", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("deadline_at", sa.Float),
        sa.Column("decided_by", sa.Text),
        sa.Column("decided_at", sa.Float),
        sa.Column("action", sa.Text),
        sa.Column("comment", sa.Text),
        sa.Column("final_args", sa.Text),
        sa.Column("request", sa.Text, nullable=False),
    )
    op.create_index("approvals_status", "approvals", ["tenant", "status", "created_at"])
    op.create_table(
        "events",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "key"),
    )
    op.create_table(
        "tool_executions",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("tool_call_id", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("approval_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    op.create_table(
        "node_executions",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("node", sa.Text, nullable=False),
        sa.Column("task_key", sa.Text, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.Text, primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("key", sa.Text, unique=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
    )


def downgrade() -> None:
    from runtime.db.migrate import refuse_if_rows

    names = ("audit", "api_keys", "node_executions", "tool_executions", "events", "approvals", "run_queue")
    for name in (*names, "runs", "threads"):
        refuse_if_rows(op.get_bind(), name)
    for name in (*names, "runs", "threads"):
        op.drop_table(name)
