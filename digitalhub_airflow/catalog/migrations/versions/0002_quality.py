"""quality: suites, validation results, profiles, drift reports and version quality state

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _who_when(prefix: str) -> list[sa.Column[Any]]:
    return [
        sa.Column(f"{prefix}_by", sa.String(length=255), nullable=False),
        sa.Column(f"{prefix}_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _version_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["dhub_versions.id"], name=op.f(f"fk_{table}_{column}")
    )


def upgrade() -> None:
    op.create_table(
        "dhub_suites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("suite_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        *_who_when("created"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["dhub_projects.id"], name=op.f("fk_dhub_suites_project_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_suites")),
        sa.UniqueConstraint(
            "project_id", "name", "suite_id", name=op.f("uq_dhub_suites_project_id_name_suite_id")
        ),
    )
    op.create_table(
        "dhub_validation_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("suite_pk", sa.Integer(), nullable=False),
        sa.Column("result_format", sa.String(length=16), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        *_who_when("created"),
        _version_fk("dhub_validation_results", "version_pk"),
        sa.ForeignKeyConstraint(
            ["suite_pk"], ["dhub_suites.id"], name=op.f("fk_dhub_validation_results_suite_pk")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_validation_results")),
    )
    op.create_index(
        op.f("ix_dhub_validation_results_version_pk_suite_pk_result_format"),
        "dhub_validation_results",
        ["version_pk", "suite_pk", "result_format"],
    )
    op.create_table(
        "dhub_version_quality",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        *_who_when("updated"),
        _version_fk("dhub_version_quality", "version_pk"),
        sa.PrimaryKeyConstraint("version_pk", name=op.f("pk_dhub_version_quality")),
    )
    op.create_table(
        "dhub_quality_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("previous_state", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _version_fk("dhub_quality_events", "version_pk"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_quality_events")),
    )
    op.create_index(
        op.f("ix_dhub_quality_events_version_pk"), "dhub_quality_events", ["version_pk"]
    )
    op.create_table(
        "dhub_profiles",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        *_who_when("created"),
        _version_fk("dhub_profiles", "version_pk"),
        sa.PrimaryKeyConstraint("version_pk", name=op.f("pk_dhub_profiles")),
    )
    op.create_table(
        "dhub_drift_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference_pk", sa.Integer(), nullable=False),
        sa.Column("current_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        *_who_when("created"),
        _version_fk("dhub_drift_reports", "reference_pk"),
        _version_fk("dhub_drift_reports", "current_pk"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhub_drift_reports")),
    )
    op.create_index(op.f("ix_dhub_drift_reports_current_pk"), "dhub_drift_reports", ["current_pk"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dhub_drift_reports_current_pk"), table_name="dhub_drift_reports")
    op.drop_table("dhub_drift_reports")
    op.drop_table("dhub_profiles")
    op.drop_index(op.f("ix_dhub_quality_events_version_pk"), table_name="dhub_quality_events")
    op.drop_table("dhub_quality_events")
    op.drop_table("dhub_version_quality")
    op.drop_index(
        op.f("ix_dhub_validation_results_version_pk_suite_pk_result_format"),
        table_name="dhub_validation_results",
    )
    op.drop_table("dhub_validation_results")
    op.drop_table("dhub_suites")
