"""Catalog tables for models: the ``model`` entity and every champion-gate decision.

A model row is immutable once written (its key ends in the MLflow run id); a gate
decision is appended, never updated, so the history of who became champion, against
whom and on which evaluation data, stays readable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from digitalhub_airflow.catalog.models.base import KEY_LENGTH, Base, UTCDateTime, utcnow


class ModelEntity(Base):
    """``store://<project>/model/mlflow/<name>:<run id>``: a trained model and its origin."""

    __tablename__ = "dhub_models"
    __table_args__ = (Index(None, "project", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    project: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str] = mapped_column(String(64))
    tracking_uri: Mapped[str] = mapped_column(String(1024))
    model_uri: Mapped[str] = mapped_column(String(1024))
    entrypoint: Mapped[str] = mapped_column(String(512))
    code_digest: Mapped[str] = mapped_column(String(64))
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[Any] = mapped_column(JSON)
    metrics: Mapped[Any] = mapped_column(JSON)
    #: Exact version keys trained on (also ``consumes`` edges where lineage exists).
    datasets: Mapped[Any] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(255))
    task: Mapped[str] = mapped_column(String(16))
    producer: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GateDecision(Base):
    """One champion-gate comparison, recorded whether or not the alias moved."""

    __tablename__ = "dhub_model_gates"
    __table_args__ = (Index(None, "registered_name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_key: Mapped[str] = mapped_column(String(KEY_LENGTH), index=True)
    run_id: Mapped[str] = mapped_column(String(64))
    registered_name: Mapped[str] = mapped_column(String(255))
    registered_version: Mapped[str] = mapped_column(String(32))
    alias: Mapped[str] = mapped_column(String(63))
    metric: Mapped[str] = mapped_column(String(63))
    greater_is_better: Mapped[bool] = mapped_column(Boolean)
    search_value: Mapped[float] = mapped_column(Float)
    candidate_value: Mapped[float] = mapped_column(Float)
    champion_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    champion_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    evaluation_dataset: Mapped[str] = mapped_column(String(KEY_LENGTH))
    promoted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
