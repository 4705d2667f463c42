"""Operators of the DigitalHub suite: thin wrappers over core calls.

Importing this package imports no pandas, pyarrow, great_expectations, mlflow or
sklearn, so DAG files that use it parse in milliseconds.
"""

from digitalhub_airflow.operators.commit import CommitDatasetOperator
from digitalhub_airflow.operators.tag import TagDatasetOperator
from digitalhub_airflow.operators.taskflow import dataset_task
from digitalhub_airflow.operators.transform import (
    SqlTransformOperator,
    TransformDatasetOperator,
    dataset_transform,
)

__all__ = [
    "CommitDatasetOperator",
    "SqlTransformOperator",
    "TagDatasetOperator",
    "TransformDatasetOperator",
    "dataset_task",
    "dataset_transform",
]
