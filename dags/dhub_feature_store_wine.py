"""Feature store: the wine table gets an entity id and event times (``wine-orders``), the
Feast definitions in ``dags/features/`` are applied, the online store is materialised,
a point-in-time-correct training set is committed for the labelled wines, and a model
is trained on ``wine_service`` with the labels as entity rows.

Scheduled on the wine dataset's Asset: each new version of ``demo/wine`` re-runs it, and
materialisation follows ``wine-orders`` to its new version. The model
(``wine-fs-classifier``) records the service, its definition digest and the training
set; ``dhub serve --features demo/wine_service`` serves it from entity ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import dag

from digitalhub_airflow.operators import (
    ApplyFeaturesOperator,
    BuildTrainingSetOperator,
    MaterializeFeaturesOperator,
    dataset_transform,
)
from digitalhub_airflow.operators.training import TrainModelOperator
from digitalhub_airflow.provider.assets import dataset_asset

WINE = "store://demo/dataitem/table/wine"
ORDERS = "store://demo/dataitem/table/wine-orders"
LABELS = "store://demo/dataitem/table/wine-labels"
SERVICE = "demo/wine_service"
ESTIMATORS = "digitalhub_airflow.training.estimators:train_estimator"
DEFINITIONS = str(Path(__file__).parent / "features")
#: Event times are fixed (one hour per wine from here), so a re-run is a cache hit.
FIRST_EVENT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def wine_orders(wine: Any) -> Any:
    """Each wine as an entity (``wine_id``) measured at an event time: its numeric
    measurements (derived text columns, such as the ingest DAG's ``alcohol_band``, are no
    features)."""
    measurements = wine.drop(columns=["target"]).select_dtypes("number")
    frame = measurements.astype("float64").reset_index(drop=True)
    frame.insert(0, "wine_id", range(1, len(frame) + 1))
    frame["event_timestamp"] = [FIRST_EVENT + timedelta(hours=i) for i in range(len(frame))]
    return frame


def wine_labels(wine: Any) -> Any:
    """The label of each wine, asked a day after its last measurement."""
    return wine[["target"]].assign(
        wine_id=range(1, len(wine) + 1),
        event_timestamp=FIRST_EVENT + timedelta(hours=len(wine), days=1),
    )


@dag(schedule=[dataset_asset(WINE)], catchup=False, tags=["dhub", "demo"], doc_md=__doc__)
def dhub_feature_store_wine() -> None:
    orders = dataset_transform(ORDERS, inputs={"wine": WINE})(wine_orders)()
    labels = dataset_transform(LABELS, inputs={"wine": WINE})(wine_labels)()
    apply = ApplyFeaturesOperator(task_id="apply_features", folder=DEFINITIONS)
    materialize = MaterializeFeaturesOperator(task_id="materialize", project="demo")
    training_set = BuildTrainingSetOperator(
        task_id="training_set", service="wine_service", entities=LABELS, target="demo/wine-train"
    )
    # MLflow as dhub_train_wine finds it: the mlflow_default connection, else embedded.
    train = TrainModelOperator(
        task_id="train",
        project="demo",
        name="wine-fs-classifier",
        entrypoint=ESTIMATORS,
        datasets=LABELS,
        feature_service=SERVICE,
        target="target",
        hyperparameters={"estimator": "random_forest", "n_estimators": 50},
    )
    orders >> apply >> materialize
    [apply, labels] >> training_set
    [apply, labels] >> train


dhub_feature_store_wine()
