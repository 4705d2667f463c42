"""Catalog tables for lineage: ``run`` entities and the relationships between entities.

Relationships are one generic edge table (source key, relation, target key) with an
index on each end, so lineage walks either way with one recursive query. Edges point
upstream: a version is ``produced_by`` a run, a run ``consumes`` a version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from digitalhub_airflow.catalog.models.base import KEY_LENGTH, Base, UTCDateTime, utcnow


class Run(Base):
    """One execution of a task or transform: what ran, with which code and parameters."""

    __tablename__ = "dhub_runs"
    __table_args__ = (Index(None, "cache_key", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    project: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(63))
    dag_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    try_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operator: Mapped[str | None] = mapped_column(String(250), nullable=True)
    code_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parameters: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    transform: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    cache_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    reused_run: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    output: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))


class Relationship(Base):
    """An edge between two entities by key, as DigitalHub names it."""

    __tablename__ = "dhub_relationships"
    __table_args__ = (Index(None, "target", "relation"),)

    source: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16), primary_key=True)
    target: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
