"""The Kubernetes calls of a deployment, asserted by path and body at the HTTP level
(tests/kube_apiserver.py): server-side apply with the apply-patch content type and the
field manager, the rollout polled by the deferrable trigger until done or failed, and
deletes that tolerate what is already gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.kube.resource_profiles import get_profile
from digitalhub_airflow.serving.deploy.manifests import service_manifests
from digitalhub_airflow.serving.deploy.spec import spec_from_json
from tests.http_server import serving
from tests.kube_apiserver import KubeApiServer

DEPLOYMENT = "/apis/apps/v1/namespaces/ml/deployments/wine"


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeApiServer]:
    server = KubeApiServer(run_containers=False).start()
    conn = {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(server.kubeconfig())}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    yield server
    server.stop()


def manifests(version: int = 3, image: str = "serving:1") -> list[dict]:
    spec = spec_from_json(
        {
            "project": "demo",
            "name": "wine",
            "target": "kubernetes",
            "models": {"wine": f"models:/wine/{version}"},
            "namespace": "ml",
            "image": image,
            "exposure": {"host": "wine.example.org", "secret": "wine-users"},
        }
    )
    return service_manifests(spec, get_profile("cpu-small"), {"DHUB_STORE_URL": "s3://b/p"})


def apply_all(items: list[dict]) -> list[dict]:
    from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook

    hook = KubernetesApplyHook()
    return [hook.apply(m) for m in items]


def rollout(generation: int) -> list[dict]:
    from digitalhub_airflow.triggers.rollout import RolloutTrigger

    trigger = RolloutTrigger(
        [{"namespace": "ml", "name": "wine", "generation": generation}], poll_interval=0.1
    )

    async def events() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())


def test_apply_is_server_side_apply_of_each_object_with_our_field_manager(
    kube: KubeApiServer,
) -> None:
    items = manifests()
    applied = apply_all(items)
    paths = [
        DEPLOYMENT,
        "/api/v1/namespaces/ml/services/wine",
        "/apis/networking.k8s.io/v1/namespaces/ml/ingresses/wine",
    ]
    calls = [r for r in kube.requests if r.method == "PATCH"]
    assert [c.path for c in calls] == paths
    for call, manifest in zip(calls, items, strict=True):
        assert call.content_type == "application/apply-patch+yaml"
        assert call.query == {"fieldManager": ["digitalhub-airflow"], "force": ["true"]}
        assert call.body == manifest
    assert applied[0]["metadata"]["generation"] == 1
    assert kube.get("ingresses", "ml", "wine")["spec"] == items[2]["spec"]


def test_applying_the_same_spec_again_changes_nothing_a_new_version_rolls(
    kube: KubeApiServer,
) -> None:
    assert apply_all(manifests(3))[0]["metadata"]["generation"] == 1
    assert apply_all(manifests(3))[0]["metadata"]["generation"] == 1
    updated = apply_all(manifests(4))[0]
    assert updated["metadata"]["generation"] == 2
    args = kube.get("deployments", "ml", "wine")["spec"]["template"]["spec"]["containers"][0]
    assert "wine=models:/wine/4" in args["args"]


def test_the_trigger_polls_the_deployment_until_it_rolled_out(kube: KubeApiServer) -> None:
    generation = apply_all(manifests())[0]["metadata"]["generation"]
    events = rollout(generation)
    assert [e["status"] for e in events] == ["success"]
    assert kube.calls("GET", f"{DEPLOYMENT}/status")


def test_a_failed_rollout_is_reported_with_the_deployments_reason(kube: KubeApiServer) -> None:
    kube.failing_images.add("serving:broken")
    generation = apply_all(manifests(image="serving:broken"))[0]["metadata"]["generation"]
    (event,) = rollout(generation)
    assert event["status"] == "failed"
    assert "ProgressDeadlineExceeded" not in event["message"]  # the human message instead
    assert "timed out progressing" in event["message"]


def test_a_missing_deployment_fails_the_wait(kube: KubeApiServer) -> None:
    (event,) = rollout(1)
    assert event["status"] == "failed" and "404" in event["message"]


def test_delete_removes_each_object_and_tolerates_absent_ones(kube: KubeApiServer) -> None:
    from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook

    apply_all(manifests())
    hook = KubernetesApplyHook()
    assert hook.delete("apps/v1", "Deployment", "ml", "wine")
    assert kube.get("deployments", "ml", "wine") is None
    assert kube.calls("DELETE", DEPLOYMENT)[0].body["propagationPolicy"] == "Background"
    assert not hook.delete("apps/v1", "Deployment", "ml", "wine")
    assert hook.read("apps/v1", "Deployment", "ml", "wine") is None
    assert hook.read("v1", "Service", "ml", "wine")["metadata"]["name"] == "wine"


def test_an_unknown_kind_is_refused_before_any_call(kube: KubeApiServer) -> None:
    from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook

    with pytest.raises(DeploymentError, match="kind 'CronJob'"):
        KubernetesApplyHook().delete("batch/v1", "CronJob", "ml", "x")
    assert kube.requests == []


@pytest.fixture
def gated_metrics() -> Iterator[str]:
    """A server's /metrics behind its API-key gate (the text of a known request mix)."""
    from http.server import BaseHTTPRequestHandler

    from tests.unit.test_serving_monitoring import server_metrics

    text = server_metrics().encode()

    class Pod(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            ok = self.path == "/metrics" and self.headers.get("X-API-Key") == "k3y"
            body = text if ok else b'{"error": "missing or wrong API key"}'
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Pod) as url:
        yield url


