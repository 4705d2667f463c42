"""Pod workloads in real Airflow against an HTTP-level stand-in of the Kubernetes API:
the pod spec (profile, settings, Secret references) as the API server receives it, and
the workload really running with the credentials it got from the Secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.producing import RUN_ENV
from digitalhub_airflow.lineage.runs import get_run
from tests.conftest import Backend
from tests.e2e.conftest import SECRET, AirflowEnv, secrets_of, task_env
from tests.kube_apiserver import KubeApiServer
from tests.kube_schemas import validate_k8s

pytestmark = pytest.mark.e2e

DAG = "dhub_pod_workload"
PODS = r"/api/v1/namespaces/ml/pods"


def run_dag(airflow: AirflowEnv, env: dict[str, str], target: str, source: Path, check: bool):
    conf = json.dumps({"target": target, "source": str(source)})
    return airflow.run("dags", "test", DAG, "-c", conf, env=env, check=check)


def assert_task_run_produced(hub: DataHub, name: str) -> None:
    """The workload committed under its task's run: the version names the run, the run
    (finished by the task, also after a deferral) names the version as its output."""
    version = hub.resolve(f"store://demo/dataitem/table/{name}")
    task = "commit_in_deferred_pod" if name.endswith("-deferred") else "commit_in_pod"
    run = get_run(hub, version.producer["run"])
    assert (run["task_id"], run["state"], run["outputs"]) == (task, "success", [version.key])
    assert version.producer["task_id"] == task


def test_pod_spec_carries_profile_and_settings_with_credentials_only_by_secret_reference(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer, csv_file: Path
) -> None:
    secrets = secrets_of(real_backend)
    kube.put_secret("ml", SECRET, secrets)

    run_dag(airflow, task_env(real_backend, kube), "demo/podtable", csv_file, check=True)

    created = kube.calls("POST", PODS)
    assert len(created) == 2
    # The two tasks are independent, so the scheduler may start either first.
    by_target = {c.body["spec"]["containers"][0]["args"][1]: c.body for c in created}
    gpu_pod, cpu_pod = by_target["demo/podtable"], by_target["demo/podtable-deferred"]
    for pod in (gpu_pod, cpu_pod):
        validate_k8s(pod)
        text = json.dumps(pod)
        assert secrets["AWS_ACCESS_KEY_ID"] not in text
        assert secrets["AWS_SECRET_ACCESS_KEY"] not in text
        assert f":{secrets['PGPASSWORD']}@" not in text
        container = pod["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", "digitalhub_airflow.cli"]
        env = {e["name"]: e for e in container["env"]}
        assert {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items() if "valueFrom" in e} == {
            name: {"name": SECRET, "key": name} for name in secrets
        }
        assert env["DHUB_STORE_URL"]["value"] == real_backend.store_url
        assert env["DHUB_CATALOG_SCHEMA"]["value"] == real_backend.catalog_schema
        catalog_url = make_url(env["DHUB_CATALOG_URL"]["value"])
        assert catalog_url.username and catalog_url.password is None
        run = json.loads(env[RUN_ENV]["value"])  # the task's run, for the workload's commits
        assert "parameters" not in run["spec"] and run["spec"]["dag_id"] == DAG
    gpu = gpu_pod["spec"]["containers"][0]
    assert gpu["args"] == ["commit", "demo/podtable", str(csv_file)]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu_pod[
        "spec"
    ]["tolerations"]
    assert "nvidia.com/gpu" not in cpu_pod["spec"]["containers"][0]["resources"]["limits"]
    # Each pod was watched to completion, then deleted.
    for pod in (gpu_pod, cpu_pod):
        name = pod["metadata"]["name"]
        assert kube.calls("DELETE", f"{PODS}/{name}")
        assert kube.get("pods", "ml", name) is None
    # The workloads really ran, reaching PostgreSQL and S3 with the Secret's credentials.
    with real_backend.hub() as hub:
        for name in ("podtable", "podtable-deferred"):
            info = hub.resolve(f"store://demo/dataitem/table/{name}")
            assert info.row_count == 3
            assert_task_run_produced(hub, name)


def test_without_the_secret_the_pod_cannot_reach_the_catalog_and_the_task_fails(
    airflow: AirflowEnv, real_backend: Backend, kube: KubeApiServer, csv_file: Path
) -> None:
    result = run_dag(airflow, task_env(real_backend, kube), "demo/nosecret", csv_file, check=False)
    assert result.returncode != 0
    assert kube.calls("POST", PODS)
    assert "no password supplied" in result.stdout + result.stderr  # the pod's own error
    with real_backend.hub() as hub, pytest.raises(NotFoundError):
        hub.resolve("store://demo/dataitem/table/nosecret")


def test_without_a_kubernetes_connection_the_workload_runs_as_a_local_process(
    airflow: AirflowEnv, backend: Backend, kube: KubeApiServer, csv_file: Path
) -> None:
    with backend.hub() as hub:
        hub.init()
    run_dag(airflow, task_env(backend, None), "demo/localtable", csv_file, check=True)
    assert kube.requests == []
    with backend.hub() as hub:
        for name in ("localtable", "localtable-deferred"):
            assert hub.resolve(f"store://demo/dataitem/table/{name}").row_count == 3
            assert_task_run_produced(hub, name)


def test_a_pod_cannot_use_the_embedded_catalog(
    airflow: AirflowEnv, tmp_path: Path, kube: KubeApiServer, csv_file: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    backend = Backend("embedded", f"sqlite:///{home / 'c.sqlite'}", None, str(home / "s"), home)
    result = run_dag(airflow, task_env(backend, kube), "demo/embedded", csv_file, check=False)
    assert result.returncode != 0
    assert "a pod cannot reach this deployment" in result.stdout + result.stderr
    assert kube.requests == []
