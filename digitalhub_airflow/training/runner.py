"""Train one model on exact dataset versions inside an MLflow run.

The same :func:`train_model` runs in an Airflow worker (``TrainModelOperator``), in a
Kubernetes pod or a local subprocess (``python -m digitalhub_airflow.training.runner``,
which reads a :class:`TrainingRequest` as JSON): where it runs changes nothing it does.

Inside the run: load the versions, log them as MLflow dataset inputs whose source is the
catalog key, call the training function (autolog on), score it on the held-out split,
log the model with signature and input example, and record the ``model`` entity. Any
failure propagates through ``mlflow.start_run``, which marks the run FAILED; nothing is
registered here, so a failed run never reaches the registry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DhubError, TrainingFunctionError, TrainingInputError
from digitalhub_airflow.hashing import hash_bytes
from digitalhub_airflow.keys import Key, as_key, validate_name
from digitalhub_airflow.training.data import load_training_data, non_numeric, resolve_versions
from digitalhub_airflow.training.entrypoint import (
    as_trained,
    code_digest,
    entrypoint_name,
    load_entrypoint,
)
from digitalhub_airflow.training.feature_input import build_for_request, with_feature_facts
from digitalhub_airflow.training.flavours import log_model
from digitalhub_airflow.training.metrics import check_task, score
from digitalhub_airflow.training.model_catalog import ModelRecord, record_model
from digitalhub_airflow.training.tracking import (
    TrackingConfig,
    ensure_experiment,
    tracking_from_env,
    tracking_session,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.data import TrainingData

#: MLflow tags this module writes (and reads back when reusing a run).
TAG_CACHE_KEY = "dhub.cache_key"
TAG_MODEL_KEY = "dhub.model_key"
TAG_MODEL_URI = "dhub.model_uri"
TAG_DATASETS = "dhub.datasets"
TAG_TARGET = "dhub.target"
TAG_FEATURES = "dhub.features"
TAG_TASK = "dhub.task"


@dataclass
class TrainingRequest:
    """Everything one training run needs; JSON-able when the entrypoint is a string."""

    project: str
    name: str
    entrypoint: str | Callable[..., Any]
    datasets: list[str]
    target: str
    task: str = "classification"
    features: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    experiment: str | None = None
    test_size: float = 0.25
    seed: int = 0
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    producer: dict[str, Any] | None = None
    force: bool = False
    autolog: bool = True
    autolog_plots: bool = False
    #: ``[project/]service``: train on its point-in-time training set for the entity rows
    #: of ``datasets[0]`` (:mod:`digitalhub_airflow.training.feature_input`).
    feature_service: str | None = None

    @property
    def experiment_name(self) -> str:
        return self.experiment or f"{self.project}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["entrypoint"] = entrypoint_name(self.entrypoint)
        return data


@dataclass
class TrainingOutcome:
    """The model a run produced (or the earlier run it reused)."""

    model_key: str
    run_id: str
    experiment_id: str
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, Any]
    datasets: list[str]
    cache_key: str
    reused: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cache_key_of(request: TrainingRequest, versions: list[VersionInfo], digest: str) -> str:
    """Same exact versions + code + params + split settings -> same key -> reuse."""
    material = {
        "datasets": [v.key for v in versions],
        "entrypoint": entrypoint_name(request.entrypoint),
        "code": digest,
        "params": request.params,
        "target": request.target,
        "features": request.features,
        "task": request.task,
        "test_size": request.test_size,
        "seed": request.seed,
    }
    return hash_bytes(json.dumps(material, sort_keys=True, default=str).encode())


def train_model(
    hub: DataHub, tracking: TrackingConfig, request: TrainingRequest
) -> TrainingOutcome:
    """Train (or reuse) one model; see the module docstring for what is logged."""
    validate_name(request.project, "project")
    validate_name(request.name, "model name")
    check_task(request.task)
    fn = load_entrypoint(request.entrypoint)
    digest = code_digest(fn)
    request = build_for_request(hub, request)
    versions = resolve_versions(hub, request.datasets)
    request = with_feature_facts(request, versions[0]) if versions else request
    plan = _Plan(request, fn, digest, versions, cache_key_of(request, versions, digest))
    with tracking_session(tracking) as client:
        plan.experiment_id = ensure_experiment(client, tracking, request.experiment_name)
        if not request.force:
            reused = _reuse(hub, client, tracking, plan)
            if reused is not None:
                return reused
        return _run(hub, tracking, plan)


@dataclass
class _Plan:
    """A request with its function loaded and its inputs resolved."""

    request: TrainingRequest
    fn: Callable[..., Any]
    digest: str
    versions: list[VersionInfo]
    cache_key: str
    experiment_id: str = ""


def _reuse(
    hub: DataHub, client: MlflowClient, tracking: TrackingConfig, plan: _Plan
) -> TrainingOutcome | None:
    experiment_id, cache_key = plan.experiment_id, plan.cache_key
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_CACHE_KEY}` = '{cache_key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs or TAG_MODEL_URI not in runs[0].data.tags:
        return None
    run = runs[0]
    outcome = TrainingOutcome(
        model_key=run.data.tags[TAG_MODEL_KEY],
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        model_uri=run.data.tags[TAG_MODEL_URI],
        metrics=dict(run.data.metrics),
        params=plan.request.params,
        datasets=json.loads(run.data.tags[TAG_DATASETS]),
        cache_key=cache_key,
        reused=True,
    )
    record_model(hub, _record(outcome, plan, tracking))
    return outcome


def _record(outcome: TrainingOutcome, plan: _Plan, tracking: TrackingConfig) -> ModelRecord:
    request = plan.request
    return ModelRecord(
        key=outcome.model_key,
        project=request.project,
        name=request.name,
        run_id=outcome.run_id,
        experiment_id=outcome.experiment_id,
        tracking_uri=tracking.safe_uri,
        model_uri=outcome.model_uri,
        entrypoint=entrypoint_name(request.entrypoint),
        code_digest=plan.digest,
        cache_key=outcome.cache_key,
        params=request.params,
        metrics=outcome.metrics,
        datasets=outcome.datasets,
        target=request.target,
        task=request.task,
        producer=request.producer,
    )


def _run(hub: DataHub, tracking: TrackingConfig, plan: _Plan) -> TrainingOutcome:
    import mlflow

    request, digest, cache_key = plan.request, plan.digest, plan.cache_key
    dataset_keys = [v.key for v in plan.versions]
    tags = {
        **request.tags,
        TAG_CACHE_KEY: cache_key,
        "dhub.code_digest": digest,
        "dhub.entrypoint": entrypoint_name(request.entrypoint),
        TAG_DATASETS: json.dumps(dataset_keys),
        TAG_TARGET: request.target,
        TAG_TASK: request.task,
    }
    with mlflow.start_run(
        experiment_id=plan.experiment_id,
        run_name=request.name,
        parent_run_id=request.parent_run_id,
        tags=tags,
    ) as run:
        run_id = run.info.run_id
        model_key = str(Key(request.project, "model", "mlflow", request.name, run_id))
        data = load_training_data(
            hub,
            plan.versions,
            task=request.task,
            target=request.target,
            features=request.features,
            test_size=request.test_size,
            seed=request.seed,
        )
        mlflow.set_tag(TAG_FEATURES, json.dumps(data.features))
        _log_inputs(data)
        if request.params:
            mlflow.log_params({k: _param_text(v) for k, v in request.params.items()})
        with _autolog(request.autolog, plots=request.autolog_plots):
            trained = _call(plan.fn, data, request.params)
        metrics = {**score(request.task, data.y_test, trained.model.predict(data.x_test))}
        metrics.update({k: float(v) for k, v in trained.metrics.items()})
        mlflow.log_metrics(metrics)
        model_uri = log_model(trained.model, data.x_train.head(5))
        mlflow.set_tags({TAG_MODEL_KEY: model_key, TAG_MODEL_URI: model_uri})
        outcome = TrainingOutcome(
            model_key, run_id, plan.experiment_id, model_uri, metrics, request.params,
            dataset_keys, cache_key, reused=False,
        )  # fmt: skip
        record_model(hub, _record(outcome, plan, tracking))
    return outcome


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _log_inputs(data: TrainingData) -> None:
    """Each version as an MLflow dataset input whose source is its catalog key."""
    import mlflow

    from digitalhub_airflow.training.dataset_source import (
        CatalogDatasetSource,
        CatalogPandasDataset,
    )

    for info in data.versions:
        frame = data.tables[info.key]
        dataset = CatalogPandasDataset(
            frame,
            source=CatalogDatasetSource(info.key),
            name=as_key(info.key).name,
            targets=data.target if data.target in frame.columns else None,
            digest=info.short_id,
        )
        mlflow.log_input(dataset, context="training")


@contextmanager
def _autolog(enabled: bool, *, plots: bool) -> Iterator[None]:
    """scikit-learn autolog for the training call only (it patches sklearn globally).

    It logs the estimator's params, tags and training metrics. Its confusion-matrix,
    ROC and precision-recall PNGs are drawn only with ``plots``: matplotlib took about
    0.7 s of a 5 s training, and MLflow has no switch for them.
    """
    if not enabled:
        yield
        return
    import mlflow.sklearn

    mlflow.sklearn.autolog(
        log_models=False,
        log_datasets=False,
        log_input_examples=False,
        log_post_training_metrics=False,
        silent=True,
    )
    try:
        with nullcontext() if plots else _without_estimator_plots():
            yield
    finally:
        mlflow.sklearn.autolog(disable=True, silent=True)


@contextmanager
def _without_estimator_plots() -> Iterator[None]:
    """Autolog with no classifier plots: the list of plots it draws is empty meanwhile
    (a private MLflow function; a test asserts the plots are there only when asked)."""
    from mlflow.sklearn import utils

    drawn = utils._get_classifier_artifacts
    utils._get_classifier_artifacts = lambda *args, **kwargs: []
    try:
        yield
    finally:
        utils._get_classifier_artifacts = drawn


def _call(fn: Callable[..., Any], data: TrainingData, params: dict[str, Any]) -> Any:
    """Run the training function; name the failure, and catch non-numeric features."""
    from sklearn.pipeline import Pipeline

    text_columns = non_numeric(data.x_train)
    try:
        trained = as_trained(fn(data, dict(params)))
    except DhubError:
        raise
    except Exception as exc:
        if text_columns:
            raise _non_numeric_error(text_columns) from exc
        raise TrainingFunctionError(
            f"training function {entrypoint_name(fn)} raised {type(exc).__name__}: {exc}"
        ) from exc
    if text_columns and not isinstance(trained.model, Pipeline):
        raise _non_numeric_error(text_columns)
    return trained


def _non_numeric_error(columns: list[str]) -> TrainingInputError:
    return TrainingInputError(
        f"features {', '.join(columns)} are not numeric and the model is not a pipeline "
        "that encodes them: select numeric features or return a sklearn Pipeline"
    )


# -- python -m digitalhub_airflow.training.runner -------------------------------------
def main(argv: list[str] | None = None) -> int:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m digitalhub_airflow.training.runner")
    parser.add_argument("--request", help="request JSON file (default: $DHUB_TRAINING_REQUEST)")
    parser.add_argument("--output", help="write the outcome JSON here (default: stdout)")
    args = parser.parse_args(argv)
    text = (
        Path(args.request).read_text()
        if args.request
        else os.environ.get("DHUB_TRAINING_REQUEST", "")
    )
    if not text:
        parser.error("give --request FILE or DHUB_TRAINING_REQUEST")
    request = TrainingRequest(**json.loads(text))
    settings = load_settings()
    try:
        with DataHub.from_settings(settings) as hub:
            outcome = train_model(hub, tracking_from_env(settings.home), request)
    except DhubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    result = json.dumps(outcome.to_json())
    if args.output:
        Path(args.output).write_text(result)
    else:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
