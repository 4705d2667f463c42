"""The installed ``dhub`` deploying for real: ``dhub deploy`` of a champion alias as a
local server (pinned, answering, recorded), an update, ``dhub rollback``, ``dhub undeploy``
and ``dhub reconcile`` on both backends; on the real backend, ``dhub deploy --target
kubernetes`` against the API-server stand-in, named by ``--kubeconfig``, with the model
alias pinned through the real registry and no credential in any manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.local_process import is_running
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.conftest import Backend
from tests.integration.conftest import Dhub
from tests.kube_apiserver import KubeApiServer
from tests.serving_helpers import TrainedModel, tracking_env, train_champion

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def champion(hub: DataHub, tracking: TrackingConfig) -> TrainedModel:
    return train_champion(hub, tracking)


def test_local_deploy_update_rollback_undeploy_and_reconcile(
    *,
    hub: DataHub,
    tracking: TrackingConfig,
    dhub: Dhub,
    backend: Backend,
    champion: TrainedModel,
    tmp_path: Path,
) -> None:
    env = tracking_env(tracking)
    first = dhub.json("deploy", "demo/wine", "--model", f"wine={champion.alias_uri}", **env)
    try:
        assert first["state"] == "running" and is_running(first["pid"])
        assert first["models"]["wine"]["pinned"] == champion.version_uri
        assert httpx.get(first["url"] + "/v2/health/ready", timeout=10).status_code == 200
        challenger = train_champion(hub, tracking)
        second = dhub.json("deploy", "demo/wine", "--model", challenger.alias_uri, **env)
        assert second["models"]["wine"]["pinned"] == challenger.version_uri
        assert not is_running(first["pid"]) and is_running(second["pid"])
        line = dhub.ok("rollback", "demo/wine", **env).stdout.strip()
        rolled = services.get_service(hub, "demo", "local", "wine")
        assert line == f"rolled_back {rolled.key} at {rolled.url} (wine={champion.version_uri})"
        assert rolled.spec_digest == first["spec_digest"] and is_running(rolled.pid or 0)
    finally:
        stopped = dhub.json("undeploy", "demo/wine", **env)
    assert stopped["state"] == "stopped" and not is_running(rolled.pid or 0)

    path = tmp_path / "services.yaml"
    entry = f"{{name: wine, target: local, port: 0, models: {{wine: '{champion.alias_uri}'}}}}"
    path.write_text(f"project: demo\nprune: true\nservices:\n  - {entry}\n", encoding="utf-8")
    plan = dhub.json("reconcile", str(path), **env)
    try:
        assert len(plan["deploy"]) == 1
        again = dhub.ok("reconcile", str(path), **env).stdout.strip()
        assert again == "reconciled 1 file(s): 0 deployed, 1 unchanged, 0 undeployed, 0 kept"
    finally:
        path.write_text("project: demo\nprune: true\nservices: []\n", encoding="utf-8")
        pruned = dhub.json("reconcile", str(path), **env)
    assert len(pruned["undeploy"]) == 1
    assert services.get_service(hub, "demo", "local", "wine").state == "stopped"


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    server = KubeApiServer(run_containers=False).start()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # a pod needs shared services
def test_kubernetes_deploy_from_the_cli_pins_the_alias_and_applies(
    *,
    hub: DataHub,
    tracking: TrackingConfig,
    dhub: Dhub,
    backend: Backend,
    champion: TrainedModel,
    kube: KubeApiServer,
    tmp_path: Path,
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kube.kubeconfig()), encoding="utf-8")
    spec = tmp_path / "wine.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "project": "demo",
                "services": [
                    {
                        "name": "wine",
                        "target": "kubernetes",
                        "models": {"wine": champion.alias_uri},
                        "credentials_secret": "dhub-credentials",
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    env = {**tracking_env(tracking), "DHUB_MLFLOW_TOKEN": "tracking-token"}
    args = ["--kubeconfig", str(config), "--namespace", "ml", "--poll-interval", "0.1"]
    record = dhub.json("deploy", str(spec), *args, **env)
    assert record["state"] == "running" and record["spec"]["namespace"] == "ml"
    assert record["url"] == "http://wine.ml.svc.cluster.local:80"
    applied = [r for r in kube.requests if r.method == "PATCH"]
    assert [r.path for r in applied] == [
        "/apis/apps/v1/namespaces/ml/deployments/wine",
        "/api/v1/namespaces/ml/services/wine",
    ]
    text = str([r.body for r in applied])
    secrets = backend.services
    assert secrets.s3_secret_key not in text and "tracking-token" not in text
    container = applied[0].body["spec"]["template"]["spec"]["containers"][0]
    assert f"wine={champion.version_uri}" in container["args"]
    refs = {e["name"] for e in container["env"] if "valueFrom" in e}
    # The CLI's own S3 keys are boto3's chain (the store backend's rule): a pod uses its own.
    assert {"PGPASSWORD", "DHUB_MLFLOW_TOKEN"} <= refs
    stopped = dhub.json("undeploy", "demo/wine", "--kubeconfig", str(config), **env)
    assert stopped["state"] == "stopped" and kube.get("deployments", "ml", "wine") is None
