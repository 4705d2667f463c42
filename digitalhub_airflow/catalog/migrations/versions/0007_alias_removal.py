"""alias removal: an alias event without a version records that the alias was removed

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    """The catalog's PostgreSQL schema: an ALTER names it (the engine's schema
    translation covers tables, not this statement)."""
    schema: str | None = context.config.attributes.get("schema")
    return schema


def upgrade() -> None:
    with op.batch_alter_table("dhub_alias_events", schema=_schema()) as batch:
        batch.alter_column("version_pk", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    events = sa.table("dhub_alias_events", sa.column("version_pk"), schema=_schema())
    op.execute(events.delete().where(events.c.version_pk.is_(None)))
    with op.batch_alter_table("dhub_alias_events", schema=_schema()) as batch:
        batch.alter_column("version_pk", existing_type=sa.Integer(), nullable=False)
