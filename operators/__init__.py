"""Operators of the DigitalHub suite: thin wrappers over core calls.

Importing this package imports no pandas, pyarrow, great_expectations, mlflow or
sklearn, so DAG files that use it parse in milliseconds.
"""

from digitalhub_airflow.operators.commit import CommitDatasetOperator
from digitalhub_airflow.operators.tag import TagDatasetOperator
from digitalhub_airflow.operators.taskflow import dataset_task

__all__ = ["CommitDatasetOperator", "TagDatasetOperator", "dataset_task"]
