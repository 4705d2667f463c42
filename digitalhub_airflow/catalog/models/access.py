"""Catalog table for access: who may read, write or administer each project.

One row per (project, subject); a subject is ``user:NAME``, ``role:NAME`` (an Airflow
role) or ``project:NAME`` (another project's transforms reading this one). Who granted
it and when stay on the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from digitalhub_airflow.catalog.models.base import Base, UTCDateTime, utcnow


class Grant(Base):
    """``subject`` may act on ``project`` up to ``level`` (1 read, 2 write, 3 admin)."""

    __tablename__ = "dhub_grants"
    __table_args__ = (UniqueConstraint("project", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(63))
    subject: Mapped[str] = mapped_column(String(320))
    level: Mapped[int] = mapped_column(Integer)
    granted_by: Mapped[str] = mapped_column(String(255))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
