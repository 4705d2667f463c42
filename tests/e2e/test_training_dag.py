"""The reference training DAG inside real Airflow (``airflow dags test``) on each backend:
8 mapped configurations -> best registered -> @champion; a second run reuses every
training run and keeps the champion (a tie never moves the alias)."""

from __future__ import annotations

import pytest

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.model_catalog import consumed_by, gate_history
from digitalhub_airflow.training.selection import describe_champion
from digitalhub_airflow.training.tracking import embedded_tracking
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env
from tests.training_helpers import TARGET, registered_versions, runs_of, wine_frame

pytestmark = pytest.mark.e2e
FEATURES = "store://demo/dataitem/table/wine-features"
REGISTERED = "demo.wine-classifier"


def test_training_dag_trains_a_grid_selects_and_gates(
    airflow: AirflowEnv, backend: Backend, hub: DataHub
) -> None:
    # MLflow embedded under the backend's DHUB_HOME on both catalogs: the reference DAG's
    # model name is fixed, and the MLflow server is covered by tests/integration.
    env, tracking = catalog_env(backend), embedded_tracking(backend.home)
    features = hub.commit(FEATURES, wine_frame()).version
    airflow.run("dags", "test", "dhub_train_wine", env=env, timeout=900)

    champion = describe_champion(hub, tracking, "demo", "wine-classifier")
    assert champion["trained_on"] == [features.key]
    assert champion["metric"] == "f1_macro" and champion["value"] > 0.85
    assert consumed_by(hub, champion["model_key"]) == [features.key]
    runs = runs_of(tracking, "demo.wine-classifier")
    parents = [r for r in runs if r.data.tags.get("dhub.search") == "grid"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 8
    assert {r.data.tags["airflow.dag_id"] for r in children} == {"dhub_train_wine"}
    assert sorted(int(r.data.tags["airflow.map_index"]) for r in children) == list(range(8))

    import mlflow.pyfunc

    from digitalhub_airflow.training.tracking import tracking_session

    with tracking_session(tracking):
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
    frame = wine_frame()
    assert (model.predict(frame.drop(columns=[TARGET])) == frame[TARGET]).mean() > 0.9

    # Same data, same code: every configuration reuses its run, the champion stays.
    airflow.run("dags", "test", "dhub_train_wine", env=env, timeout=900)
    assert (
        len(
            [
                r
                for r in runs_of(tracking, "demo.wine-classifier")
                if "mlflow.parentRunId" in r.data.tags
            ]
        )
        == 8
    )
    assert len(registered_versions(tracking, REGISTERED)) == 1
    decisions = gate_history(hub, REGISTERED)
    assert [d.promoted for d in decisions] == [True, False]
    assert (
        describe_champion(hub, tracking, "demo", "wine-classifier")["version"]
        == champion["version"]
    )
