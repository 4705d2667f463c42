"""search: an index of the catalog's names (a GIN tsvector index on PostgreSQL, word
prefixes on SQLite) and what each part of it was built from

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    """The catalog's PostgreSQL schema (None on SQLite)."""
    schema: str | None = context.config.attributes.get("schema")
    return schema


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "dhub_search_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("stamp", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_search_entries")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_dhub_search_entries_source_source_id"),
        "dhub_search_entries",
        ["source", "source_id"],
        schema=schema,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_dhub_search_entries_words_tsv",
            "dhub_search_entries",
            [sa.text("to_tsvector('simple', words)")],
            postgresql_using="gin",
            schema=schema,
        )
    op.create_table(
        "dhub_search_terms",
        sa.Column("term", sa.String(length=255), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["dhub_search_entries.id"],
            name=op.f("fk_dhub_search_terms_entry_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "entry_id", name=op.f("pk_dhub_search_terms")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_dhub_search_terms_entry_id_term"),
        "dhub_search_terms",
        ["entry_id", "term"],
        schema=schema,
    )
    op.create_table(
        "dhub_search_sources",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_dhub_search_sources")),
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_table("dhub_search_sources", schema=schema)
    op.drop_table("dhub_search_terms", schema=schema)
    op.drop_table("dhub_search_entries", schema=schema)
