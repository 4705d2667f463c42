"""Writing and reading ``model`` entities and gate decisions in the catalog."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import GateDecision, ModelEntity
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.keys import as_key
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@dataclass
class ModelRecord:
    key: str
    project: str
    name: str
    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str
    entrypoint: str
    code_digest: str
    cache_key: str
    params: dict[str, Any]
    metrics: dict[str, float]
    datasets: list[str]
    target: str
    task: str
    producer: dict[str, Any] | None = None


@dataclass
class GateRecord:
    """One champion-gate decision: what :func:`select_and_gate` returns and records.

    ``search_value`` is the metric the search ranked by (held-out split of the run);
    ``candidate_value``/``champion_value`` are both measured on ``evaluation_dataset``.
    """

    model_key: str
    run_id: str
    registered_name: str
    registered_version: str
    alias: str
    metric: str
    greater_is_better: bool
    search_value: float
    candidate_value: float
    champion_version: str | None
    champion_value: float | None
    evaluation_dataset: str
    promoted: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def record_model(hub: DataHub, record: ModelRecord) -> bool:
    """Insert the model entity and its ``consumes`` edges to the exact dataset versions,
    in one transaction, unless its key exists (a reused run); True if inserted."""
    from digitalhub_airflow.catalog.models import Relationship
    from digitalhub_airflow.lineage.runs import CONSUMES

    require_current(hub.catalog)
    with hub.catalog.session() as session:
        if session.scalars(select(ModelEntity.id).where(ModelEntity.key == record.key)).first():
            return False
        session.add(
            ModelEntity(kind=as_key(record.key).kind, created_by=current_user(), **asdict(record))
        )
        for dataset in dict.fromkeys(record.datasets):
            session.add(Relationship(source=record.key, relation=CONSUMES, target=dataset))
    return True


def consumed_by(hub: DataHub, model_key: str) -> list[str]:
    """The dataset versions a model ``consumes`` (its lineage edges)."""
    from digitalhub_airflow.catalog.models import Relationship
    from digitalhub_airflow.lineage.runs import CONSUMES

    require_current(hub.catalog)
    with hub.catalog.session() as session:
        query = select(Relationship.target).where(
            Relationship.source == model_key, Relationship.relation == CONSUMES
        )
        return sorted(session.scalars(query))


def get_model(hub: DataHub, key: str) -> ModelRecord:
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        row = session.scalars(select(ModelEntity).where(ModelEntity.key == key)).first()
        if row is None:
            raise NotFoundError(f"model {key} does not exist")
        return ModelRecord(**{f: getattr(row, f) for f in ModelRecord.__dataclass_fields__})


def record_gate(hub: DataHub, record: GateRecord) -> None:
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        session.add(GateDecision(actor=current_user(), **asdict(record)))


def gate_history(hub: DataHub, registered_name: str) -> list[GateRecord]:
    """Gate decisions of a registered model, oldest first."""
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        rows = session.scalars(
            select(GateDecision)
            .where(GateDecision.registered_name == registered_name)
            .order_by(GateDecision.id)
        )
        return [
            GateRecord(**{f: getattr(r, f) for f in GateRecord.__dataclass_fields__}) for r in rows
        ]
