"""Monitoring a real deployment on both backends: ``dhub serve`` deployed as a managed
process with a request log, asked by a real v2 client; its /metrics statistics stored
with the service; undeployed (the log flushed); the logged inputs compared with the
version its registry model was trained on, found through the pinned registry version."""

from __future__ import annotations

import httpx
import pytest

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy.local_deploy import undeploy_local
from digitalhub_airflow.serving.deploy.services import get_service
from digitalhub_airflow.serving.monitoring.drift import parse_window, service_drift
from digitalhub_airflow.serving.monitoring.stats import record_service_stats
from digitalhub_airflow.training.model_catalog import get_model
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.conftest import Backend
from tests.integration.test_services_local import deploy, spec
from tests.serving_helpers import train_champion
from tests.training_helpers import TARGET, wine_frame

pytestmark = pytest.mark.timeout(600)
SERVICE = "store://demo/service/local/wine"
REQUESTS = "store://demo/dataitem/table/wine-requests"
BATCH = 25


def test_a_deployed_models_statistics_and_input_drift(
    hub: DataHub, tracking: TrackingConfig, backend: Backend
) -> None:
    model = train_champion(hub, tracking)
    wanted = spec(model.alias_uri, request_log=REQUESTS, log_sample_rate=1.0)
    record = deploy(hub, tracking, backend, wanted)
    frame = wine_frame().drop(columns=[TARGET])
    url = f"{record.url}/v2/models/wine/infer"
    try:
        for start in range(0, len(frame), BATCH):
            rows = frame.iloc[start : start + BATCH].to_numpy()
            tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP64"}
            answer = httpx.post(
                url, json={"inputs": [{**tensor, "data": rows.ravel().tolist()}]}, timeout=30
            )
            assert answer.status_code == 200, answer.text
        wrong = {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}
        assert httpx.post(url, json={"inputs": [wrong]}, timeout=30).status_code == 400
        stats = record_service_stats(hub, SERVICE)
    finally:
        undeploy_local(hub, "demo", "wine")
    batches = -(-len(frame) // BATCH)
    wine = stats["models"]["wine"]
    assert wine["requests"] == batches + 1
    assert wine["statuses"] == {"200": batches, "400": 1}
    assert wine["errors"] == 1 and wine["predictions"] == len(frame)
    latency = wine["latency_seconds"]
    assert latency["count"] == batches + 1
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert stats["url"] == f"{record.url}/metrics"
    assert get_service(hub, "demo", "local", "wine").stats == stats
    with pytest.raises(DeploymentError, match="is stopped: no metrics"):
        record_service_stats(hub, SERVICE)

    report = service_drift(hub, tracking, SERVICE, parse_window("1h"))
    assert report["model_key"] == model.model_key
    assert [report["reference"]] == get_model(hub, model.model_key).datasets
    assert report["window"]["rows"] == len(frame)
    assert report["features"] == {"compared": model.feature_names, "not_in_reference": []}
    assert report["status"] == "ok", report["columns"]
