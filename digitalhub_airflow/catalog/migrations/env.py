"""Alembic environment: always run programmatically by :func:`migrate` with a connection."""

from __future__ import annotations

from alembic import context

from digitalhub_airflow.catalog.models import Base  # every table, registered on its metadata

connection = context.config.attributes["connection"]
schema = context.config.attributes.get("schema")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table="dhub_alembic_version",
    version_table_schema=schema,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
