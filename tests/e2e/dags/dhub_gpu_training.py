"""Test DAG: a training request run by GpuTrainingPodOperator (conf: dataset, name)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from digitalhub_airflow.operators.gpu_training import GpuTrainingPodOperator

with DAG("dhub_gpu_training", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    GpuTrainingPodOperator(
        task_id="train_on_gpu",
        training={
            "project": "demo",
            "name": "{{ dag_run.conf['name'] }}",
            "entrypoint": "digitalhub_airflow.training.estimators:train_estimator",
            "datasets": ["{{ dag_run.conf['dataset'] }}"],
            "target": "target",
            "hyperparameters": {"estimator": "random_forest", "n_estimators": 10},
            "autolog": False,
        },
        credentials_secret="dhub-credentials",
        namespace="ml",
    )
