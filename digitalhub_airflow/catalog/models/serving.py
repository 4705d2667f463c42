"""Catalog tables for services: the ``service`` entity and its history of states.

One row per service (project, target, name) holds what runs now and the spec it replaced,
so a rollback knows exactly what to go back to; every change of state is appended to the
history, never updated, so who deployed, rolled back or stopped what, and when, stays
readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from digitalhub_airflow.catalog.models.base import KEY_LENGTH, Base, UTCDateTime, utcnow


class ServiceEntity(Base):
    """``store://<project>/service/<target>/<name>:<spec digest>``: a deployed model server.

    ``spec`` is the pinned deployment spec (exact model versions, no secrets); its digest
    is the key's version, so the key changes exactly when what runs changes.
    """

    __tablename__ = "dhub_services"
    __table_args__ = (UniqueConstraint("project", "target", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    project: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    target: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    #: Served name -> {"ref": as given, "pinned": exact ref, "version": registry version}.
    models: Mapped[Any] = mapped_column(JSON)
    spec: Mapped[Any] = mapped_column(JSON)
    spec_digest: Mapped[str] = mapped_column(String(64))
    previous_spec: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Latency and error statistics read from the server's /metrics.
    stats: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceEvent(Base):
    """One change of a service's state: to what, with which spec, by whom, when, why."""

    __tablename__ = "dhub_service_events"
    __table_args__ = (Index(None, "service_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("dhub_services.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    spec_digest: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
