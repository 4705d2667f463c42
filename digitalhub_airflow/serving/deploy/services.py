"""The ``service`` entity in the catalog: what runs where, in which state, since when.

Deployments write here at each step (``deploying`` before anything starts, then
``running`` or ``failed``; ``stopped`` after an undeploy; ``rolled_back`` after a
rollback), and every step is appended to the service's history with who and when.
The spec replaced by a successful deployment is kept as ``previous_spec``: the exact
versions a rollback returns to. Nothing secret is ever stored (specs name Secrets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import ServiceEntity, ServiceEvent, utcnow
from digitalhub_airflow.errors import DeploymentError, NotFoundError
from digitalhub_airflow.serving.deploy.spec import ServiceSpec, spec_from_json
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.pinning import PinnedModel

DEPLOYING, RUNNING, FAILED, STOPPED, ROLLED_BACK = (
    "deploying",
    "running",
    "failed",
    "stopped",
    "rolled_back",
)
#: States in which the service answers requests with its recorded spec.
SERVING = (RUNNING, ROLLED_BACK)


@dataclass
class ServiceRecord:
    key: str
    project: str
    name: str
    target: str
    state: str
    url: str | None
    models: dict[str, dict[str, Any]]
    spec: dict[str, Any]
    spec_digest: str
    previous_spec: dict[str, Any] | None
    pid: int | None
    stats: dict[str, Any] | None
    message: str
    updated_by: str
    updated_at: datetime

    @property
    def serving(self) -> bool:
        return self.state in SERVING

    def service_spec(self) -> ServiceSpec:
        return spec_from_json(self.spec)

    def to_json(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["updated_at"] = self.updated_at.isoformat()
        return data


def _record(row: ServiceEntity) -> ServiceRecord:
    return ServiceRecord(**{f: getattr(row, f) for f in ServiceRecord.__dataclass_fields__})


def _row(session: Session, project: str, target: str, name: str) -> ServiceEntity | None:
    query = select(ServiceEntity).where(
        ServiceEntity.project == project,
        ServiceEntity.target == target,
        ServiceEntity.name == name,
    )
    return session.scalars(query.with_for_update()).first()


def _event(session: Session, row: ServiceEntity, actor: str) -> None:
    session.add(
        ServiceEvent(
            service_id=row.id,
            state=row.state,
            spec_digest=row.spec_digest,
            message=row.message,
            actor=actor,
        )
    )


def find_service(hub: DataHub, project: str, target: str, name: str) -> ServiceRecord | None:
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        row = _row(session, project, target, name)
        return _record(row) if row is not None else None


def get_service(hub: DataHub, project: str, target: str, name: str) -> ServiceRecord:
    record = find_service(hub, project, target, name)
    if record is None:
        raise NotFoundError(f"service {target}/{name} does not exist in project {project!r}")
    return record


def list_services(hub: DataHub, project: str) -> list[ServiceRecord]:
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        rows = session.scalars(
            select(ServiceEntity)
            .where(ServiceEntity.project == project)
            .order_by(ServiceEntity.target, ServiceEntity.name)
        )
        return [_record(r) for r in rows]


def begin_deployment(
    hub: DataHub,
    spec: ServiceSpec,
    models: dict[str, PinnedModel],
    *,
    message: str = "",
    previous: dict[str, Any] | None = None,
) -> ServiceRecord:
    """Record ``spec`` (pinned) as ``deploying``; the spec it replaces, when that one was
    serving, becomes ``previous_spec`` (``previous`` overrides, for rollbacks)."""
    require_current(hub.catalog)
    actor = current_user()
    with hub.catalog.session() as session:
        row = _row(session, spec.project, spec.target, spec.name)
        if row is None:
            row = ServiceEntity(
                project=spec.project,
                target=spec.target,
                name=spec.name,
                previous_spec=None,
                pid=None,
                url=None,
                stats=None,
                created_at=utcnow(),
            )
            session.add(row)
        elif previous is not None:
            row.previous_spec = previous
        elif row.state in SERVING and row.spec_digest != spec.digest:
            row.previous_spec = row.spec
        row.key = spec.key()
        row.spec = spec.to_json()
        row.spec_digest = spec.digest
        row.models = {n: m.to_json() for n, m in models.items()}
        row.state = DEPLOYING
        row.message = message
        row.updated_by, row.updated_at = actor, utcnow()
        session.flush()
        _event(session, row, actor)
        return _record(row)


def set_state(
    hub: DataHub,
    spec: ServiceSpec,
    state: str,
    *,
    message: str = "",
    url: str | None = None,
    pid: int | None = None,
) -> ServiceRecord:
    """Move a recorded service to ``state`` (``url``/``pid`` describe what runs now)."""
    require_current(hub.catalog)
    actor = current_user()
    with hub.catalog.session() as session:
        row = _row(session, spec.project, spec.target, spec.name)
        if row is None:
            raise NotFoundError(f"service {spec.target}/{spec.name} was never deployed")
        row.state, row.message, row.pid = state, message, pid
        if url is not None or state in (STOPPED, FAILED):
            row.url = url
        row.updated_by, row.updated_at = actor, utcnow()
        _event(session, row, actor)
        return _record(row)


def set_stats(hub: DataHub, project: str, target: str, name: str, stats: dict[str, Any]) -> None:
    """Store the latest latency/error statistics read from the service's /metrics."""
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        row = _row(session, project, target, name)
        if row is None:
            raise NotFoundError(f"service {target}/{name} does not exist in project {project!r}")
        row.stats = stats


def history(hub: DataHub, project: str, target: str, name: str) -> list[dict[str, Any]]:
    """Every recorded state change of a service, oldest first."""
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        row = _row(session, project, target, name)
        if row is None:
            raise NotFoundError(f"service {target}/{name} does not exist in project {project!r}")
        events = session.scalars(
            select(ServiceEvent).where(ServiceEvent.service_id == row.id).order_by(ServiceEvent.id)
        )
        return [
            {
                "state": e.state,
                "spec_digest": e.spec_digest,
                "message": e.message,
                "actor": e.actor,
                "at": e.at.isoformat(),
            }
            for e in events
        ]


def rollback_target(record: ServiceRecord) -> ServiceSpec:
    """The spec a rollback of ``record`` deploys: the one its last deployment replaced."""
    if record.previous_spec is None:
        raise DeploymentError(
            f"service {record.target}/{record.name} has no previous deployment to roll back to"
        )
    return spec_from_json(record.previous_spec)
