"""API keys: only the SHA-256 of a secret is stored."""

from sqlalchemy import Column, Float, Integer, Table, Text

from runtime.db._meta import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("principal", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked", Integer, nullable=False, server_default="0"),
)
