"""The audit chain's keyed head anchor and MAC'd checkpoints (before migrations, ``runtime/audit.py``
created them on the first append).

Revision ID: 0003_audit_anchor
Revises: 0002_outbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_anchor"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("mac", sa.Text, nullable=False),
        sa.CheckConstraint("id = 1"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("mac", sa.Text, nullable=False),
    )


def downgrade() -> None:
    from runtime.db.migrate import refuse_if_rows

    for name in ("audit_checkpoints", "audit_head"):
        refuse_if_rows(op.get_bind(), name)
    for name in ("audit_checkpoints", "audit_head"):
        op.drop_table(name)
