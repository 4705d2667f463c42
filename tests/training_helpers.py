"""Shared by the training tests: the wine table, requests, training functions that fail
or underperform on purpose, and reads of what MLflow and the catalog hold afterwards.

The functions here are importable as ``tests.training_helpers:<name>`` entrypoints, so
the same request runs in-process, in a subprocess or through Airflow.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

from digitalhub_airflow.datasets.versions import VersionInfo
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.runner import TrainingRequest
from digitalhub_airflow.training.tracking import TrackingConfig, tracking_session

WINE = "store://demo/dataitem/table/wine"
TARGET = "target"  # the column scikit-learn's wine frame names its class
ESTIMATORS = "digitalhub_airflow.training.estimators:train_estimator"


def wine_frame() -> Any:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


def commit_wine(hub: DataHub, frame: Any = None) -> VersionInfo:
    return hub.commit(WINE, wine_frame() if frame is None else frame).version


def model_name() -> str:
    return f"wine-{uuid.uuid4().hex[:8]}"


def request(version: VersionInfo, name: str, **overrides: Any) -> TrainingRequest:
    fields: dict[str, Any] = {
        "project": "demo",
        "name": name,
        "entrypoint": ESTIMATORS,
        "datasets": [version.key],
        "target": TARGET,
        "params": {"estimator": "random_forest", "n_estimators": 20},
    }
    fields.update(overrides)
    return TrainingRequest(**fields)


# -- training entrypoints used by the tests -------------------------------------------
def raising(data: Any, params: dict[str, Any]) -> Any:
    raise RuntimeError(f"diverged with learning rate {params.get('lr')}")


def bare_forest(data: Any, params: dict[str, Any]) -> Any:
    """No pipeline: fails on text columns, as a user's function would."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, random_state=0).fit(data.x_train, data.y_train)


def majority(data: Any, params: dict[str, Any]) -> Any:
    """A deliberately bad model: always the most frequent class."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent").fit(data.x_train, data.y_train)


class ThresholdModel:
    """Not a scikit-learn estimator: the model a custom flavour logs."""

    def __init__(self, column: str, threshold: float) -> None:
        self.column, self.threshold = column, threshold

    def predict(self, frame: Any) -> Any:
        return (frame[self.column] > self.threshold).astype("int64").to_numpy()


def threshold(data: Any, params: dict[str, Any]) -> Any:
    return ThresholdModel("alcohol", float(data.x_train["alcohol"].median()))


# -- what the tracking server holds -----------------------------------------------------
def runs_of(tracking: TrackingConfig, experiment: str) -> list[Any]:
    with tracking_session(tracking) as client:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []
        return client.search_runs([found.experiment_id])


def registered_versions(tracking: TrackingConfig, registered: str) -> list[Any]:
    with tracking_session(tracking) as client:
        return client.search_model_versions(f"name = '{registered}'")


def champion(tracking: TrackingConfig, registered: str) -> str | None:
    from digitalhub_airflow.training.selection import CHAMPION, champion_version

    with tracking_session(tracking) as client:
        return champion_version(client, registered, CHAMPION)


def shared_tracking(tmp_path_factory: Any) -> TrackingConfig:
    """One embedded MLflow (SQLite + local artifacts) for a test session: creating its
    schema takes seconds, and every test uses its own model and experiment names."""
    from digitalhub_airflow.training.tracking import embedded_tracking

    return embedded_tracking(tmp_path_factory.mktemp("dhub-mlflow"))


def gate_when_released(
    backend: Any,
    tracking: TrackingConfig,
    gate: dict[str, Any],
    *,
    start: Any,
    holding: Any,
    results: Any,
) -> None:
    """A champion gate in its own process (multiprocessing target) that reports its record.

    Two of them pass the ``start`` barrier together; then each, having read the current
    champion, waits up to 20 s at ``holding`` for the other to have read it too. Two gates
    that are not serialised both get there, so both see the same champion; serialised,
    the first waits out the timeout alone and the second reads the first's champion.
    """
    from digitalhub_airflow.training import selection

    read = selection.champion_version

    def read_then_hold(*args: Any) -> str | None:
        found = read(*args)
        with contextlib.suppress(threading.BrokenBarrierError):
            holding.wait(20)
        return found

    selection.champion_version = read_then_hold
    with backend.hub() as hub:
        start.wait(120)
        try:
            results.put(selection.select_and_gate(hub, tracking, **gate))
        except Exception as exc:
            results.put(f"{type(exc).__name__}: {exc}")
