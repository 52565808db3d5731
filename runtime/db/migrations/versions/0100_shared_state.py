"""State that every replica and worker shares through the database instead of holding it per process:
leases (the dispatcher's leadership, a thread's occupancy while a run is admitted), circuit breaker
snapshots (one endpoint shows every process's breakers), the scraper's per-host request spacing and its
robots.txt cache.

Revision ID: 0100_shared_state
Revises: 0003_audit_anchor
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100_shared_state"
down_revision = "0003_audit_anchor"
branch_labels = None
depends_on = None

_TABLES = ("leases", "breaker_states", "scraper_hosts", "robots_cache")


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "breaker_states",
        sa.Column("breaker", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("failure_threshold", sa.Integer, nullable=False),
        sa.Column("cooldown_s", sa.Float, nullable=False),
        sa.Column("opened_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("fallback", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "scraper_hosts",
        sa.Column("host", sa.Text, primary_key=True),
        sa.Column("next_at", sa.Float, nullable=False),
    )
    op.create_table(
        "robots_cache",
        sa.Column("base_url", sa.Text, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("fetched_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    from runtime.db.migrate import refuse_if_rows

    # Leases, breaker snapshots and caches are rebuilt by running processes: nothing of record is lost,
    # but a held lease would be dropped under its holder, so the usual guard applies to leases only.
    refuse_if_rows(op.get_bind(), "leases")
    for name in _TABLES:
        op.drop_table(name)
