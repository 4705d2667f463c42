"""What a person may do from the web UI or the REST API, each recorded with who did it.

Every action is one existing core call (release, alias move, champion gate, undeploy,
rollback), made :func:`~digitalhub_airflow.settings.acting_as` the web user, so what it
records names that user rather than the API server's own process user. Permission
checks happen before, in the Airflow layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.settings import acting_as

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.deployer import Deployers
    from digitalhub_airflow.training.tracking import TrackingConfig


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
    from digitalhub_airflow.training.model_catalog import get_model
    from digitalhub_airflow.training.selection import select_and_gate

    model = get_model(hub, model_key)
    with acting_as(actor):
        record = select_and_gate(
            hub,
            tracking,
            project=model.project,
            name=model.name,
            run_ids=[model.run_id],
            metric=metric,
            evaluation_dataset=evaluation_dataset,
        )
    return {**record.to_json(), "actor": actor}


def _on_service(actor: str, call: Callable[[], Any]) -> dict[str, Any]:
    """Run a service change; its history event and ``updated_by`` name ``actor``."""
    with acting_as(actor):
        return dict(call().to_json())


def undeploy(
    hub: DataHub, deployers: Deployers, service: tuple[str, str, str], actor: str
) -> dict[str, Any]:
    """Stop a service ``(project, target, name)``; its state history records ``actor``."""
    from digitalhub_airflow.serving.deploy.deployer import undeploy as stop

    return _on_service(actor, lambda: stop(hub, deployers, *service))


def rollback(
    hub: DataHub, deployers: Deployers, service: tuple[str, str, str], actor: str
) -> dict[str, Any]:
    """Go back to the spec the last deployment replaced; the history records ``actor``."""
    from digitalhub_airflow.serving.deploy.deployer import deployer_for, rollback_service

    project, target, name = service
    deployer = deployer_for(deployers, target)
    return _on_service(actor, lambda: rollback_service(hub, deployer, project, name))
