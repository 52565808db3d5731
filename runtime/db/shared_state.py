"""Tables for state that replicas and workers share instead of holding per process (revision
``0100_shared_state``): leases, circuit breaker snapshots, the scraper's per-host spacing and robots cache.
"""

from sqlalchemy import Column, Float, Integer, Table, Text

from runtime.db._meta import metadata

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""A named lease: ``dispatcher`` (the one replica that drains the run queue), ``thread:<id>`` (the replica
admitting a run to that thread). Times are the database's clock, so replicas with skewed clocks agree."""

breaker_states = Table(
    "breaker_states",
    metadata,
    Column("breaker", Text, primary_key=True),
    Column("holder", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("failure_threshold", Integer, nullable=False),
    Column("cooldown_s", Float, nullable=False),
    Column("opened_at", Float),
    Column("last_error", Text),
    Column("fallback", Text),
    Column("updated_at", Float, nullable=False),
)
"""The last state each process reported for each of its breakers (a breaker lives in the process that calls
through it; this table is how one endpoint shows them all)."""

scraper_hosts = Table(
    "scraper_hosts",
    metadata,
    Column("host", Text, primary_key=True),
    Column("next_at", Float, nullable=False),
)
"""The earliest time (database clock) the next request to a host may go out, for every worker."""

robots_cache = Table(
    "robots_cache",
    metadata,
    Column("base_url", Text, primary_key=True),
    Column("body", Text, nullable=False),
    Column("status_code", Integer),
    Column("fetched_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
"""A host's robots.txt as fetched (the rules text it stands for), until ``expires_at``."""
