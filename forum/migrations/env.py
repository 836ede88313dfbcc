"""Alembic environment: runs against the connection that ``forum.schema`` hands it."""

from __future__ import annotations

from alembic import context

from forum.models import Base
from forum.schema import comparison_options

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
    **comparison_options(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
