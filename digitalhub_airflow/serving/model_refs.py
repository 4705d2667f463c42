"""Model references of ``dhub serve`` -> a pinned MLflow model, downloaded once.

An alias (``models:/wine@champion``) is resolved to its registry version when the server
starts, so every worker serves the same version even if the alias moves meanwhile, and
the version can be recorded with the service and the logged predictions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from digitalhub_airflow.errors import NotFoundError, ServingSpecError, TrackingError
from digitalhub_airflow.keys import SCHEME, parse_key, validate_name
from digitalhub_airflow.training.tracking import TrackingConfig, tracking_session

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from digitalhub_airflow.hub import DataHub

#: ``models:/<name>@<alias>`` or ``models:/<name>/<version|latest>``.
REGISTRY_RE = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))")
_RUN_RE = re.compile(r"runs:/(?P<run>[0-9a-zA-Z]+)/.+")


@dataclass(frozen=True)
class ResolvedModel:
    """What a served name stands for: the pinned URI, its version and where it lives."""

    name: str
    ref: str
    model_uri: str
    version: str
    tracking_uri: str


def parse_model_option(text: str) -> tuple[str, str]:
    """``NAME=REF`` of ``--model``; the name is what clients put in URLs."""
    name, sep, ref = text.partition("=")
    if not sep or not ref:
        raise ServingSpecError(
            f"--model {text!r} must be NAME=REF, e.g. wine=models:/wine@champion"
        )
    return validate_name(name, "served model name"), ref


def resolve_model(hub: DataHub, tracking: TrackingConfig, name: str, ref: str) -> ResolvedModel:
    """Pin ``ref`` to one model version (catalog keys through their model entity)."""
    if ref.startswith(SCHEME):
        return _resolve_catalog_key(hub, tracking, name, ref)
    with tracking_session(tracking) as client:
        uri, version = _pin(client, ref)
    return ResolvedModel(name, ref, uri, version, tracking.safe_uri)


def _resolve_catalog_key(
    hub: DataHub, tracking: TrackingConfig, name: str, ref: str
) -> ResolvedModel:
    from digitalhub_airflow.training.model_catalog import get_model

    key = parse_key(ref)
    if key.entity_type != "model" or key.version is None:
        raise ServingSpecError(
            f"{ref} is not a model version key (store://<project>/model/mlflow/<name>:<id>)"
        )
    record = get_model(hub, ref)
    # The model's own tracking server; credentials only when it is the configured one.
    own = tracking if record.tracking_uri == tracking.tracking_uri else None
    with tracking_session(own or TrackingConfig(record.tracking_uri)) as client:
        uri, _ = _pin(client, record.model_uri)
    return ResolvedModel(name, ref, uri, key.version, record.tracking_uri)


def _pin(client: MlflowClient, ref: str) -> tuple[str, str]:
    """(URI that names one version, that version) for a registry, run or plain URI."""
    from mlflow.exceptions import MlflowException

    registry = REGISTRY_RE.fullmatch(ref)
    try:
        if registry is None:
            run = _RUN_RE.fullmatch(ref)
            return ref, run.group("run") if run else "1"
        name, alias, version = registry.group("name", "alias", "version")
        if alias:
            found = client.get_model_version_by_alias(name, alias)
        elif version == "latest":
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise NotFoundError(f"registered model {name!r} has no versions")
            found = max(versions, key=lambda v: int(v.version))
        else:
            found = client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise NotFoundError(f"model reference {ref}: {exc.message}") from exc
        raise TrackingError(f"model reference {ref}: {exc.message}") from exc
    return f"models:/{name}/{found.version}", str(found.version)


def download_model(tracking: TrackingConfig, model: ResolvedModel, destination: Path) -> Path:
    """The model's files in ``destination`` (workers then load without the registry)."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    own = tracking if model.tracking_uri == tracking.tracking_uri else None
    destination.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # not in server logs
    try:
        with tracking_session(own or TrackingConfig(model.tracking_uri)):
            return Path(download_artifacts(artifact_uri=model.model_uri, dst_path=str(destination)))
    except MlflowException as exc:
        raise TrackingError(f"cannot download {model.model_uri}: {exc.message}") from exc
