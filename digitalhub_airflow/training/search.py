"""Hyperparameter search spaces as lists of configurations, and the parent run.

A search is plain data: :func:`grid` and :func:`random_search` turn a space into the
list that Airflow maps one training task over, so the workers Airflow has run the
configurations in parallel. A parent MLflow run groups the child runs in the UI.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import TrainingInputError
from digitalhub_airflow.training.estimators import FAMILIES, families_for

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Above this, a search is a mistake (each configuration is one Airflow task).
MAX_CONFIGURATIONS = 1000


def _check_space(space: dict[str, Any]) -> None:
    if not isinstance(space, dict) or not space:
        raise TrainingInputError("a search space is a non-empty {parameter: values} mapping")
    for name, values in space.items():
        if isinstance(values, list) and values:
            continue
        if isinstance(values, dict) and {"low", "high"} <= values.keys():
            if not values["low"] < values["high"]:
                raise TrainingInputError(f"range of {name!r} needs low < high")
            if values.get("log") and values["low"] <= 0:
                raise TrainingInputError(f"log range of {name!r} needs low > 0")
            continue
        raise TrainingInputError(
            f"values of {name!r} must be a non-empty list or a {{low, high[, log, int]}} range"
        )


def _check_count(count: int) -> None:
    if count > MAX_CONFIGURATIONS:
        raise TrainingInputError(
            f"the search has {count} configurations; at most {MAX_CONFIGURATIONS}"
        )


def grid(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the listed values, in a stable order."""
    _check_space(space)
    ranges = [n for n, v in space.items() if not isinstance(v, list)]
    if ranges:
        raise TrainingInputError(f"grid search needs value lists; {ranges} are ranges")
    _check_count(math.prod(len(v) for v in space.values()))
    names = list(space)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*space.values())]


def _sample(rng: random.Random, values: Any) -> Any:
    if isinstance(values, list):
        return rng.choice(values)
    low, high = values["low"], values["high"]
    if values.get("log"):
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return round(value) if values.get("int") else value


def random_search(space: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations drawn with ``seed``: the same seed gives the same list."""
    _check_space(space)
    if n < 1:
        raise TrainingInputError(f"random search needs n >= 1, not {n}")
    _check_count(n)
    rng = random.Random(seed)
    return [{name: _sample(rng, values) for name, values in space.items()} for _ in range(n)]


def automl_configurations(task: str, families: list[str] | None = None) -> list[dict[str, Any]]:
    """The default grid of each estimator family for ``task``, as one list."""
    chosen = families or families_for(task)
    unknown = [f for f in chosen if f not in families_for(task)]
    if unknown:
        raise TrainingInputError(
            f"estimator families {unknown} are unknown for {task}; "
            f"one of {', '.join(families_for(task))}"
        )
    configurations = []
    for family in chosen:
        configurations += [{"estimator": family, **c} for c in grid(FAMILIES[family]["grid"])]
    return configurations


STRATEGIES = ("grid", "random", "automl")


def configurations(
    strategy: str,
    space: dict[str, Any],
    *,
    n: int = 10,
    seed: int = 0,
    task: str = "classification",
    families: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The configurations of a search, by strategy name."""
    if strategy == "grid":
        return grid(space)
    if strategy == "random":
        return random_search(space, n, seed)
    if strategy == "automl":
        return automl_configurations(task, families)
    raise TrainingInputError(f"search strategy {strategy!r} is unknown; one of {STRATEGIES}")


def open_search(
    client: MlflowClient,
    experiment_id: str,
    *,
    name: str,
    strategy: str,
    configurations: list[dict[str, Any]],
    tags: dict[str, str] | None = None,
) -> str:
    """Create the parent run the child training runs attach to; returns its id."""
    run = client.create_run(
        experiment_id,
        run_name=f"{name}-search",
        tags={
            **(tags or {}),
            "dhub.search": strategy,
            "dhub.configurations": str(len(configurations)),
        },
    )
    client.log_text(run.info.run_id, json.dumps(configurations, indent=1), "search.json")
    return str(run.info.run_id)
