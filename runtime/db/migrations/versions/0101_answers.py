"""Answers to operators' follow-up questions about runs, with their citations (issue 14's chat console).

Revision ID: 0101_answers
Revises: 0100_shared_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_answers"
down_revision = "0100_shared_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("asked_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("answers_thread", "answers", ["thread_id", "created_at"])


def downgrade() -> None:
    from runtime.db.migrate import refuse_if_rows

    refuse_if_rows(op.get_bind(), "answers")  # an operator's conversation is a record: never dropped silently
    op.drop_index("answers_thread", table_name="answers")
    op.drop_table("answers")
