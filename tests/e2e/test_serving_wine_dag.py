"""The reference serving DAG inside real Airflow (``airflow dags test``) on each backend:
the champion deployed as a local server, asked by its v2 client, its statistics stored,
undeployed, and the inputs it logged reported free of drift."""

from __future__ import annotations

import pytest

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy.local_deploy import is_alive
from digitalhub_airflow.serving.deploy.services import STOPPED, get_service, history
from digitalhub_airflow.serving.monitoring.drift import drift_reports
from digitalhub_airflow.serving.runtime.request_log import META_COLUMNS
from digitalhub_airflow.training.runner import train_model
from digitalhub_airflow.training.selection import select_and_gate
from digitalhub_airflow.training.tracking import embedded_tracking
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env
from tests.training_helpers import TARGET, request, wine_frame

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
FEATURES = "store://demo/dataitem/table/wine-features"
REQUESTS = "store://demo/dataitem/table/wine-requests"


def test_serving_dag_deploys_asks_measures_undeploys_and_reports_drift(
    airflow: AirflowEnv, backend: Backend, hub: DataHub
) -> None:
    # The champion the DAG serves: one forest on the features, gated in (MLflow embedded
    # under the backend's DHUB_HOME, as the training DAG's own test has it).
    tracking = embedded_tracking(backend.home)
    features = hub.commit(FEATURES, wine_frame()).version
    trained = train_model(hub, tracking, request(features, "wine-classifier"))
    gate = select_and_gate(
        hub,
        tracking,
        project="demo",
        name="wine-classifier",
        run_ids=[trained.run_id],
        metric="accuracy",
    )
    assert gate.promoted

    airflow.run("dags", "test", "dhub_serving_wine", env=catalog_env(backend), timeout=600)

    service = get_service(hub, "demo", "local", "wine")
    assert service.state == STOPPED and not is_alive(service)
    assert (
        service.models["wine"]["pinned"]
        == f"models:/demo.wine-classifier/{gate.registered_version}"
    )
    assert [e["state"] for e in history(hub, "demo", "local", "wine")] == [
        "deploying",
        "running",
        "stopped",
    ]
    rows = len(wine_frame())
    batches = -(-rows // 16)
    wine = service.stats["models"]["wine"]
    # The batches and the metadata read answered, the text-for-a-number batch refused.
    assert wine["statuses"] == {"200": batches + 1, "400": 1}
    assert wine["errors"] == 1 and wine["predictions"] == rows
    assert wine["latency_seconds"]["p99"] > 0

    logged = hub.resolve(REQUESTS)
    names = [c["name"] for c in logged.schema]
    feature_names = [c for c in wine_frame().columns if c != TARGET]
    assert names == [*META_COLUMNS, *feature_names, "prediction"]
    (report,) = drift_reports(hub, REQUESTS)
    assert report["status"] == "ok", report["columns"]
    assert report["reference"] == features.key and report["model_key"] == trained.model_key
    assert report["window"]["rows"] == rows
    assert report["service"] == service.key
