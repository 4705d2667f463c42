"""What a person may do from the web UI or the REST API, each recorded with who did it.

Every action is one existing core call (release, alias move, champion gate, undeploy,
rollback); this module only makes sure the record names the web user rather than the
API server's own process user. Permission checks happen before, in the Airflow layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select, update

from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.deployer import Deployers
    from digitalhub_airflow.training.tracking import TrackingConfig

T = TypeVar("T")


def release(hub: DataHub, key: str, actor: str, reason: str = "") -> dict[str, Any]:
    """Let a quarantined version through; the reason recorded names ``actor``."""
    from digitalhub_airflow.quality.state import release as release_version

    why = f"released by {actor} in the web UI" + (f": {reason}" if reason else "")
    return release_version(hub, key, why).to_json()


def move_alias(hub: DataHub, key: str, alias: str, actor: str) -> dict[str, Any]:
    """Point a dataset alias at the version ``key`` names (the move names ``actor``)."""
    return hub.tag(key, alias, actor=actor).to_json()


def remove_alias(hub: DataHub, dataset: str, alias: str, actor: str) -> dict[str, Any]:
    """Remove a dataset alias (recorded with ``actor``); the version it named."""
    return hub.untag(dataset, alias, actor=actor).to_json()


def _as(hub: DataHub, table: Any, where: list[Any], actor: str, call: Callable[[], T]) -> T:
    """Run ``call``, then attribute the rows it appended to ``table`` to ``actor``."""
    with hub.catalog.session() as session:
        before = session.scalar(select(func.max(table.id)).where(*where)) or 0
    result = call()
    column = table.actor
    with hub.catalog.session() as session:
        session.execute(
            update(table)
            .where(*where, table.id > before, column == current_user())
            .values(actor=actor)
        )
    return result


def promote(
    hub: DataHub,
    tracking: TrackingConfig,
    *,
    model_key: str,
    metric: str,
    actor: str,
    evaluation_dataset: str | None = None,
) -> dict[str, Any]:
    """Send one trained run through the champion gate: registered, scored against the
    champion on the same evaluation version, promoted only if strictly better."""
    from digitalhub_airflow.catalog.models import GateDecision
    from digitalhub_airflow.training.model_catalog import get_model
    from digitalhub_airflow.training.selection import registered_model_name, select_and_gate

    model = get_model(hub, model_key)
    registered = registered_model_name(model.project, model.name)
    record = _as(
        hub,
        GateDecision,
        [GateDecision.registered_name == registered],
        actor,
        lambda: select_and_gate(
            hub,
            tracking,
            project=model.project,
            name=model.name,
            run_ids=[model.run_id],
            metric=metric,
            evaluation_dataset=evaluation_dataset,
        ),
    )
    return {**record.to_json(), "actor": actor}


def _on_service(
    hub: DataHub, service: tuple[str, str, str], actor: str, call: Callable[[], Any]
) -> dict[str, Any]:
    """Run a service change; its history events and ``updated_by`` name ``actor``."""
    from digitalhub_airflow.catalog.models import ServiceEntity, ServiceEvent

    project, target, name = service
    which = [
        ServiceEntity.project == project,
        ServiceEntity.target == target,
        ServiceEntity.name == name,
    ]
    ids = select(ServiceEntity.id).where(*which).scalar_subquery()
    record = _as(hub, ServiceEvent, [ServiceEvent.service_id.in_(ids)], actor, call).to_json()
    with hub.catalog.session() as session:
        session.execute(
            update(ServiceEntity)
            .where(*which, ServiceEntity.updated_by == current_user())
            .values(updated_by=actor)
        )
    record["updated_by"] = actor
    return dict(record)


def undeploy(
    hub: DataHub, deployers: Deployers, service: tuple[str, str, str], actor: str
) -> dict[str, Any]:
    """Stop a service ``(project, target, name)``; its state history records ``actor``."""
    from digitalhub_airflow.serving.deploy.deployer import undeploy as stop

    return _on_service(hub, service, actor, lambda: stop(hub, deployers, *service))


def rollback(
    hub: DataHub, deployers: Deployers, service: tuple[str, str, str], actor: str
) -> dict[str, Any]:
    """Go back to the spec the last deployment replaced; the history records ``actor``."""
    from digitalhub_airflow.serving.deploy.deployer import deployer_for, rollback_service

    project, target, name = service
    deployer = deployer_for(deployers, target)
    return _on_service(hub, service, actor, lambda: rollback_service(hub, deployer, project, name))
