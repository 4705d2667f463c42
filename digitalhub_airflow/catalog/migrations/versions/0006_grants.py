"""grants: per-project read / write / admin permissions of users, roles and projects

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhub_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.String(length=255), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_grants")),
        sa.UniqueConstraint("project", "subject", name=op.f("uq_dhub_grants_project_subject")),
    )


def downgrade() -> None:
    op.drop_table("dhub_grants")
