"""Train: a grid of random forests on the wine features, one mapped task per
configuration (parallel on the workers Airflow has), then the best is registered and
takes ``@champion`` only if it beats the current one on the same evaluation version.

Scheduled on the features dataset: each new features version retrains. Every
configuration trains on the one exact version the plan task pinned; a configuration
already trained on that version with the same code reuses its MLflow run.
"""

from __future__ import annotations

from airflow.sdk import dag

from digitalhub_airflow.operators.training import (
    PlanSearchOperator,
    SelectBestModelOperator,
    TrainModelOperator,
    dataset_of,
    parent_run_of,
)
from digitalhub_airflow.provider.assets import dataset_asset

FEATURES = "store://demo/dataitem/table/wine-features"
PROJECT, MODEL = "demo", "wine-classifier"
ESTIMATORS = "digitalhub_airflow.training.estimators:train_estimator"
#: 4 x 2 = 8 configurations.
SPACE = {
    "estimator": ["random_forest"],
    "n_estimators": [10, 25, 50, 100],
    "max_depth": [2, None],
}


@dag(schedule=[dataset_asset(FEATURES)], catchup=False, tags=["dhub", "demo", "training"])
def dhub_train_wine() -> None:
    plan = PlanSearchOperator(
        task_id="plan", project=PROJECT, name=MODEL, strategy="grid", space=SPACE, dataset=FEATURES
    )
    train = TrainModelOperator.partial(
        task_id="train",
        project=PROJECT,
        name=MODEL,
        entrypoint=ESTIMATORS,
        datasets=dataset_of("plan"),
        target="target",
        parent_run_id=parent_run_of("plan"),
    ).expand(hyperparameters=plan.output)
    SelectBestModelOperator(
        task_id="select",
        project=PROJECT,
        name=MODEL,
        candidates=train.output,
        metric="f1_macro",
        parent_run_id=parent_run_of("plan"),
    )


dhub_train_wine()
