"""Operators of the DigitalHub suite: thin wrappers over core calls.

Importing this package imports no pandas, pyarrow, great_expectations, mlflow or
sklearn, so DAG files that use it parse in milliseconds.
"""

from digitalhub_airflow.operators.commit import CommitDatasetOperator
from digitalhub_airflow.operators.quality import (
    CompareProfilesOperator,
    ProfileDatasetOperator,
    ValidateDatasetOperator,
)
from digitalhub_airflow.operators.tag import TagDatasetOperator
from digitalhub_airflow.operators.taskflow import dataset_task
from digitalhub_airflow.operators.training import (
    PlanSearchOperator,
    SelectBestModelOperator,
    TrainModelOperator,
    dataset_of,
    parent_run_of,
)
from digitalhub_airflow.operators.transform import (
    SqlTransformOperator,
    TransformDatasetOperator,
    dataset_transform,
)

__all__ = [
    "CommitDatasetOperator",
    "CompareProfilesOperator",
    "PlanSearchOperator",
    "ProfileDatasetOperator",
    "SelectBestModelOperator",
    "SqlTransformOperator",
    "TagDatasetOperator",
    "TrainModelOperator",
    "TransformDatasetOperator",
    "ValidateDatasetOperator",
    "dataset_of",
    "dataset_task",
    "dataset_transform",
    "parent_run_of",
]
