"""Serving operators in real Airflow (``airflow dags test``): a local model server
deployed, answering, undeployed; services reconciled from a YAML file, a second run a
no-op; on Kubernetes (the API-server stand-in) server-side apply, the deferred rollout
wait, a rolling update, a rollback and an undeploy, asserted by path and body, with the
catalog recording each state and no credential in any manifest."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.local_process import is_running
from digitalhub_airflow.training.tracking import TrackingConfig, embedded_tracking
from tests.conftest import Backend, _missing
from tests.e2e.conftest import SECRET, AirflowEnv, secrets_of, task_env
from tests.kube_apiserver import KubeApiServer
from tests.kube_schemas import validate_k8s
from tests.serving_helpers import TrainedModel, train_champion

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TOKEN = "tracking-token-for-the-test"
DEPLOYMENTS = r"/apis/apps/v1/namespaces/ml/deployments/wine"


def returned(airflow: AirflowEnv, dag: str, task: str) -> Any:
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
            "ORDER BY timestamp DESC LIMIT 1",
            (dag, task),
        ).fetchone()
    assert row is not None, f"{dag}.{task} returned nothing"
    return json.loads(row[0])


def run(airflow: AirflowEnv, env: dict[str, str], dag: str, check: bool = True, **conf: Any):
    return airflow.run("dags", "test", dag, "-c", json.dumps(conf), env=env, check=check)


def tracking_of(backend: Backend) -> tuple[TrackingConfig, dict[str, str]]:
    """The backend's MLflow and the connection naming it (none: the embedded one)."""
    if backend.services is None:
        return embedded_tracking(backend.home), {}
    uri = os.environ.get("DHUB_TEST_MLFLOW_URI") or _missing("the MLflow server")
    conn = {"conn_type": "mlflow", "host": uri, "password": TOKEN}
    return TrackingConfig(uri), {"AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(conn)}


def champion_on(backend: Backend) -> tuple[TrainedModel, dict[str, str]]:
    tracking, conn = tracking_of(backend)
    with backend.hub() as hub:
        hub.init()
        return train_champion(hub, tracking), conn


def test_a_local_server_is_deployed_answers_and_is_undeployed(
    airflow: AirflowEnv, backend: Backend
) -> None:
    model, conn = champion_on(backend)
    env = {**task_env(backend, None), **conn}
    conf = {"name": "wine", "target": "local", "model": model.alias_uri, "spec": {"port": 0}}

    run(airflow, env, "dhub_serving_deploy", **conf)
    record = returned(airflow, "dhub_serving_deploy", "deploy")
    try:
        assert record["state"] == "running"
        assert record["models"]["wine"]["version"] == model.version
        assert httpx.get(f"{record['url']}/v2/health/ready", timeout=10).status_code == 200
        assert is_running(record["pid"])
    finally:
        run(airflow, env, "dhub_serving_undeploy", **conf)
    assert not is_running(record["pid"])
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{record['url']}/v2/health/ready", timeout=5)
    with backend.hub() as hub:
        stored = services.get_service(hub, "demo", "local", "wine")
        assert stored.state == "stopped" and stored.key == record["key"]
        states = [e["state"] for e in services.history(hub, "demo", "local", "wine")]
    assert states == ["deploying", "running", "stopped"]


def test_reconcile_applies_what_differs_and_a_second_run_is_a_noop(
    airflow: AirflowEnv, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    backend = Backend("embedded", f"sqlite:///{home / 'c.sqlite'}", None, str(home / "s"), home)
    model, _ = champion_on(backend)
    env = task_env(backend, None)
    path = tmp_path / "services.yaml"
    entry = f"{{name: wine, target: local, port: 0, models: {{wine: '{model.alias_uri}'}}}}"
    path.write_text(f"project: demo\nprune: true\nservices:\n  - {entry}\n", encoding="utf-8")

    run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
    first = returned(airflow, "dhub_serving_reconcile", "reconcile")
    with backend.hub() as hub:
        running = services.get_service(hub, "demo", "local", "wine")
    try:
        assert len(first["deploy"]) == 1 and first["unchanged"] == []
        assert running.state == "running" and is_running(running.pid or 0)

        run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
        second = returned(airflow, "dhub_serving_reconcile", "reconcile")
        assert second == {"deploy": [], "unchanged": [running.key], "undeploy": [], "kept": []}
        with backend.hub() as hub:
            again = services.get_service(hub, "demo", "local", "wine")
        assert again.pid == running.pid and again.updated_at == running.updated_at
    finally:
        # The service leaves the file, which prunes: reconciling stops it.
        path.write_text("project: demo\nprune: true\nservices: []\n", encoding="utf-8")
        run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
    third = returned(airflow, "dhub_serving_reconcile", "reconcile")
    assert third["undeploy"] == [running.key]
    assert not is_running(running.pid or 0)


def kube_env(backend: Backend, kube: KubeApiServer, conn: dict[str, str]) -> dict[str, str]:
    kube.put_secret("ml", SECRET, {**secrets_of(backend), "DHUB_MLFLOW_TOKEN": TOKEN})
    return {**task_env(backend, kube), **conn}


def kube_conf(model_ref: str, **spec: Any) -> dict[str, Any]:
    fields = {"namespace": "ml", "credentials_secret": SECRET, "replicas": 2, **spec}
    return {"name": "wine", "target": "kubernetes", "model": model_ref, "spec": fields}


def test_kubernetes_apply_rollout_update_rollback_and_undeploy(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer
) -> None:
    model, conn = champion_on(real_backend)
    env = kube_env(real_backend, kube, conn)
    exposure = {"host": "wine.example.org", "auth": "api-key", "secret": "wine-key"}

    run(airflow, env, "dhub_serving_deploy", **kube_conf(model.alias_uri, exposure=exposure))

    applies = [r for r in kube.requests if r.method == "PATCH"]
    assert [r.path for r in applies] == [
        DEPLOYMENTS,
        "/api/v1/namespaces/ml/services/wine",
        "/apis/networking.k8s.io/v1/namespaces/ml/ingresses/wine",
    ]
    for call in applies:
        assert call.content_type == "application/apply-patch+yaml"
        assert call.query["fieldManager"] == ["digitalhub-airflow"]
        validate_k8s(call.body)
        text = json.dumps(call.body)
        secrets = secrets_of(real_backend)
        for secret in (secrets["AWS_ACCESS_KEY_ID"], secrets["AWS_SECRET_ACCESS_KEY"], TOKEN):
            assert secret not in text
        assert f":{secrets['PGPASSWORD']}@" not in text
    container = applies[0].body["spec"]["template"]["spec"]["containers"][0]
    assert f"wine={model.version_uri}" in container["args"]  # pinned before applying
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["DHUB_MLFLOW_TOKEN"] == {"name": SECRET, "key": "DHUB_MLFLOW_TOKEN"}
    assert refs["DHUB_SERVING_API_KEY"] == {"name": "wine-key", "key": "api-key"}
    assert kube.calls("GET", f"{DEPLOYMENTS}/status")  # the deferred trigger polled it
    deployed = returned(airflow, "dhub_serving_deploy", "deploy")
    assert deployed["state"] == "running" and deployed["url"] == "http://wine.example.org"
    assert deployed["models"]["wine"]["version"] == model.version

    # A new model: a rolling update of the same Deployment (one more generation).
    run_ref = f"runs:/{model.model_key.rsplit(':', 1)[1]}/model"
    run(airflow, env, "dhub_serving_deploy", **kube_conf(run_ref, exposure=exposure))
    live = kube.get("deployments", "ml", "wine")
    assert live["metadata"]["generation"] == 2
    assert f"wine={run_ref}" in live["spec"]["template"]["spec"]["containers"][0]["args"]

    run(airflow, env, "dhub_serving_rollback", name="wine", target="kubernetes")
    live = kube.get("deployments", "ml", "wine")
    assert live["metadata"]["generation"] == 3
    assert f"wine={model.version_uri}" in live["spec"]["template"]["spec"]["containers"][0]["args"]
    rolled = returned(airflow, "dhub_serving_rollback", "rollback")
    assert rolled["state"] == "rolled_back" and rolled["spec_digest"] == deployed["spec_digest"]

    run(airflow, env, "dhub_serving_undeploy", name="wine", target="kubernetes")
    for path in (
        "/apis/networking.k8s.io/v1/namespaces/ml/ingresses/wine",
        "/api/v1/namespaces/ml/services/wine",
        DEPLOYMENTS,
    ):
        assert kube.calls("DELETE", path), path
    assert kube.get("deployments", "ml", "wine") is None
    with real_backend.hub() as hub:
        states = [e["state"] for e in services.history(hub, "demo", "kubernetes", "wine")]
    assert states == [
        *("deploying", "running", "deploying", "running"),
        *("deploying", "rolled_back", "stopped"),
    ]


def test_a_failed_rollout_fails_the_task_and_is_recorded_failed(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer
) -> None:
    model, conn = champion_on(real_backend)
    env = kube_env(real_backend, kube, conn)
    kube.failing_images.add("serving:broken")

    result = run(
        airflow,
        env,
        "dhub_serving_deploy",
        check=False,
        **kube_conf(model.alias_uri, image="serving:broken"),
    )
    assert result.returncode != 0
    assert "timed out progressing" in result.stdout + result.stderr
    with real_backend.hub() as hub:
        record = services.get_service(hub, "demo", "kubernetes", "wine")
    assert record.state == "failed" and record.url is None
    assert "timed out progressing" in record.message


def test_reconcile_on_kubernetes_applies_once_then_sends_no_change(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer, tmp_path: Path
) -> None:
    model, conn = champion_on(real_backend)
    env = kube_env(real_backend, kube, conn)
    path = tmp_path / "services.yaml"
    path.write_text(
        "project: demo\nservices:\n"
        f"  - {{name: wine, target: kubernetes, namespace: ml, credentials_secret: {SECRET},\n"
        f"     models: {{wine: '{model.alias_uri}'}}}}\n",
        encoding="utf-8",
    )

    run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
    first = returned(airflow, "dhub_serving_reconcile", "reconcile")
    assert len(first["deploy"]) == 1
    assert len(kube.calls("PATCH", DEPLOYMENTS)) == 1
    assert kube.calls("GET", f"{DEPLOYMENTS}/status")  # deferred until rolled out
    with real_backend.hub() as hub:
        record = services.get_service(hub, "demo", "kubernetes", "wine")
    assert record.state == "running" and first["deploy"] == [record.key]

    kube.requests.clear()
    run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
    second = returned(airflow, "dhub_serving_reconcile", "reconcile")
    assert second == {"deploy": [], "unchanged": [record.key], "undeploy": [], "kept": []}
    assert [r.method for r in kube.requests if r.method != "GET"] == []  # nothing applied

    # A Deployment changed behind the catalog's back is put back.
    live = kube.get("deployments", "ml", "wine")
    live["metadata"]["annotations"]["dhub.io/spec-digest"] = "edited-by-hand"
    run(airflow, env, "dhub_serving_reconcile", services_file=str(path))
    third = returned(airflow, "dhub_serving_reconcile", "reconcile")
    assert third["deploy"] == [record.key]
    restored = kube.get("deployments", "ml", "wine")["metadata"]["annotations"]
    assert restored["dhub.io/spec-digest"] == record.spec_digest
