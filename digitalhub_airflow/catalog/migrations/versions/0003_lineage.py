"""lineage: runs and relationships

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhub_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("task_id", sa.String(length=250), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=250), nullable=True),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("transform", sa.JSON(), nullable=True),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("reused_run", sa.String(length=320), nullable=True),
        sa.Column("output", sa.String(length=320), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_runs")),
        sa.UniqueConstraint("key", name=op.f("uq_dhub_runs_key")),
    )
    op.create_index(
        op.f("ix_dhub_runs_cache_key_state"), "dhub_runs", ["cache_key", "state"], unique=False
    )
    op.create_table(
        "dhub_relationships",
        sa.Column("source", sa.String(length=320), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "relation", "target", name=op.f("pk_dhub_relationships")),
    )
    op.create_index(
        op.f("ix_dhub_relationships_target_relation"),
        "dhub_relationships",
        ["target", "relation"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dhub_relationships_target_relation"), table_name="dhub_relationships")
    op.drop_table("dhub_relationships")
    op.drop_index(op.f("ix_dhub_runs_cache_key_state"), table_name="dhub_runs")
    op.drop_table("dhub_runs")
