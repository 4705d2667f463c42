"""Built-in training entrypoint: scikit-learn estimator families with default grids.

``train_estimator`` is what the reference DAG and the AutoML mode run: ``params`` name
a family (``estimator``) and its hyperparameters. ``preprocess='auto'`` wraps the
estimator in a pipeline that scales numbers and one-hot encodes everything else;
``'none'`` fits the bare estimator, which then needs numeric features.
"""

from __future__ import annotations

from typing import Any

from digitalhub_airflow.errors import TrainingInputError
from digitalhub_airflow.training.data import TrainingData, non_numeric
from digitalhub_airflow.training.metrics import check_task

#: family -> (estimator class path per task, default grid). Grids are small on purpose:
#: AutoML tries every family, each point is one mapped task.
FAMILIES: dict[str, dict[str, Any]] = {
    "logistic_regression": {
        "classification": "sklearn.linear_model:LogisticRegression",
        "grid": {"C": [0.1, 1.0, 10.0], "max_iter": [1000]},
    },
    "ridge": {"regression": "sklearn.linear_model:Ridge", "grid": {"alpha": [0.1, 1.0, 10.0]}},
    "random_forest": {
        "classification": "sklearn.ensemble:RandomForestClassifier",
        "regression": "sklearn.ensemble:RandomForestRegressor",
        "grid": {"n_estimators": [50, 200], "max_depth": [None, 8]},
    },
    "gradient_boosting": {
        "classification": "sklearn.ensemble:GradientBoostingClassifier",
        "regression": "sklearn.ensemble:GradientBoostingRegressor",
        "grid": {"learning_rate": [0.05, 0.2], "n_estimators": [100]},
    },
    "k_neighbors": {
        "classification": "sklearn.neighbors:KNeighborsClassifier",
        "regression": "sklearn.neighbors:KNeighborsRegressor",
        "grid": {"n_neighbors": [3, 7, 15]},
    },
}
#: Hyperparameters this module consumes itself (not passed to the estimator).
CONTROL_PARAMS = ("estimator", "preprocess")
SEEDED = ("random_state",)


def families_for(task: str) -> list[str]:
    check_task(task)
    return [name for name, spec in FAMILIES.items() if task in spec]


def make_estimator(task: str, family: str, hyper: dict[str, Any], seed: int) -> Any:
    import importlib

    spec = FAMILIES.get(family)
    if spec is None or task not in spec:
        raise TrainingInputError(
            f"estimator {family!r} is unknown for {task}; one of {', '.join(families_for(task))}"
        )
    module, _, name = spec[task].partition(":")
    cls = getattr(importlib.import_module(module), name)
    accepted = cls().get_params()
    unknown = sorted(set(hyper) - set(accepted))
    if unknown:
        raise TrainingInputError(f"{family} has no hyperparameter(s) {', '.join(unknown)}")
    seeded = {k: seed for k in SEEDED if k in accepted and k not in hyper}
    return cls(**hyper, **seeded)


def preprocessor(frame: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = non_numeric(frame)
    numeric = [c for c in frame.columns if c not in categorical]
    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )


def train_estimator(data: TrainingData, params: dict[str, Any]) -> Any:
    """Fit the family named by ``params['estimator']`` (default ``random_forest``)."""
    from sklearn.pipeline import Pipeline

    family = params.get("estimator", "random_forest")
    preprocess = params.get("preprocess", "auto")
    if preprocess not in ("auto", "none"):
        raise TrainingInputError(f"preprocess must be 'auto' or 'none', not {preprocess!r}")
    hyper = {k: v for k, v in params.items() if k not in CONTROL_PARAMS}
    model = make_estimator(data.task, family, hyper, data.seed)
    if preprocess == "auto":
        model = Pipeline([("prep", preprocessor(data.x_train)), ("model", model)])
    return model.fit(data.x_train, data.y_train)
