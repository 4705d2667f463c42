"""models: the model entity and champion-gate decisions

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhub_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("tracking_uri", sa.String(length=1024), nullable=False),
        sa.Column("model_uri", sa.String(length=1024), nullable=False),
        sa.Column("entrypoint", sa.String(length=512), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("task", sa.String(length=16), nullable=False),
        sa.Column("producer", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_models")),
        sa.UniqueConstraint("key", name=op.f("uq_dhub_models_key")),
    )
    op.create_index(
        op.f("ix_dhub_models_project_name"), "dhub_models", ["project", "name"], unique=False
    )
    op.create_index(op.f("ix_dhub_models_cache_key"), "dhub_models", ["cache_key"], unique=False)
    op.create_table(
        "dhub_model_gates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(length=320), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("registered_name", sa.String(length=255), nullable=False),
        sa.Column("registered_version", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=63), nullable=False),
        sa.Column("metric", sa.String(length=63), nullable=False),
        sa.Column("greater_is_better", sa.Boolean(), nullable=False),
        sa.Column("search_value", sa.Float(), nullable=False),
        sa.Column("candidate_value", sa.Float(), nullable=False),
        sa.Column("champion_version", sa.String(length=32), nullable=True),
        sa.Column("champion_value", sa.Float(), nullable=True),
        sa.Column("evaluation_dataset", sa.String(length=320), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_model_gates")),
    )
    op.create_index(
        op.f("ix_dhub_model_gates_model_key"), "dhub_model_gates", ["model_key"], unique=False
    )
    op.create_index(
        op.f("ix_dhub_model_gates_registered_name_id"),
        "dhub_model_gates",
        ["registered_name", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("dhub_model_gates")
    op.drop_table("dhub_models")
