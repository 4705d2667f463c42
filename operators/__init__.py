"""Every operator of the DigitalHub suite: thin wrappers over core calls.

Names resolve on first use (PEP 562), so a DAG file that imports one operator imports only
that operator's module: no pandas, pyarrow, great_expectations, mlflow, sklearn or the
Kubernetes provider unless the DAG uses them, and DAG files parse in milliseconds.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module (under this package or the suite) that defines it
_WHERE = {
    "CommitDatasetOperator": "operators.commit",
    "TagDatasetOperator": "operators.tag",
    "ValidateDatasetOperator": "operators.quality",
    "ProfileDatasetOperator": "operators.quality",
    "CompareProfilesOperator": "operators.quality",
    "TransformDatasetOperator": "operators.transform",
    "SqlTransformOperator": "operators.transform",
    "dataset_transform": "operators.transform",
    "dataset_task": "decorators.taskflow",
    "TrainModelOperator": "operators.training",
    "PlanSearchOperator": "operators.training",
    "SelectBestModelOperator": "operators.training",
    "dataset_of": "operators.training",
    "parent_run_of": "operators.training",
    "DigitalHubPodOperator": "operators.pods",
    "GpuTrainingPodOperator": "operators.gpu_training",
    "DeployModelOperator": "operators.serving",
    "DeployDataServiceOperator": "operators.data_service",
    "UndeployModelOperator": "operators.serving",
    "RollbackModelOperator": "operators.serving",
    "ReconcileServicesOperator": "operators.serving",
    "DriftReportOperator": "operators.monitoring",
    "ServiceStatsOperator": "operators.monitoring",
    "RunNotebookOperator": "operators.notebook",
    "ApplyFeaturesOperator": "operators.features",
    "MaterializeFeaturesOperator": "operators.features",
    "BuildTrainingSetOperator": "operators.features",
}

__all__ = [
    "ApplyFeaturesOperator",
    "BuildTrainingSetOperator",
    "CommitDatasetOperator",
    "CompareProfilesOperator",
    "DeployDataServiceOperator",
    "DeployModelOperator",
    "DigitalHubPodOperator",
    "DriftReportOperator",
    "GpuTrainingPodOperator",
    "MaterializeFeaturesOperator",
    "PlanSearchOperator",
    "ProfileDatasetOperator",
    "ReconcileServicesOperator",
    "RollbackModelOperator",
    "RunNotebookOperator",
    "SelectBestModelOperator",
    "ServiceStatsOperator",
    "SqlTransformOperator",
    "TagDatasetOperator",
    "TrainModelOperator",
    "TransformDatasetOperator",
    "UndeployModelOperator",
    "ValidateDatasetOperator",
    "dataset_of",
    "dataset_task",
    "dataset_transform",
    "parent_run_of",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"digitalhub_airflow.{module}"), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


if TYPE_CHECKING:
    from digitalhub_airflow.decorators.taskflow import dataset_task
    from digitalhub_airflow.operators.commit import CommitDatasetOperator
    from digitalhub_airflow.operators.data_service import DeployDataServiceOperator
    from digitalhub_airflow.operators.features import (
        ApplyFeaturesOperator,
        BuildTrainingSetOperator,
        MaterializeFeaturesOperator,
    )
    from digitalhub_airflow.operators.gpu_training import GpuTrainingPodOperator
    from digitalhub_airflow.operators.monitoring import DriftReportOperator, ServiceStatsOperator
    from digitalhub_airflow.operators.notebook import RunNotebookOperator
    from digitalhub_airflow.operators.pods import DigitalHubPodOperator
    from digitalhub_airflow.operators.quality import (
        CompareProfilesOperator,
        ProfileDatasetOperator,
        ValidateDatasetOperator,
    )
    from digitalhub_airflow.operators.serving import (
        DeployModelOperator,
        ReconcileServicesOperator,
        RollbackModelOperator,
        UndeployModelOperator,
    )
    from digitalhub_airflow.operators.tag import TagDatasetOperator
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
