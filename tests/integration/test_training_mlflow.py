"""Training against a real MLflow server (PostgreSQL backend store, artifacts proxied to
the S3 server) on the real catalog, and against the embedded default on the embedded
catalog: the champion loads with stock MLflow, its run links back to the catalog key,
a worse model does not take the alias, a failing function registers nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from digitalhub_airflow.errors import TrainingFunctionError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.model_catalog import GateRecord, consumed_by, get_model
from digitalhub_airflow.training.runner import train_model
from digitalhub_airflow.training.selection import registered_model_name, select_and_gate
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.conftest import Backend
from tests.training_helpers import (
    TARGET,
    champion,
    commit_wine,
    gate_when_released,
    model_name,
    registered_versions,
    request,
    runs_of,
    wine_frame,
)


@contextmanager
def stock_mlflow(tracking: TrackingConfig) -> Iterator[None]:
    """Plain ``mlflow`` pointed at the server, as a user's notebook would be."""
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.registry_uri or tracking.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def test_champion_loads_with_stock_mlflow_and_a_worse_model_does_not_take_it(
    hub: DataHub, tracking: TrackingConfig, backend: Backend
) -> None:
    version = commit_wine(hub)
    name = model_name()
    registered = registered_model_name("demo", name)
    good = train_model(hub, tracking, request(version, name, params={"n_estimators": 30}))
    select = {"project": "demo", "name": name, "metric": "accuracy"}
    promoted = select_and_gate(hub, tracking, run_ids=[good.run_id], **select)
    assert promoted.promoted
    weak = train_model(
        hub, tracking, request(version, name, entrypoint="tests.training_helpers:majority")
    )
    kept = select_and_gate(hub, tracking, run_ids=[weak.run_id], **select)
    assert not kept.promoted and kept.champion_version == promoted.registered_version
    assert kept.champion_value > kept.candidate_value
    assert champion(tracking, registered) == promoted.registered_version

    import mlflow
    import mlflow.pyfunc

    frame = wine_frame()
    with stock_mlflow(tracking):
        model = mlflow.pyfunc.load_model(f"models:/{registered}@champion")
        predictions = model.predict(frame.drop(columns=[TARGET]))
        run = mlflow.get_run(model.metadata.run_id)
    assert (predictions == frame[TARGET]).mean() > 0.9
    assert run.info.run_id == good.run_id
    assert run.data.tags["dhub.model_key"] == good.model_key
    sources = [json.loads(i.dataset.source) for i in run.inputs.dataset_inputs]
    assert sources == [{"key": version.key}]
    assert get_model(hub, good.model_key).run_id == good.run_id
    assert consumed_by(hub, good.model_key) == [version.key]

    if backend.services is not None:  # artifacts went through the server to S3
        client = backend.services.client()
        bucket = os.environ.get("DHUB_TEST_MLFLOW_BUCKET", "dhub-mlflow")
        listed = client.list_objects_v2(Bucket=bucket, Prefix="artifacts/")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        assert any(k.endswith("MLmodel") for k in keys)


def test_a_failing_function_marks_the_run_failed_and_registers_nothing(
    hub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(hub)
    name = model_name()
    with pytest.raises(TrainingFunctionError, match="diverged"):
        train_model(
            hub, tracking, request(version, name, entrypoint="tests.training_helpers:raising")
        )
    runs = runs_of(tracking, f"demo.{name}")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert registered_versions(tracking, registered_model_name("demo", name)) == []


def test_concurrent_gates_of_one_model_run_one_after_the_other(
    hub: DataHub, tracking: TrackingConfig, backend: Backend
) -> None:
    """Two gates in two processes, released at the same instant and each pausing after it
    read the champion (see ``gate_when_released``): the second waits for the first,
    compares against the champion it left, and the better model ends on top."""
    import multiprocessing

    from digitalhub_airflow.training.model_catalog import gate_history

    version = commit_wine(hub)
    name = model_name()
    registered = registered_model_name("demo", name)
    good = train_model(hub, tracking, request(version, name, params={"n_estimators": 30}))
    weak = train_model(
        hub, tracking, request(version, name, entrypoint="tests.training_helpers:majority")
    )
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    sync = {"start": spawn.Barrier(2), "holding": spawn.Barrier(2), "results": results}
    select = {"project": "demo", "name": name, "metric": "accuracy"}
    gates = [
        spawn.Process(
            target=gate_when_released,
            args=(backend, tracking, {**select, "run_ids": [run_id]}),
            kwargs=sync,
        )
        for run_id in (weak.run_id, good.run_id)
    ]
    for gate in gates:
        gate.start()
    outcomes = [results.get(timeout=300) for _ in gates]
    for gate in gates:
        gate.join(60)
    assert all(isinstance(o, GateRecord) for o in outcomes), outcomes

    first, second = gate_history(hub, registered)
    assert first.promoted and first.reason == "no @champion yet"
    # the second gate saw the first one's champion, not the empty registry both started on
    assert second.champion_version == first.registered_version
    assert second.promoted == (second.run_id == good.run_id)
    winner = first if first.run_id == good.run_id else second
    assert champion(tracking, registered) == winner.registered_version
    for version_ in registered_versions(tracking, registered):  # both decisions on MLflow too
        assert version_.tags["dhub.gate.promoted"] in ("true", "false")
