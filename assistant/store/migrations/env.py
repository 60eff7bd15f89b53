"""Alembic environment: runs on the connection `assistant.store.database.migrate` hands it."""

from __future__ import annotations

from alembic import context

from assistant.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through assistant.store.database
    raise RuntimeError("run migrations with `python -m assistant db upgrade`, not the alembic command")

# SQLite cannot ALTER most things in place; batch mode copies the table instead.
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)  # fmt: skip
with context.begin_transaction():
    context.run_migrations()
