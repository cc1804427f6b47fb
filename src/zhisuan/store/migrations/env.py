"""Alembic environment: always handed a live connection by zhisuan.store.migrate."""

from __future__ import annotations

from alembic import context

from zhisuan.store import models  # noqa: F401  (registers every table)
from zhisuan.store.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `zhisuan db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
