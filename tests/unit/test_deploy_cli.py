"""``dhub deploy | undeploy | rollback | reconcile`` on Kubernetes, asserted at the HTTP
level against the API-server stand-in (tests/kube_apiserver.py), with the cluster named
by a kubeconfig file: server-side apply, the rollout read until done, a rolling update,
a rollback, a delete of every object, a reconcile that applies once and then nothing;
each command one line (or ``--json``), each failure one line and its typed exit code.

A pod cannot use an embedded catalog, so the server environment is a PostgreSQL/S3/MLflow
one here (the catalog of the commands themselves stays embedded), and models are given
by exact version (pinning an alias needs a registry: tests/integration/test_deploy_cli.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digitalhub_airflow.cli.main import main
from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.kube.client import KubeClient, load_kubeconfig
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.environment import ServerEnvironment
from tests.kube_apiserver import KubeApiServer

DEPLOYMENT = "/apis/apps/v1/namespaces/ml/deployments/wine"
SERVICE = "/api/v1/namespaces/ml/services/wine"
INGRESS = "/apis/networking.k8s.io/v1/namespaces/ml/ingresses/wine"
POD_SETTINGS = {
    "DHUB_CATALOG_URL": "postgresql+psycopg2://dhub@pg.internal/dhub",
    "DHUB_STORE_URL": "s3://bucket/store",
    "DHUB_MLFLOW_TRACKING_URI": "http://mlflow.internal:5000",
}
POD_SECRETS = {"PGPASSWORD": "pg-secret", "DHUB_MLFLOW_TOKEN": "tok3n"}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeApiServer]:
    server = KubeApiServer(run_containers=False).start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(kube: KubeApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kube.kubeconfig()), encoding="utf-8")
    return path


@pytest.fixture
def cluster_env(
    ehub: DataHub, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> DataHub:
    """The commands' catalog is ``ehub``; the servers' environment one a pod can use."""
    from digitalhub_airflow.serving.deploy import deployer, environment
    from digitalhub_airflow.serving.deploy.pinning import already_pinned
    from digitalhub_airflow.serving.deploy.reconcile import Desired

    monkeypatch.setenv("DHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DHUB_CATALOG_URL", ehub.catalog.url)
    monkeypatch.setenv("DHUB_STORE_URL", str(Path(ehub.catalog.url[10:]).parent / "store"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(
        environment,
        "environment_from_settings",
        lambda: ServerEnvironment(dict(POD_SETTINGS), dict(POD_SECRETS)),
    )

    def pin(hub: DataHub, spec: Any, tracking: Any) -> Desired:
        return Desired(spec, already_pinned(spec.models))

    monkeypatch.setattr(deployer, "pin", pin)
    return ehub


def dhub(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def dhub_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = dhub(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def spec_file(tmp_path: Path, version: int = 3, **change: Any) -> Path:
    spec = {
        "project": "demo",
        "name": "wine",
        "target": "kubernetes",
        "namespace": "ml",
        "models": {"wine": f"models:/wine/{version}"},
        "credentials_secret": "dhub-credentials",
        "exposure": {"host": "wine.example.org", "auth": "api-key", "secret": "wine-key"},
        **change,
    }
    path = tmp_path / f"wine-{version}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def patches(kube: KubeApiServer) -> list[str]:
    return [r.path for r in kube.requests if r.method == "PATCH"]


def test_deploy_applies_waits_for_the_rollout_and_records_running(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = dhub(capsys, "deploy", str(spec_file(tmp_path)), "--poll-interval", "0.1")
    assert code == 0, err
    record = services.get_service(cluster_env, "demo", "kubernetes", "wine")
    assert out.strip() == (f"running {record.key} at http://wine.example.org (wine=models:/wine/3)")
    assert patches(kube) == [DEPLOYMENT, SERVICE, INGRESS]
    for call in (r for r in kube.requests if r.method == "PATCH"):
        assert call.content_type == "application/apply-patch+yaml"
        assert call.query == {"fieldManager": ["digitalhub-airflow"], "force": ["true"]}
        assert call.headers["authorization"] == "Bearer standin-token"
        assert "pg-secret" not in json.dumps(call.body) and "tok3n" not in json.dumps(call.body)
    container = kube.get("deployments", "ml", "wine")["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs["PGPASSWORD"] == {"name": "dhub-credentials", "key": "PGPASSWORD"}
    assert kube.calls("GET", f"{DEPLOYMENT}/status")  # the rollout was read until done
    states = [e["state"] for e in services.history(cluster_env, "demo", "kubernetes", "wine")]
    assert states == ["deploying", "running"]

    # The same spec again: nothing applied, nothing recorded.
    kube.requests.clear()
    again = dhub_json(capsys, "deploy", str(spec_file(tmp_path)))
    assert again["key"] == record.key and patches(kube) == []
    assert again["updated_at"] == record.updated_at.isoformat()


def test_update_rollback_and_undeploy_by_name(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = dhub_json(capsys, "deploy", str(spec_file(tmp_path, 3)))
    second = dhub_json(capsys, "deploy", str(spec_file(tmp_path, 4)), "--replicas", "2")
    live = kube.get("deployments", "ml", "wine")
    assert live["metadata"]["generation"] == 2 and live["spec"]["replicas"] == 2
    assert second["previous_spec"] == first["spec"]

    rolled = dhub_json(capsys, "rollback", "demo/wine")  # the one target it was deployed on
    assert rolled["state"] == "rolled_back" and rolled["spec_digest"] == first["spec_digest"]
    live = kube.get("deployments", "ml", "wine")
    assert live["metadata"]["generation"] == 3
    assert "wine=models:/wine/3" in live["spec"]["template"]["spec"]["containers"][0]["args"]

    kube.requests.clear()
    code, out, err = dhub(capsys, "undeploy", "wine", "--project", "demo", "--target", "kubernetes")
    assert code == 0, err
    assert out.strip().startswith("stopped store://demo/service/kubernetes/wine:")
    assert "deleted Ingress, Service, Deployment" in out
    assert [r.path for r in kube.requests if r.method == "DELETE"] == [INGRESS, SERVICE, DEPLOYMENT]
    assert kube.get("deployments", "ml", "wine") is None
    states = [e["state"] for e in services.history(cluster_env, "demo", "kubernetes", "wine")]
    assert states == [
        *("deploying", "running", "deploying", "running"),
        *("deploying", "rolled_back", "stopped"),
    ]


def test_deploy_by_name_with_options(
    cluster_env: DataHub, kube: KubeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    record = dhub_json(
        capsys,
        "deploy",
        "demo/wine",
        "--model",
        "wine=models:/wine/5",
        "--target",
        "kubernetes",
        "--namespace",
        "ml",
        "--credentials-secret",
        "dhub-credentials",
        "--set",
        "exposure={host: wine.example.org, auth: none}",
        "--set",
        "resource_profile=cpu-small",
    )
    assert record["spec"]["exposure"]["host"] == "wine.example.org"
    assert record["url"] == "http://wine.example.org"
    assert patches(kube) == [DEPLOYMENT, SERVICE, INGRESS]


def test_a_failed_rollout_is_one_line_exit_28_and_recorded_failed(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kube.failing_images.add("serving:broken")
    code, out, err = dhub(capsys, "deploy", str(spec_file(tmp_path, image="serving:broken")))
    assert code == DeploymentError.exit_code == 28
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("dhub: error: rollout failed:") and "timed out progressing" in err
    record = services.get_service(cluster_env, "demo", "kubernetes", "wine")
    assert record.state == "failed" and "timed out progressing" in record.message


def test_reconcile_applies_once_then_nothing_and_puts_back_a_hand_edit(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(
        "project: demo\nprune: true\nservices:\n"
        "  - {name: wine, target: kubernetes, namespace: ml, credentials_secret: creds,\n"
        "     models: {wine: 'models:/wine/3'}}\n",
        encoding="utf-8",
    )
    plan = dhub_json(capsys, "reconcile", str(path), "--dry-run")
    assert len(plan["deploy"]) == 1 and patches(kube) == []
    assert services.list_services(cluster_env, "demo") == []

    code, out, err = dhub(capsys, "reconcile", str(tmp_path / "*.yaml"))
    assert code == 0, err
    assert out.strip() == "reconciled 1 file(s): 1 deployed, 0 unchanged, 0 undeployed, 0 kept"
    record = services.get_service(cluster_env, "demo", "kubernetes", "wine")
    assert record.state == "running" and patches(kube) == [DEPLOYMENT, SERVICE]

    kube.requests.clear()
    second = dhub_json(capsys, "reconcile", str(path))
    assert second == {"deploy": [], "unchanged": [record.key], "undeploy": [], "kept": []}
    assert [r.method for r in kube.requests if r.method != "GET"] == []

    kube.get("deployments", "ml", "wine")["metadata"]["annotations"]["dhub.io/spec-digest"] = "x"
    third = dhub_json(capsys, "reconcile", str(path))
    assert third["deploy"] == [record.key]
    restored = kube.get("deployments", "ml", "wine")["metadata"]["annotations"]
    assert restored["dhub.io/spec-digest"] == record.spec_digest

    path.write_text("project: demo\nprune: true\nservices: []\n", encoding="utf-8")
    pruned = dhub_json(capsys, "reconcile", str(path))
    assert pruned["undeploy"] == [record.key]
    assert kube.get("deployments", "ml", "wine") is None


def test_errors_are_one_line_with_their_exit_code(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = dhub(capsys, "undeploy", "demo/nothing")
    assert (code, err.strip()) == (
        3,
        "dhub: error: service nothing does not exist in project 'demo'",
    )
    code, _, err = dhub(capsys, "rollback", "nothing")
    assert code == 2 and "give demo/nothing" not in err and "--project" in err
    code, _, err = dhub(capsys, "deploy", "demo/wine", "--model", "m", "--set", "colour=red")
    assert code == 27 and "unknown service field(s) ['colour']" in err
    code, _, err = dhub(capsys, "deploy", str(tmp_path / "missing.yaml"))
    assert code == 27 and "does not exist" in err
    code, _, err = dhub(
        capsys, "deploy", str(spec_file(tmp_path)), "--kubeconfig", str(tmp_path / "none")
    )
    assert (
        code == 28 and err.strip() == f"dhub: error: kubeconfig {tmp_path / 'none'} does not exist"
    )
    assert services.list_services(cluster_env, "demo") == []
    kube.stop()
    code, _, err = dhub(capsys, "deploy", str(spec_file(tmp_path)))
    assert code == 28 and "cannot reach the Kubernetes API server" in err
    assert len(err.strip().splitlines()) == 1
    kube.start()  # for the fixture's stop


def test_a_pod_cannot_use_the_embedded_catalog_nothing_is_recorded(
    *,
    ehub: DataHub,
    kubeconfig: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeApiServer,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("DHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DHUB_CATALOG_URL", ehub.catalog.url)
    monkeypatch.delenv("DHUB_MLFLOW_TRACKING_URI", raising=False)
    code, _, err = dhub(capsys, "deploy", str(spec_file(tmp_path)), "--kubeconfig", str(kubeconfig))
    assert code == 28 and "a pod cannot reach this deployment" in err
    assert "embedded SQLite" in err and "Set DHUB_CATALOG_URL" in err
    assert kube.requests == [] and services.list_services(ehub, "demo") == []


# -- the client's configuration --------------------------------------------------------------
def test_kubeconfig_files_merge_and_name_context_namespace_and_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    first = {
        "clusters": [{"name": "a", "cluster": {"server": "https://a:6443",
                                                "certificate-authority": "ca.pem"}}],
        "users": [{"name": "u", "user": {"tokenFile": str(token)}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "a", "user": "u", "namespace": "ml"}}],
        "current-context": "ctx",
    }  # fmt: skip
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    exec_plugin = {
        "command": "python3",
        "args": ["-c", 'print(\'{"status": {"token": "from-exec"}}\')'],
    }
    second = {
        "clusters": [
            {"name": "a", "cluster": {"server": "https://ignored"}},
            {"name": "b", "cluster": {"server": "http://b", "certificate-authority-data": pem}},
        ],
        "users": [{"name": "v", "user": {"exec": exec_plugin}}],
        "contexts": [{"name": "other", "context": {"cluster": "b", "user": "v"}}],
        "current-context": "other",
    }
    (tmp_path / "one").write_text(yaml.safe_dump(first))
    (tmp_path / "two").write_text(yaml.safe_dump(second))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'one'}:{tmp_path / 'two'}")
    config = load_kubeconfig()
    assert (config.server, config.namespace) == ("https://a:6443", "ml")
    assert config.ca_file == str(tmp_path / "ca.pem") and config.token_file == str(token)
    assert KubeClient(config)._auth_headers() == {"Authorization": "Bearer from-a-file"}
    other = load_kubeconfig(context="other")
    assert (other.server, other.namespace, other.token) == ("http://b", "default", "from-exec")
    assert other.ca_data == "-----BEGIN CERTIFICATE-----\n"
    assert "from-exec" not in repr(other)
    with pytest.raises(DeploymentError, match="no context 'nope'"):
        load_kubeconfig(context="nope")
