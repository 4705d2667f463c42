"""GpuTrainingPodOperator in real Airflow: the training runner in a GPU pod (against the
Kubernetes API stand-in, with the real catalog, S3 and MLflow server), and as a local
process without a cluster. The outcome comes back from the workload's own output."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from digitalhub_airflow.training.model_catalog import get_model
from digitalhub_airflow.training.tracking import TrackingConfig, embedded_tracking
from tests.conftest import Backend, _missing
from tests.e2e.conftest import SECRET, AirflowEnv, secrets_of, task_env
from tests.kube_apiserver import KubeApiServer
from tests.kube_schemas import validate_k8s
from tests.training_helpers import commit_wine, model_name, runs_of

pytestmark = pytest.mark.e2e

DAG = "dhub_gpu_training"
TOKEN = "tracking-token-for-the-test"


def train(airflow: AirflowEnv, env: dict[str, str], dataset: str, name: str) -> dict:
    conf = json.dumps({"dataset": dataset, "name": name})
    airflow.run("dags", "test", DAG, "-c", conf, env=env)
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'train_on_gpu' "
            "AND key = 'return_value' ORDER BY timestamp DESC LIMIT 1",
            (DAG,),
        ).fetchone()
    assert row is not None, "the operator returned no outcome"
    return json.loads(row[0])


def test_training_runs_in_a_gpu_pod_with_tracking_credentials_by_secret_reference(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer
) -> None:
    uri = os.environ.get("DHUB_TEST_MLFLOW_URI") or _missing("the MLflow server")
    with real_backend.hub() as hub:
        version = commit_wine(hub)
    kube.put_secret("ml", SECRET, {**secrets_of(real_backend), "DHUB_MLFLOW_TOKEN": TOKEN})
    env = task_env(real_backend, kube)
    env["AIRFLOW_CONN_MLFLOW_DEFAULT"] = json.dumps(
        {"conn_type": "mlflow", "host": uri, "password": TOKEN}
    )
    name = model_name()

    outcome = train(airflow, env, version.key, name)

    (created,) = kube.calls("POST", r"/api/v1/namespaces/ml/pods")
    pod = created.body
    validate_k8s(pod)
    assert TOKEN not in json.dumps(pod)
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "digitalhub_airflow.training.runner"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["DHUB_MLFLOW_TRACKING_URI"]["value"] == uri
    assert env_vars["DHUB_MLFLOW_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": SECRET,
        "key": "DHUB_MLFLOW_TOKEN",
    }
    request = json.loads(env_vars["DHUB_TRAINING_REQUEST"]["value"])
    assert request["datasets"] == [version.key]  # pinned before the pod started
    assert request["tags"]["airflow.task_id"] == "train_on_gpu"
    # The outcome came back from the pod's log, and names what the pod recorded.
    assert outcome["datasets"] == [version.key]
    assert not outcome["reused"]
    with real_backend.hub() as hub:
        model = get_model(hub, outcome["model_key"])
        assert model.run_id == outcome["run_id"]
    (run,) = runs_of(TrackingConfig(uri), f"demo.{name}")
    assert run.info.status == "FINISHED"
    assert run.data.tags["airflow.dag_id"] == DAG
    assert run.info.run_id == outcome["run_id"]


def test_without_a_cluster_the_same_training_runs_as_a_local_process(
    airflow: AirflowEnv, tmp_path: Path, kube: KubeApiServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    backend = Backend("embedded", f"sqlite:///{home / 'c.sqlite'}", None, str(home / "s"), home)
    with backend.hub() as hub:
        version = commit_wine(hub)
    name = model_name()

    outcome = train(airflow, task_env(backend, None), version.key, name)

    assert kube.requests == []
    with backend.hub() as hub:
        assert get_model(hub, outcome["model_key"]).run_id == outcome["run_id"]
    (run,) = runs_of(embedded_tracking(home), f"demo.{name}")
    assert run.info.status == "FINISHED"