def test_kubernetes_service_statistics_are_read_through_the_api_server_with_its_key(
    kube: KubeApiServer, gated_metrics: str, ehub: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task may run outside the cluster: /metrics is read through the API server's
    service proxy, with the gate's key from the exposure's Secret, and stored."""
    from digitalhub_airflow.operators.monitoring import ServiceStatsOperator
    from digitalhub_airflow.serving.deploy.manifests import cluster_url
    from digitalhub_airflow.serving.deploy.pinning import already_pinned
    from digitalhub_airflow.serving.deploy.services import (
        RUNNING,
        begin_deployment,
        get_service,
        set_state,
    )

    monkeypatch.setenv("DHUB_CATALOG_URL", ehub.catalog.url)
    monkeypatch.setenv("DHUB_STORE_URL", str(ehub.store.url))
    exposure = {"host": "wine.example.org", "auth": "api-key", "secret": "wine-key"}
    spec = spec_from_json(
        {"project": "demo", "name": "wine", "target": "kubernetes", "namespace": "ml",
         "models": {"wine": "models:/wine/3"}, "exposure": exposure}
    )  # fmt: skip
    begin_deployment(ehub, spec, already_pinned(spec.models))
    set_state(ehub, spec, RUNNING, url=cluster_url(spec))
    kube.proxies[("ml", "wine:80")] = gated_metrics
    operator = ServiceStatsOperator(task_id="stats", service=spec.key())
    with pytest.raises(DeploymentError, match="Secret ml/wine-key does not exist"):
        operator.execute(None)
    kube.put_secret("ml", "wine-key", {"api-key": "k3y"})
    stats = operator.execute(None)
    assert stats["models"]["wine"]["requests"] == 100
    assert stats["url"] == "kubernetes://ml/services/wine:80/metrics"
    stored = get_service(ehub, "demo", "kubernetes", "wine").to_json()
    assert stored["stats"]["models"]["wine"]["statuses"] == {"200": 96, "400": 3, "413": 1}
    (call,) = kube.calls("GET", "/api/v1/namespaces/ml/services/wine:80/proxy/metrics")
    assert call.headers["x-api-key"] == "k3y"
    kube.put_secret("ml", "wine-key", {"api-key": "rotated"})  # the pod still has k3y
    with pytest.raises(DeploymentError, match=r"refused GET .*proxy/metrics: 401"):
        operator.execute(None)
