"""Named metrics, their direction, and which ones each task type reports.

One table, so the training runner, search selection and the champion gate always
agree on what "better" means for a metric name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from digitalhub_airflow.errors import TrainingInputError

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    greater_is_better: bool
    compute: Callable[[Any, Any], float]


def _accuracy(y: Any, p: Any) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def _f1_macro(y: Any, p: Any) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, average="macro"))


def _rmse(y: Any, p: Any) -> float:
    from sklearn.metrics import mean_squared_error

    return math.sqrt(float(mean_squared_error(y, p)))


def _mae(y: Any, p: Any) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, p))


def _r2(y: Any, p: Any) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, p))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "classification", True, _accuracy),
        Metric("f1_macro", "classification", True, _f1_macro),
        Metric("rmse", "regression", False, _rmse),
        Metric("mae", "regression", False, _mae),
        Metric("r2", "regression", True, _r2),
    )
}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise TrainingInputError(f"task {task!r} is unknown; one of {', '.join(TASKS)}")
    return task


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise TrainingInputError(
            f"metric {name!r} is unknown; one of {', '.join(sorted(METRICS))}"
        ) from None


def score(task: str, y_true: Any, y_pred: Any) -> dict[str, float]:
    """Every metric of ``task`` on one set of predictions."""
    return {m.name: m.compute(y_true, y_pred) for m in METRICS.values() if m.task == task}


def is_better(candidate: float, incumbent: float, greater_is_better: bool) -> bool:
    """Strictly better: a tie keeps the incumbent, so aliases do not flap."""
    return candidate > incumbent if greater_is_better else candidate < incumbent
