"""Catalog tables of data quality: suites, validation results, profiles, drift reports and
each version's quality state with its history.

Versions stay immutable: their quality state lives beside them, and every change of it is
an event with who and when (DESIGN.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from digitalhub_airflow.catalog.models.base import Base, UTCDateTime, utcnow
from digitalhub_airflow.catalog.models.datasets import Project, Version


class Suite(Base):
    """One version of an expectation suite; ``suite_id`` is the digest of its content."""

    __tablename__ = "dhub_suites"
    __table_args__ = (UniqueConstraint("project_id", "name", "suite_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey(Project.id))
    name: Mapped[str] = mapped_column(String(63))
    suite_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[Any] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ValidationRecord(Base):
    """The full GX result of one suite version run on one dataset version."""

    __tablename__ = "dhub_validation_results"
    __table_args__ = (Index(None, "version_pk", "suite_pk", "result_format"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey(Version.id))
    suite_pk: Mapped[int] = mapped_column(ForeignKey("dhub_suites.id"))
    result_format: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(16))
    success: Mapped[bool] = mapped_column(Boolean)
    statistics: Mapped[Any] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VersionQuality(Base):
    """The current quality state of a version (absent: never validated)."""

    __tablename__ = "dhub_version_quality"

    version_pk: Mapped[int] = mapped_column(ForeignKey(Version.id), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QualityEvent(Base):
    """Every change of a version's quality state: who, when, from what to what, and why."""

    __tablename__ = "dhub_quality_events"
    __table_args__ = (Index(None, "version_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey(Version.id))
    state: Mapped[str] = mapped_column(String(16))
    previous_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileRecord(Base):
    """The profile of a version (one per version: the data never changes)."""

    __tablename__ = "dhub_profiles"

    version_pk: Mapped[int] = mapped_column(ForeignKey(Version.id), primary_key=True)
    profile: Mapped[Any] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DriftRecord(Base):
    """A drift report between a reference and a current version."""

    __tablename__ = "dhub_drift_reports"
    __table_args__ = (Index(None, "current_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_pk: Mapped[int] = mapped_column(ForeignKey(Version.id))
    current_pk: Mapped[int] = mapped_column(ForeignKey(Version.id))
    status: Mapped[str] = mapped_column(String(8))
    report: Mapped[Any] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
