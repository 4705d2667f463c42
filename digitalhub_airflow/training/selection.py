"""Pick the best run of a search, register it, and gate the ``champion`` alias.

The candidate and the current champion are both scored on the SAME exact evaluation
dataset version, so the comparison is fair even when they were trained on different
data. The alias moves only when the candidate is strictly better; the comparison is
recorded either way (tags on the model version and a row in the catalog). Gates of one
registered model run one at a time (:mod:`~digitalhub_airflow.training.gate_lock`), so
a gate that waited compares against the champion the one before it left.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import NotFoundError, TrainingInputError
from digitalhub_airflow.keys import validate_name
from digitalhub_airflow.training.data import evaluation_frame
from digitalhub_airflow.training.gate_lock import gate_lock
from digitalhub_airflow.training.metrics import get_metric, is_better
from digitalhub_airflow.training.model_catalog import GateRecord, record_gate
from digitalhub_airflow.training.runner import (
    TAG_DATASETS,
    TAG_FEATURES,
    TAG_MODEL_KEY,
    TAG_MODEL_URI,
    TAG_TARGET,
)
from digitalhub_airflow.training.tracking import TrackingConfig, tracking_session

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from digitalhub_airflow.hub import DataHub

CHAMPION = "champion"


def registered_model_name(project: str, name: str) -> str:
    """Registry names are namespaced by project, as catalog keys are."""
    return f"{validate_name(project, 'project')}.{validate_name(name, 'model name')}"


def best_run(client: MlflowClient, run_ids: list[str], metric: str) -> tuple[Run, float]:
    """The finished run with the best ``metric`` (ties: the first given)."""
    spec = get_metric(metric)
    scored = []
    for run_id in dict.fromkeys(run_ids):
        run = client.get_run(run_id)
        finished = run.info.status == "FINISHED" and TAG_MODEL_URI in run.data.tags
        if finished and metric in run.data.metrics:
            scored.append((run, float(run.data.metrics[metric])))
    if not scored:
        raise TrainingInputError(
            f"none of the {len(run_ids)} candidate runs finished with {metric!r}"
        )
    best = scored[0]
    for candidate in scored[1:]:
        if is_better(candidate[1], best[1], spec.greater_is_better):
            best = candidate
    return best


def _register(client: MlflowClient, name: str, run: Run) -> str:
    """The registry version of ``run``'s model: the existing one, or a new one."""
    import mlflow

    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run.info.run_id}'")
    if existing:
        return str(existing[0].version)
    return str(mlflow.register_model(run.data.tags[TAG_MODEL_URI], name).version)


def champion_version(client: MlflowClient, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def describe_champion(
    hub: DataHub, tracking: TrackingConfig, project: str, name: str, alias: str = CHAMPION
) -> dict[str, Any]:
    """The model ``alias`` points at: registry version, gate metric and its training data."""
    from digitalhub_airflow.training.model_catalog import get_model

    registered = registered_model_name(project, name)
    with tracking_session(tracking) as client:
        version = champion_version(client, registered, alias)
        if version is None:
            raise NotFoundError(f"model {registered} has no @{alias}")
        details = client.get_model_version(registered, version)
        if details.run_id is None:
            raise NotFoundError(f"model {registered} version {version} has no training run")
        run = client.get_run(details.run_id)
    record = get_model(hub, run.data.tags[TAG_MODEL_KEY])
    return {
        "registered_name": registered,
        "version": version,
        "model_key": record.key,
        "metric": details.tags.get("dhub.gate.metric"),
        "value": float(details.tags.get("dhub.gate.candidate_value", "nan")),
        "evaluation_dataset": details.tags.get("dhub.gate.evaluation_dataset"),
        "trained_on": record.datasets,
    }


def _evaluate(name: str, version: str, metric: str, x: Any, y: Any) -> float:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return get_metric(metric).compute(y, model.predict(x))


def select_and_gate(
    hub: DataHub,
    tracking: TrackingConfig,
    *,
    project: str,
    name: str,
    run_ids: list[str],
    metric: str,
    greater_is_better: bool | None = None,
    evaluation_dataset: str | None = None,
    alias: str = CHAMPION,
    parent_run_id: str | None = None,
) -> GateRecord:
    """Register the best of ``run_ids`` and move ``alias`` to it only if it wins."""
    spec = get_metric(metric)
    greater = spec.greater_is_better if greater_is_better is None else greater_is_better
    registered = registered_model_name(project, name)
    validate_name(alias, "alias")
    with gate_lock(hub.catalog, registered), tracking_session(tracking) as client:
        try:
            result = _gate(
                hub,
                client,
                registered=registered,
                run_ids=run_ids,
                metric=metric,
                greater=greater,
                evaluation_dataset=evaluation_dataset,
                alias=alias,
            )
        except BaseException:
            if parent_run_id:
                client.set_terminated(parent_run_id, "FAILED")
            raise
        if parent_run_id:
            client.log_metric(parent_run_id, f"best_{metric}", result.search_value)
            client.set_tag(parent_run_id, "dhub.best_run", result.run_id)
            client.set_terminated(parent_run_id, "FINISHED")
    return result


def _gate(
    hub: DataHub,
    client: MlflowClient,
    *,
    registered: str,
    run_ids: list[str],
    metric: str,
    greater: bool,
    evaluation_dataset: str | None,
    alias: str,
) -> GateRecord:
    run, search_value = best_run(client, run_ids, metric)
    tags = run.data.tags
    eval_key = evaluation_dataset or json.loads(tags[TAG_DATASETS])[0]
    x, y, eval_info = evaluation_frame(
        hub, eval_key, tags[TAG_TARGET], json.loads(tags[TAG_FEATURES])
    )
    version = _register(client, registered, run)
    candidate_value = _evaluate(registered, version, metric, x, y)
    champion = champion_version(client, registered, alias)
    champion_value = None
    if champion == version:
        promoted, reason = False, f"version {version} already is @{alias}"
    elif champion is None:
        promoted, reason = True, f"no @{alias} yet"
    else:
        champion_value = _evaluate(registered, champion, metric, x, y)
        promoted = is_better(candidate_value, champion_value, greater)
        verdict = "beats" if promoted else "does not beat"
        reason = (
            f"{metric} {candidate_value:.6g} {verdict} @{alias} v{champion} "
            f"({champion_value:.6g}) on {eval_info.key}"
        )
    result = GateRecord(
        model_key=tags[TAG_MODEL_KEY],
        run_id=run.info.run_id,
        registered_name=registered,
        registered_version=version,
        alias=alias,
        metric=metric,
        greater_is_better=greater,
        search_value=search_value,
        candidate_value=candidate_value,
        champion_version=champion,
        champion_value=champion_value,
        evaluation_dataset=eval_info.key,
        promoted=promoted,
        reason=reason,
    )
    _record(client, hub, result)
    if promoted:
        client.set_registered_model_alias(registered, alias, version)
    return result


def _record(client: MlflowClient, hub: DataHub, result: GateRecord) -> None:
    """The comparison, on the model version (MLflow) and in the catalog."""
    tags = {
        "metric": result.metric,
        "evaluation_dataset": result.evaluation_dataset,
        "candidate_value": repr(result.candidate_value),
        "champion_version": result.champion_version or "",
        "champion_value": "" if result.champion_value is None else repr(result.champion_value),
        "promoted": str(result.promoted).lower(),
        "reason": result.reason,
    }
    for key, value in tags.items():
        client.set_model_version_tag(
            result.registered_name, result.registered_version, f"dhub.gate.{key}", value
        )
    record_gate(hub, result)
