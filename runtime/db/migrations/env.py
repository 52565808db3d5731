"""Alembic environment: always run on the connection ``runtime.db.migrate`` hands over (its transaction and
lock), never from an ini file's URL."""

from __future__ import annotations

from alembic import context

from runtime.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through runtime.db.migrate.upgrade(engine), not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
