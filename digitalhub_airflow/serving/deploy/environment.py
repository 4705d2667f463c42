"""What a model server needs to find the catalog, the store and the tracking server.

Split in two: ``settings`` may be written into a pod spec or a process's environment;
``secrets`` (the catalog password, S3 keys, the MLflow token) reach a local server only
through its own environment, and a pod only by Kubernetes Secret reference. Airflow
builds this from its connections (``hooks/``); the CLI from the ``DHUB_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.training.tracking import TRACKING_URI_ENV

if TYPE_CHECKING:
    from digitalhub_airflow.settings import Settings
    from digitalhub_airflow.training.tracking import TrackingConfig

CLI_REMEDY = (
    "Set DHUB_CATALOG_URL (postgresql://…), DHUB_STORE_URL (s3://…) and "
    f"{TRACKING_URI_ENV} (an MLflow server)"
)


@dataclass(frozen=True)
class ServerEnvironment:
    """A server's ``settings`` and ``secrets``, and how to fix a setup a pod cannot use
    (``remedy``; ``tracking_hint`` says why MLflow is the embedded store; None when the
    server needs no MLflow)."""

    settings: dict[str, str]
    secrets: dict[str, str] = field(repr=False)
    remedy: str = CLI_REMEDY
    tracking_hint: str | None = f"no {TRACKING_URI_ENV}"

    def process_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A local server's whole environment."""
        return {**(os.environ if base is None else base), **self.settings, **self.secrets}


def unreachable_settings(settings: Mapping[str, str], tracking_hint: str | None) -> list[str]:
    """What a pod on another machine could not reach: a SQLite catalog, a store only on
    this machine (its backend says) and (``tracking_hint`` given) the embedded tracking
    store."""
    from digitalhub_airflow.store import workload_problem

    problems = []
    if settings.get("DHUB_CATALOG_URL", "").startswith("sqlite"):
        problems.append("the catalog is the embedded SQLite file")
    store_problem = workload_problem(settings.get("DHUB_STORE_URL", ""))
    if store_problem:
        problems.append(store_problem)
    if tracking_hint is not None and TRACKING_URI_ENV not in settings:
        problems.append(f"MLflow is the embedded store ({tracking_hint})")
    return problems


def pod_environment(
    environment: ServerEnvironment, credentials_secret: str | None
) -> tuple[dict[str, str], list[str]]:
    """The pod's settings and the names of the credentials it reads from
    ``credentials_secret``, or why a pod cannot work (nothing is recorded or applied)."""
    problems = unreachable_settings(environment.settings, environment.tracking_hint)
    if problems:
        raise DeploymentError(
            f"a pod cannot reach this deployment: {'; '.join(problems)}. {environment.remedy}"
        )
    if environment.secrets and not credentials_secret:
        raise DeploymentError(
            f"the server needs credentials ({', '.join(sorted(environment.secrets))}) and they "
            "are never written into a pod spec: name the Kubernetes Secret holding them in "
            "credentials_secret"
        )
    return dict(environment.settings), sorted(environment.secrets)


def environment_from_settings(
    loaded: Settings | None = None, tracking: TrackingConfig | None = None
) -> ServerEnvironment:
    """The server environment of this process's own settings (``DHUB_*``, the store
    backend's and the MLflow variables): what the CLI deploys with. ``loaded`` and
    ``tracking`` replace them (an SDK client connected elsewhere)."""
    from sqlalchemy.engine import make_url

    from digitalhub_airflow.settings import load_settings
    from digitalhub_airflow.store import store_config, workload_environment
    from digitalhub_airflow.training.tracking import tracking_from_env

    loaded = loaded or load_settings()
    settings = {"DHUB_CATALOG_URL": loaded.catalog_url}
    secrets: dict[str, str] = {}
    if loaded.catalog_schema:
        settings["DHUB_CATALOG_SCHEMA"] = loaded.catalog_schema
    url = make_url(loaded.catalog_url)
    if url.password:
        secrets["PGPASSWORD"] = str(url.password)
        without = url._replace(password=None)  # URL.set() ignores None
        settings["DHUB_CATALOG_URL"] = without.render_as_string(hide_password=False)
    store = store_config(loaded.store_url, loaded.store_options)
    store_settings, store_secrets = workload_environment(store)
    tracking = tracking or tracking_from_env(loaded.home)
    tracking_settings, tracking_secrets = tracking.process_environment()
    return ServerEnvironment(
        {**settings, **store_settings, **tracking_settings},
        {**secrets, **store_secrets, **tracking_secrets},
    )
