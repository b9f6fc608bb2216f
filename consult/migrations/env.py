"""Alembic environment: runs on the connection handed over by :mod:`consult.migrate`."""

from __future__ import annotations

from alembic import context

from consult.db import Base, import_all_tables

import_all_tables()
config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
