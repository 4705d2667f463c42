"""Training operators: one MLflow-tracked training run, search planning, and the gated
selection of the best model. Each is a thin wrapper over ``digitalhub_airflow.training``.

A search is three tasks::

    plan = PlanSearchOperator(task_id="plan", strategy="grid", space={...}, ...)
    train = TrainModelOperator.partial(
        task_id="train", parent_run_id=parent_run_of("plan"), ...
    ).expand(hyperparameters=plan.output)
    SelectBestModelOperator(task_id="select", candidates=train.output, metric="accuracy", ...)

Each mapped ``train`` task is one MLflow child run; Airflow runs them on whatever
workers it has, in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from digitalhub_airflow.errors import TrainingInputError
from digitalhub_airflow.hooks.mlflow import MlflowHook
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.assets import producer_of

if TYPE_CHECKING:
    from digitalhub_airflow.training.runner import TrainingRequest

PARENT_RUN_XCOM = "parent_run_id"
DATASET_XCOM = "dataset"


def parent_run_of(plan_task_id: str) -> str:
    """Template resolving to the parent MLflow run a ``PlanSearchOperator`` opened."""
    return f"{{{{ ti.xcom_pull(task_ids='{plan_task_id}', key='{PARENT_RUN_XCOM}') }}}}"


def dataset_of(plan_task_id: str) -> str:
    """Template resolving to the exact dataset version a ``PlanSearchOperator`` pinned,
    so every configuration of a search trains on the same bytes."""
    return f"{{{{ ti.xcom_pull(task_ids='{plan_task_id}', key='{DATASET_XCOM}') }}}}"


def triggering_version(context: Any, dataset: str) -> str | None:
    """The version key the Asset event that triggered this run carries, if any."""
    events = context.get("triggering_asset_events") or {}
    for asset, asset_events in events.items():
        if getattr(asset, "uri", None) == dataset and asset_events:
            return (asset_events[-1].extra or {}).get("version_key")
    return None


def airflow_tags(context: Any) -> dict[str, str]:
    """MLflow run tags naming the task instance that trained the model."""
    producer = producer_of(context)
    return {f"airflow.{k}": str(v) for k, v in producer.items()}


def training_request(context: Any, **fields: Any) -> TrainingRequest:
    """A training request for this task instance: ``fields`` (those of
    :class:`~digitalhub_airflow.training.runner.TrainingRequest`) plus the MLflow tags and
    the producer naming the task instance. Unknown fields are a clear error."""
    from digitalhub_airflow.training.runner import TrainingRequest

    datasets = fields.pop("datasets", [])
    try:
        return TrainingRequest(
            datasets=[datasets] if isinstance(datasets, str) else list(datasets),
            tags=airflow_tags(context),
            producer=producer_of(context),
            **fields,
        )
    except TypeError as exc:
        raise TrainingInputError(f"training request: {exc}") from exc


class _TrainingOperator(DigitalHubOperator):
    """Shared: the MLflow connection, the model's project and name."""

    def __init__(
        self, *, project: str, name: str, mlflow_conn_id: str = "mlflow_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.name = name
        self.mlflow_conn_id = mlflow_conn_id

    @property
    def mlflow(self) -> MlflowHook:
        return MlflowHook(self.mlflow_conn_id)


class TrainModelOperator(_TrainingOperator):
    """Train ``entrypoint`` on exact dataset versions in an MLflow run; returns the outcome.

    :param entrypoint: ``package.module:function`` (runs anywhere) or a callable;
        called as ``fn(data: TrainingData, params: dict)`` with ``hyperparameters``,
        returns a fitted model (``params`` is Airflow's own, for DAG params).
    :param datasets: dataset keys; the first is split into train/test.
    :param feature_service: ``[project/]service`` of the feature store: the first dataset
        is then the entity rows (keys, event times, target) and the point-in-time training
        set is built from the service and committed before training.
    :param target: the target column. ``features``: columns to use (default: all others).
    :param task: ``classification`` or ``regression`` (which metrics are computed).
    :param force: train even if a run with the same versions, code and params exists.
    :param autolog: MLflow autolog of the training call (estimator params, tags,
        training metrics); ``autolog_plots`` adds its confusion-matrix/ROC/PR images
        (off by default: matplotlib takes about 0.7 s a run to draw them).
    """

    template_fields: Sequence[str] = (
        "project",
        "name",
        "entrypoint",
        "datasets",
        "target",
        "features",
        "feature_service",
        "hyperparameters",
        "experiment",
        "parent_run_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"hyperparameters": "json"}
    ui_color = "#e8daef"

    def __init__(
        self,
        *,
        entrypoint: str | Callable[..., Any],
        datasets: str | Sequence[str],
        target: str,
        task: str = "classification",
        features: Sequence[str] | None = None,
        feature_service: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        experiment: str | None = None,
        test_size: float = 0.25,
        seed: int = 0,
        parent_run_id: str | None = None,
        force: bool = False,
        autolog: bool = True,
        autolog_plots: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.entrypoint = entrypoint
        self.datasets = datasets
        self.target = target
        self.task = task
        self.features = features
        self.feature_service = feature_service
        self.hyperparameters = hyperparameters or {}
        self.experiment = experiment
        self.test_size = test_size
        self.seed = seed
        self.parent_run_id = parent_run_id
        self.force = force
        self.autolog = autolog
        self.autolog_plots = autolog_plots

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.training.runner import train_model

        request = training_request(
            context,
            project=self.project,
            name=self.name,
            entrypoint=self.entrypoint,
            datasets=self.datasets,
            target=self.target,
            task=self.task,
            features=list(self.features) if self.features else None,
            feature_service=self.feature_service or None,
            params=dict(self.hyperparameters),
            experiment=self.experiment,
            test_size=self.test_size,
            seed=self.seed,
            parent_run_id=self.parent_run_id or None,
            force=self.force,
            autolog=self.autolog,
            autolog_plots=self.autolog_plots,
        )
        with self.task_hub() as hub:
            outcome = train_model(hub, self.mlflow.tracking(), request)
            for key in outcome.datasets:
                self.task_io.read(hub.resolve(key))
        state = "reused run" if outcome.reused else "trained"
        self.log.info("%s %s: %s", state, outcome.run_id, outcome.model_key)
        return outcome.to_json()


class PlanSearchOperator(_TrainingOperator):
    """Expand a search space into configurations and open the parent MLflow run.

    :param strategy: ``grid`` (every combination of ``space``), ``random`` (``n``
        draws with ``seed``) or ``automl`` (default grids of the estimator families
        for ``task``; ``families`` narrows them).
    :param dataset: pinned once to an exact version (the triggering Asset event's,
        else the one ``dataset`` resolves to now) for every configuration to train on.
    Returns the list of parameter dicts to ``.expand(hyperparameters=...)`` over; the parent
    run id and the pinned version go to XCom (see :func:`parent_run_of`, :func:`dataset_of`).
    """

    template_fields: Sequence[str] = ("project", "name", "space", "experiment", "dataset")
    template_fields_renderers: ClassVar[dict[str, str]] = {"space": "json"}

    def __init__(
        self,
        *,
        strategy: str = "grid",
        space: dict[str, Any] | None = None,
        n: int = 10,
        seed: int = 0,
        task: str = "classification",
        families: Sequence[str] | None = None,
        experiment: str | None = None,
        dataset: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.strategy = strategy
        self.space = space or {}
        self.n = n
        self.seed = seed
        self.task = task
        self.families = list(families) if families else None
        self.experiment = experiment

    def perform(self, context: Any) -> list[dict[str, Any]]:
        from digitalhub_airflow.training.search import configurations, open_search
        from digitalhub_airflow.training.tracking import ensure_experiment, tracking_session

        planned = configurations(
            self.strategy, self.space, n=self.n, seed=self.seed, task=self.task,
            families=self.families,
        )  # fmt: skip
        if self.dataset:
            with self.task_hub() as hub:
                pinned = self.task_io.read(
                    hub.resolve(triggering_version(context, self.dataset) or self.dataset)
                )
            context["ti"].xcom_push(key=DATASET_XCOM, value=pinned.key)
        tracking = self.mlflow.tracking()
        with tracking_session(tracking) as client:
            experiment = self.experiment or f"{self.project}.{self.name}"
            experiment_id = ensure_experiment(client, tracking, experiment)
            parent = open_search(
                client,
                experiment_id,
                name=self.name,
                strategy=self.strategy,
                configurations=planned,
                tags=airflow_tags(context),
            )
        context["ti"].xcom_push(key=PARENT_RUN_XCOM, value=parent)
        self.log.info(
            "%s search: %d configurations under run %s", self.strategy, len(planned), parent
        )
        return planned


class SelectBestModelOperator(_TrainingOperator):
    """Register the best candidate and move ``alias`` to it only if it beats the champion.

    :param candidates: outcomes of the training tasks (``train.output``) or run ids.
    :param metric: the metric to rank and gate by (``accuracy``, ``f1_macro``, ``rmse``,
        ``mae``, ``r2``); its direction is known, ``greater_is_better`` overrides it.
    :param evaluation_dataset: dataset key both models are scored on (default: the
        candidate's training dataset), resolved once to an exact version.
    """

    template_fields: Sequence[str] = (
        "project",
        "name",
        "candidates",
        "metric",
        "evaluation_dataset",
        "alias",
        "parent_run_id",
    )

    def __init__(
        self,
        *,
        candidates: Any,
        metric: str,
        greater_is_better: bool | None = None,
        evaluation_dataset: str | None = None,
        alias: str = "champion",
        parent_run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.candidates = candidates
        self.metric = metric
        self.greater_is_better = greater_is_better
        self.evaluation_dataset = evaluation_dataset
        self.alias = alias
        self.parent_run_id = parent_run_id

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.training.selection import select_and_gate

        run_ids = [c["run_id"] if isinstance(c, dict) else str(c) for c in self.candidates]
        with self.task_hub() as hub:
            result = select_and_gate(
                hub,
                self.mlflow.tracking(),
                project=self.project,
                name=self.name,
                run_ids=run_ids,
                metric=self.metric,
                greater_is_better=self.greater_is_better,
                evaluation_dataset=self.evaluation_dataset or None,
                alias=self.alias,
                parent_run_id=self.parent_run_id or None,
            )
            self.task_io.read(hub.resolve(result.evaluation_dataset))
        self.log.info(
            "gate: %s v%s promoted=%s (%s)",
            result.registered_name,
            result.registered_version,
            result.promoted,
            result.reason,
        )
        return result.to_json()
