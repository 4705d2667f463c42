"""Search, selection and the champion gate on the embedded default: a better model takes
``@champion``, a worse one does not, the comparison is recorded either way, and the
champion loads with stock MLflow. Also the ``python -m`` runner a pod would call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from digitalhub_airflow.errors import TrainingInputError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.model_catalog import gate_history, get_model
from digitalhub_airflow.training.runner import train_model
from digitalhub_airflow.training.search import grid, open_search
from digitalhub_airflow.training.selection import registered_model_name, select_and_gate
from digitalhub_airflow.training.tracking import (
    TrackingConfig,
    ensure_experiment,
    tracking_session,
)
from tests.training_helpers import (
    TARGET,
    champion,
    commit_wine,
    model_name,
    registered_versions,
    request,
    shared_tracking,
    wine_frame,
)
from tests.unit.dhub_testlib import REPO


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    return shared_tracking(tmp_path_factory)


def test_search_children_select_and_a_worse_model_never_takes_the_alias(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    holdout = ehub.commit(
        "store://demo/dataitem/table/wine-holdout", wine_frame().iloc[::3]
    ).version
    name = model_name()
    registered = registered_model_name("demo", name)
    configs = grid({"estimator": ["random_forest"], "n_estimators": [3, 30]})
    with tracking_session(tracking) as client:
        experiment = ensure_experiment(client, tracking, f"demo.{name}")
        parent = open_search(client, experiment, name=name, strategy="grid", configurations=configs)
    outcomes = [
        train_model(ehub, tracking, request(version, name, params=p, parent_run_id=parent))
        for p in configs
    ]
    weak = train_model(
        ehub, tracking, request(version, name, entrypoint="tests.training_helpers:majority")
    )

    # 1. the weak model first: nothing to beat, it becomes champion
    first = select_and_gate(
        ehub, tracking, project="demo", name=name, run_ids=[weak.run_id], metric="accuracy",
        evaluation_dataset="store://demo/dataitem/table/wine-holdout",
    )  # fmt: skip
    assert first.promoted and first.reason == "no @champion yet"
    assert first.evaluation_dataset == holdout.key  # the exact version, not the alias
    # 2. the search's best beats it on the same evaluation version
    best = max(outcomes, key=lambda o: o.metrics["accuracy"])
    second = select_and_gate(
        ehub, tracking, project="demo", name=name, run_ids=[o.run_id for o in outcomes],
        metric="accuracy", evaluation_dataset=holdout.key, parent_run_id=parent,
    )  # fmt: skip
    assert second.run_id == best.run_id and second.model_key == best.model_key
    assert second.promoted and second.champion_version == first.registered_version
    assert second.candidate_value > second.champion_value
    assert champion(tracking, registered) == second.registered_version
    # 3. the weak model again: registered already, it loses, the alias stays
    third = select_and_gate(
        ehub, tracking, project="demo", name=name, run_ids=[weak.run_id], metric="accuracy",
        evaluation_dataset=holdout.key,
    )  # fmt: skip
    assert third.registered_version == first.registered_version and not third.promoted
    assert "does not beat @champion" in third.reason
    assert champion(tracking, registered) == second.registered_version
    assert len(registered_versions(tracking, registered)) == 2

    history = gate_history(ehub, registered)
    assert [(g.registered_version, g.promoted) for g in history] == [
        (first.registered_version, True),
        (second.registered_version, True),
        (first.registered_version, False),
    ]
    assert history[2].champion_value == pytest.approx(second.candidate_value)
    assert {g.evaluation_dataset for g in history} == {holdout.key}
    with tracking_session(tracking) as client:
        tags = client.get_model_version(registered, first.registered_version).tags
        parent_run = client.get_run(parent)
        child = client.get_run(outcomes[0].run_id)
    assert tags["dhub.gate.promoted"] == "false"
    assert tags["dhub.gate.evaluation_dataset"] == holdout.key
    assert parent_run.info.status == "FINISHED"
    assert parent_run.data.tags["dhub.best_run"] == best.run_id
    assert child.data.tags["mlflow.parentRunId"] == parent


def test_the_champion_loads_with_stock_mlflow_and_links_back_to_the_catalog(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    import mlflow.pyfunc

    version = commit_wine(ehub)
    name = model_name()
    outcome = train_model(ehub, tracking, request(version, name))
    select_and_gate(
        ehub, tracking, project="demo", name=name, run_ids=[outcome.run_id], metric="f1_macro"
    )
    frame = wine_frame()
    with tracking_session(tracking) as client:
        model = mlflow.pyfunc.load_model(f"models:/demo.{name}@champion")
        predictions = model.predict(frame.drop(columns=[TARGET]))
        run = client.get_run(model.metadata.run_id)
    assert (predictions == frame[TARGET]).mean() > 0.9
    assert run.data.tags["dhub.model_key"] == outcome.model_key
    assert get_model(ehub, outcome.model_key).datasets == [version.key]


def test_selection_without_a_finished_candidate_moves_nothing(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    version = commit_wine(ehub)
    name = model_name()
    with pytest.raises(TrainingInputError):
        train_model(ehub, tracking, request(version, name, target="nope"))
    with tracking_session(tracking) as client:
        failed = client.search_runs([client.get_experiment_by_name(f"demo.{name}").experiment_id])
    with pytest.raises(TrainingInputError, match="none of the 1 candidate runs finished"):
        select_and_gate(
            ehub, tracking, project="demo", name=name, run_ids=[failed[0].info.run_id],
            metric="accuracy",
        )  # fmt: skip
    assert registered_versions(tracking, registered_model_name("demo", name)) == []


def test_a_gate_waits_for_the_gate_of_the_same_model_and_gives_up_by_name(
    ehub: DataHub,
) -> None:
    """The lock itself (the integration tests race two real gates on both backends)."""
    import threading

    from digitalhub_airflow.errors import ConflictError
    from digitalhub_airflow.training.gate_lock import gate_lock

    def try_gate(name: str, outcome: list[str]) -> None:
        try:
            with gate_lock(ehub.catalog, name, wait_s=0.3):
                outcome.append("held")
        except ConflictError as exc:
            outcome.append(str(exc))

    with gate_lock(ehub.catalog, "demo.wine"):
        same: list[str] = []
        other: list[str] = []
        for name, outcome in (("demo.wine", same), ("demo.other", other)):
            thread = threading.Thread(target=try_gate, args=(name, outcome))
            thread.start()
            thread.join()
    assert other == ["held"]  # another model's gate does not wait
    assert len(same) == 1 and "another champion gate of demo.wine" in same[0]
    after: list[str] = []
    try_gate("demo.wine", after)  # released on exit
    assert after == ["held"]


def test_the_runner_module_trains_from_a_json_request_in_a_subprocess(
    ehub: DataHub, tmp_path: Path
) -> None:
    """The seam a pod or a local subprocess uses: same request, same outcome shape."""
    version = commit_wine(ehub)
    name = model_name()
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request(version, name).to_json()))
    catalog_path = ehub.catalog.url.removeprefix("sqlite:///")
    env = {
        **os.environ,
        "DHUB_HOME": str(tmp_path / "home"),
        "DHUB_CATALOG_URL": ehub.catalog.url,
        "DHUB_STORE_URL": str(ehub.store.root),  # type: ignore[attr-defined]
        "PYTHONPATH": str(REPO),
    }
    env.pop("DHUB_MLFLOW_TRACKING_URI", None)
    out = tmp_path / "outcome.json"
    proc = subprocess.run(
        [sys.executable, "-m", "digitalhub_airflow.training.runner", "--request",
         str(request_file), "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(out.read_text())
    assert outcome["datasets"] == [version.key]
    assert get_model(ehub, outcome["model_key"]).run_id == outcome["run_id"]
    assert (tmp_path / "home" / "mlflow" / "mlflow.db").exists()
    assert Path(catalog_path).exists()

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(request(version, name, target="nope").to_json()))
    proc = subprocess.run(
        [sys.executable, "-m", "digitalhub_airflow.training.runner", "--request", str(bad)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == TrainingInputError.exit_code
    assert "target column 'nope'" in proc.stderr


def test_automl_searches_estimator_families_for_a_regression_target(
    ehub: DataHub, tracking: TrackingConfig
) -> None:
    """AutoML: a table, a target and a task type -> every family's default grid through
    the same runs and gate; rmse is minimised."""
    from digitalhub_airflow.training.search import configurations

    version = commit_wine(ehub)
    name = model_name()
    configs = configurations("automl", {}, task="regression", families=["ridge", "k_neighbors"])
    assert {c["estimator"] for c in configs} == {"ridge", "k_neighbors"} and len(configs) == 6
    outcomes = [
        train_model(
            ehub, tracking, request(version, name, task="regression", target="alcohol", params=p)
        )
        for p in configs
    ]
    assert all(set(o.metrics) >= {"rmse", "mae", "r2"} for o in outcomes)
    gate = select_and_gate(
        ehub, tracking, project="demo", name=name, run_ids=[o.run_id for o in outcomes],
        metric="rmse",
    )  # fmt: skip
    best = min(outcomes, key=lambda o: o.metrics["rmse"])
    assert gate.run_id == best.run_id and gate.promoted and not gate.greater_is_better
    assert gate.search_value == pytest.approx(best.metrics["rmse"])
