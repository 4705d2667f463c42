"""Search spaces, metrics and entrypoints: the plain-data part of training, no MLflow."""

from __future__ import annotations

import pytest

from digitalhub_airflow.errors import TrainingFunctionError, TrainingInputError
from digitalhub_airflow.training.entrypoint import (
    as_trained,
    code_digest,
    entrypoint_name,
    load_entrypoint,
)
from digitalhub_airflow.training.estimators import FAMILIES, families_for, train_estimator
from digitalhub_airflow.training.metrics import get_metric, is_better, score
from digitalhub_airflow.training.search import (
    automl_configurations,
    configurations,
    grid,
    random_search,
)


def test_grid_is_every_combination_in_a_stable_order() -> None:
    space = {"n_estimators": [50, 100, 200, 400], "max_depth": [4, None]}
    configs = grid(space)
    assert len(configs) == 8
    assert configs[0] == {"n_estimators": 50, "max_depth": 4}
    assert configs[-1] == {"n_estimators": 400, "max_depth": None}
    assert len({tuple(sorted(c.items(), key=str)) for c in configs}) == 8
    assert grid(space) == configs


def test_random_search_is_reproducible_by_seed_and_stays_in_range() -> None:
    space = {"C": {"low": 1e-3, "high": 10.0, "log": True}, "k": {"low": 1, "high": 9, "int": True}}
    first = random_search(space, 12, seed=7)
    assert first == random_search(space, 12, seed=7)
    assert first != random_search(space, 12, seed=8)
    assert all(
        1e-3 <= c["C"] <= 10.0 and isinstance(c["k"], int) and 1 <= c["k"] <= 9 for c in first
    )
    picked = random_search({"estimator": ["a", "b"]}, 20, seed=1)
    assert {c["estimator"] for c in picked} <= {"a", "b"}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "non-empty"),
        ({"a": []}, "non-empty list"),
        ({"a": {"low": 3, "high": 1}}, "low < high"),
        ({"a": {"low": 0, "high": 1, "log": True}}, "low > 0"),
        ({"a": 5}, "non-empty list"),
    ],
)
def test_bad_spaces_are_refused_with_the_parameter_named(space: dict, message: str) -> None:
    with pytest.raises(TrainingInputError, match=message):
        random_search(space, 3, seed=0)


def test_grid_refuses_ranges_and_huge_searches() -> None:
    with pytest.raises(TrainingInputError, match="ranges"):
        grid({"a": {"low": 0, "high": 1}})
    with pytest.raises(TrainingInputError, match="at most"):
        grid({f"p{i}": list(range(10)) for i in range(4)})
    with pytest.raises(TrainingInputError, match="unknown"):
        configurations("bayesian", {"a": [1]})


def test_automl_covers_every_family_of_the_task_with_its_default_grid() -> None:
    configs = automl_configurations("regression")
    families = {c["estimator"] for c in configs}
    assert families == set(families_for("regression"))
    assert "logistic_regression" not in families  # a classifier only
    expected = sum(len(grid(FAMILIES[f]["grid"])) for f in families)
    assert len(configs) == expected
    with pytest.raises(TrainingInputError, match="unknown for regression"):
        automl_configurations("regression", ["logistic_regression"])
    with pytest.raises(TrainingInputError, match="task 'clustering'"):
        automl_configurations("clustering")


def test_metric_directions_and_strict_improvement() -> None:
    assert get_metric("accuracy").greater_is_better
    assert not get_metric("rmse").greater_is_better
    assert is_better(0.9, 0.8, True) and not is_better(0.8, 0.8, True)
    assert is_better(1.0, 2.0, False) and not is_better(2.0, 2.0, False)
    assert set(score("regression", [1.0, 2.0], [1.0, 3.0])) == {"rmse", "mae", "r2"}
    with pytest.raises(TrainingInputError, match="metric 'auc' is unknown"):
        get_metric("auc")


def test_entrypoints_load_by_name_and_bad_ones_are_named() -> None:
    assert load_entrypoint(entrypoint_name(train_estimator)) is train_estimator
    for bad in ("no-colon", "os:path:join", "1mod:fn"):
        with pytest.raises(TrainingFunctionError, match="invalid"):
            load_entrypoint(bad)
    with pytest.raises(TrainingFunctionError, match="cannot load"):
        load_entrypoint("digitalhub_airflow.training.estimators:missing")
    with pytest.raises(TrainingFunctionError, match="not a fitted model"):
        as_trained({"weights": [1, 2]})
    assert len(code_digest(train_estimator)) == 64
