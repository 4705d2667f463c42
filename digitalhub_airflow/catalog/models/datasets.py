"""Catalog tables of the datasets feature: projects, datasets, versions, their files,
aliases with their history, and the store's leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from digitalhub_airflow.catalog.models.base import Base, UTCDateTime, utcnow


class Project(Base):
    __tablename__ = "dhub_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(Base):
    """A data item; its row is the lock commits serialise on."""

    __tablename__ = "dhub_datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("dhub_projects.id"))
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    latest_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")


class Version(Base):
    """An immutable dataset version. Only aliases pointing at it ever change."""

    __tablename__ = "dhub_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "seq"),
        UniqueConstraint("dataset_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dhub_datasets.id"))
    seq: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16))
    schema_json: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    schema_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("dhub_versions.id"), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    producer: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class VersionFile(Base):
    __tablename__ = "dhub_version_files"

    version_pk: Mapped[int] = mapped_column(
        ForeignKey("dhub_versions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), index=True)


class Alias(Base):
    """A moving name for a version: ``latest`` (moved by commits) or a user alias."""

    __tablename__ = "dhub_aliases"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dhub_datasets.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("dhub_versions.id"))
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AliasEvent(Base):
    """Every move of an alias: who, when, from which version to which (to none: the
    alias was removed)."""

    __tablename__ = "dhub_alias_events"
    __table_args__ = (Index(None, "dataset_id", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dhub_datasets.id"))
    alias: Mapped[str] = mapped_column(String(63))
    version_pk: Mapped[int | None] = mapped_column(ForeignKey("dhub_versions.id"), nullable=True)
    previous_version_pk: Mapped[int | None] = mapped_column(
        ForeignKey("dhub_versions.id"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoreLease(Base):
    """A lease on the blob store: many ``commit`` leases at once, or one ``gc`` lease.

    This is the readers-writer lock that keeps ``gc`` from deleting a blob a running
    commit has found present and is about to reference. Leases of a crashed process
    expire after a TTL.
    """

    __tablename__ = "dhub_store_leases"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
