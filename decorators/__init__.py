"""TaskFlow decorators of the suite: ``@dataset_task`` (a Python task whose commits are one
recorded run) and ``@dataset_transform`` (a cached, idempotent transform of pinned inputs,
defined beside the operator it builds)."""

from digitalhub_airflow.decorators.taskflow import dataset_task
from digitalhub_airflow.operators.transform import dataset_transform

__all__ = ["dataset_task", "dataset_transform"]
