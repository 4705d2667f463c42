"""Scale-out of a served model: ``autoscaling`` (an ``autoscaling/v2``
HorizontalPodAutoscaler on CPU and/or requests per second) and ``disruption_budget``
(a ``policy/v1`` PodDisruptionBudget) of the services YAML.

Rendered objects are validated against the Kubernetes schemas; bad input is refused
naming the field; on the API-server stand-in (tests/kube_apiserver.py, which keeps
``spec.replicas``'s field owners as a real API server does) a deploy applies both, the
Deployment leaves ``replicas`` to the autoscaler without ever dropping to 1, reconcile
is a no-op when equal, repairs an edited autoscaler and deletes what the YAML no longer
asks for, and undeploy deletes them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.kube.client import (
    FIELD_MANAGER,
    HANDOVER_MANAGER,
    ApplyConflict,
    KubeClient,
)
from digitalhub_airflow.kube.resource_profiles import get_profile
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.deployer import LocalDeployer
from digitalhub_airflow.serving.deploy.manifests import (
    DIGEST_ANNOTATION,
    RPS_METRIC,
    autoscaler,
    deployment,
    disruption_budget,
    labels,
    quantity,
    service_manifests,
)
from digitalhub_airflow.serving.deploy.reconcile import load_services_file
from digitalhub_airflow.serving.deploy.spec import ServiceSpec, spec_from_json
from tests.kube_apiserver import HPA_MANAGER, KubeApiServer
from tests.kube_schemas import validate_k8s
from tests.unit import test_deploy_cli as cli

# The CLI tests' fixtures: the stand-in, a kubeconfig naming it, a pod-usable environment.
kube = cli.kube
kubeconfig = cli.kubeconfig
cluster_env = cli.cluster_env

DEPLOYMENT = cli.DEPLOYMENT
SERVICE = cli.SERVICE
INGRESS = cli.INGRESS
HPA = "/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/wine"
PDB = "/apis/policy/v1/namespaces/ml/poddisruptionbudgets/wine"
SETTINGS = {"DHUB_CATALOG_URL": "postgresql+psycopg2://dhub@pg/dhub", "DHUB_STORE_URL": "s3://b/p"}
SCALING = {"min_replicas": 2, "max_replicas": 10, "cpu_utilization": 70}


def spec(**change: Any) -> ServiceSpec:
    fields = {
        "project": "demo",
        "name": "wine",
        "target": "kubernetes",
        "models": {"wine": "models:/wine/3"},
        "namespace": "ml",
        "credentials_secret": "dhub-credentials",
    }
    return spec_from_json({**fields, **change})


# -- rendering ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scaling", "metrics"),
    [
        (
            {"max_replicas": 4, "cpu_utilization": 70},
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        ),
        (
            {"min_replicas": 2, "max_replicas": 10, "requests_per_second": 50},
            [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "dhub_serving_requests_per_second"},
                        "target": {"type": "AverageValue", "averageValue": "50"},
                    },
                }
            ],
        ),
        (
            {"max_replicas": 3, "cpu_utilization": 150, "requests_per_second": 2.5},
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 150},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": RPS_METRIC},
                        "target": {"type": "AverageValue", "averageValue": "2500m"},
                    },
                },
            ],
        ),
    ],
)
def test_the_autoscaler_is_valid_autoscaling_v2_on_cpu_and_or_requests_per_second(
    scaling: dict, metrics: list
) -> None:
    wanted = spec(autoscaling=scaling)
    hpa = autoscaler(wanted)
    assert hpa is not None
    validate_k8s(hpa)
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "wine",
    }
    assert hpa["spec"]["minReplicas"] == scaling.get("min_replicas", 1)
    assert hpa["spec"]["maxReplicas"] == scaling["max_replicas"]
    assert hpa["spec"]["metrics"] == metrics
    assert hpa["metadata"]["labels"] == labels(wanted)
    assert hpa["metadata"]["annotations"][DIGEST_ANNOTATION] == wanted.digest


def test_the_request_rate_metric_is_the_servers_request_counter() -> None:
    """The Pods metric is the rate of the server's request counter, as
    prometheus-adapter names it (``^(.*)_total$`` -> ``${1}_per_second``)."""
    from prometheus_client import generate_latest

    from digitalhub_airflow.serving.runtime.metrics import ServingMetrics

    metrics = ServingMetrics()
    metrics.observe("wine", "v2", 200, 0.01)
    exposed = generate_latest(metrics.registry).decode()
    assert RPS_METRIC.replace("_per_second", "_total") + "{" in exposed
    assert [quantity(v) for v in (50, 0.5, 2.5, 1e-3, 100.0)] == [
        "50",
        "500m",
        "2500m",
        "1m",
        "100",
    ]


@pytest.mark.parametrize(
    ("budget", "field", "value"),
    [
        ({"min_available": 1}, "minAvailable", 1),
        ({"max_unavailable": "25%"}, "maxUnavailable", "25%"),
        ({"min_available": "50%"}, "minAvailable", "50%"),
    ],
)
def test_the_disruption_budget_is_valid_policy_v1_selecting_the_pods(
    budget: dict, field: str, value: object
) -> None:
    wanted = spec(replicas=3, disruption_budget=budget)
    pdb = disruption_budget(wanted)
    assert pdb is not None
    validate_k8s(pdb)
    assert (pdb["apiVersion"], pdb["kind"]) == ("policy/v1", "PodDisruptionBudget")
    pods = deployment(wanted, get_profile("cpu-small"), SETTINGS)
    assert pdb["spec"] == {"selector": pods["spec"]["selector"], field: value}
    assert pdb["metadata"]["labels"] == pods["metadata"]["labels"]


def test_with_an_autoscaler_the_deployment_leaves_replicas_out_and_all_objects_validate() -> None:
    wanted = spec(
        autoscaling=SCALING,
        disruption_budget={"min_available": 1},
        exposure={"host": "wine.example.org", "secret": "wine-users"},
    )
    manifests = service_manifests(wanted, get_profile("cpu-small"), SETTINGS)
    kinds = [m["kind"] for m in manifests]
    assert kinds == [
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    for manifest in manifests:
        validate_k8s(manifest)
        assert manifest["metadata"]["labels"] == labels(wanted)
    assert "replicas" not in manifests[0]["spec"]
    assert wanted.replicas == 2  # the autoscaler's floor
    fixed = service_manifests(spec(replicas=3), get_profile("cpu-small"), SETTINGS)
    assert [m["kind"] for m in fixed] == ["Deployment", "Service"]
    assert fixed[0]["spec"]["replicas"] == 3


# -- the spec ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"autoscaling": {"min_replicas": 5, "max_replicas": 2, "cpu_utilization": 70}},
            "autoscaling.min_replicas 5 is above autoscaling.max_replicas 2",
        ),
        (
            {"autoscaling": {"min_replicas": 1, "max_replicas": 3}},
            "autoscaling needs a target: cpu_utilization",
        ),
        (
            {"autoscaling": {"min_replicas": 2, "cpu_utilization": 70}},
            "autoscaling lacks ['autoscaling.max_replicas']",
        ),
        ({"autoscaling": {"max_replicas": 3, "cpu": 70}}, "unknown autoscaling field(s) ['cpu']"),
        (
            {"autoscaling": {"min_replicas": 0, "max_replicas": 3, "cpu_utilization": 70}},
            "autoscaling.min_replicas 0 must be an integer in [1, 100]",
        ),
        (
            {"autoscaling": {"max_replicas": 500, "cpu_utilization": 70}},
            "autoscaling.max_replicas 500 must be an integer",
        ),
        (
            {"autoscaling": {"max_replicas": 3, "cpu_utilization": 0}},
            "autoscaling.cpu_utilization 0 must be an integer",
        ),
        (
            {"autoscaling": {"max_replicas": 3, "requests_per_second": -5}},
            "autoscaling.requests_per_second -5 must be a number",
        ),
        (
            {"autoscaling": {"max_replicas": 3, "requests_per_second": "fast"}},
            "autoscaling.requests_per_second 'fast' must be a number",
        ),
        ({"autoscaling": [2, 10]}, "autoscaling is a mapping"),
        (
            {"replicas": 3, "autoscaling": SCALING},
            "replicas and autoscaling are both set: the autoscaler owns the replica count",
        ),
        (
            {"disruption_budget": {"min_available": 1, "max_unavailable": 1}, "replicas": 3},
            "exactly one of min_available and max_unavailable (both are set)",
        ),
        ({"disruption_budget": {}}, "(neither is set)"),
        (
            {"disruption_budget": {"min_available": "half"}, "replicas": 3},
            "disruption_budget.min_available 'half' must be a count or a percentage",
        ),
        (
            {"disruption_budget": {"max_unavailable": "250%"}, "replicas": 3},
            "disruption_budget.max_unavailable '250%'",
        ),
        (
            {"disruption_budget": {"min_available": -1}, "replicas": 3},
            "disruption_budget.min_available -1 must be an integer",
        ),
        ({"disruption_budget": {"max_available": 1}}, "unknown disruption_budget field(s)"),
        # Budgets that allow no voluntary eviction at all: node drains would hang.
        (
            {"disruption_budget": {"min_available": 1}},
            "disruption_budget.min_available 1 with 1 replica(s) allows no voluntary eviction",
        ),
        ({"disruption_budget": {"min_available": 3}, "replicas": 3}, "raise replicas"),
        ({"disruption_budget": {"min_available": "100%"}, "replicas": 4}, "no voluntary eviction"),
        ({"disruption_budget": {"max_unavailable": 0}, "replicas": 4}, "no voluntary eviction"),
        ({"disruption_budget": {"max_unavailable": "0%"}, "replicas": 4}, "no voluntary eviction"),
        (
            {"disruption_budget": {"min_available": 2}, "autoscaling": SCALING},
            "with 2 replica(s) allows no voluntary eviction: node drains would block; raise "
            "autoscaling.min_replicas",
        ),
    ],
)
def test_bad_scaling_is_refused_naming_the_field(change: dict, words: str) -> None:
    with pytest.raises(ServingSpecError) as raised:
        spec(**change)
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "change",
    [
        {"disruption_budget": {"min_available": 1}, "replicas": 2},
        {"disruption_budget": {"min_available": "50%"}, "replicas": 2},
        {"disruption_budget": {"max_unavailable": "25%"}},  # rounds up: one pod at a time
        {"disruption_budget": {"min_available": 1}, "replicas": 0},  # no pods, nothing blocks
        {"disruption_budget": {"min_available": 1}, "autoscaling": SCALING},
        {"autoscaling": {"max_replicas": 1, "requests_per_second": 0.5}},
    ],
)
def test_budgets_that_leave_room_for_an_eviction_are_accepted(change: dict) -> None:
    assert spec(**change).digest


def test_scaling_is_part_of_the_digest_and_old_specs_keep_theirs() -> None:
    plain = spec(replicas=2)
    assert "autoscaling" not in plain.to_json() and "disruption_budget" not in plain.to_json()
    scaled = spec(autoscaling=SCALING, disruption_budget={"max_unavailable": "25%"})
    data = scaled.to_json()
    assert data["autoscaling"] == SCALING and "replicas" not in data
    assert data["disruption_budget"] == {"max_unavailable": "25%"}
    assert spec_from_json(data) == scaled and spec_from_json(data).digest == scaled.digest
    edited = spec(
        autoscaling={**SCALING, "max_replicas": 12}, disruption_budget={"max_unavailable": "25%"}
    )
    assert len({plain.digest, scaled.digest, edited.digest}) == 3
    assert scaled.with_models({"wine": "models:/wine/4"}).autoscaling == scaled.autoscaling


def test_the_shipped_services_files_autoscaled_variant_is_valid(tmp_path: Path) -> None:
    """The commented cluster entry of dags/services/demo.yaml offers an autoscaler
    instead of ``replicas``: with that line uncommented (and ``replicas`` dropped) it
    is a valid spec too."""
    shipped = Path(__file__).resolve().parents[2] / "dags" / "services" / "demo.yaml"
    lines = []
    for text in shipped.read_text().splitlines():
        if text.startswith(("  # On a cluster", "  # MLflow")):
            continue
        if text.startswith("  #   # autoscaling:"):
            lines.append(text.replace("  #   # ", "    ", 1))
        elif text.startswith("  # ") and ":" in text and "replicas: 2" not in text:
            lines.append(text.replace("  # ", "  ", 1))
        else:
            lines.append(text)
    path = tmp_path / "services.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    cluster = next(s for s in load_services_file(path).services if s.target == "kubernetes")
    assert cluster.autoscaling is not None and cluster.autoscaling.cpu_utilization == 70
    assert cluster.disruption_budget is not None
    assert cluster.replicas == cluster.autoscaling.min_replicas == 2


def test_a_local_service_ignores_scaling_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from digitalhub_airflow.serving.deploy import local_deploy
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment
    from digitalhub_airflow.serving.deploy.pinning import already_pinned
    from digitalhub_airflow.serving.deploy.reconcile import Desired

    local = spec(
        target="local", port=0, autoscaling=SCALING, disruption_budget={"min_available": 1}
    )
    assert LocalDeployer.ignored(spec(target="local", port=0)) is None
    note = LocalDeployer.ignored(local)
    assert note == "autoscaling, disruption_budget ignored: a local service is one process"
    seen: dict[str, Any] = {}
    record = SimpleNamespace(state="running", key="k", url="http://127.0.0.1:1", pid=1)

    def deploy_local(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return record

    monkeypatch.setattr(local_deploy, "deploy_local", deploy_local)
    deployer = LocalDeployer(lambda: ServerEnvironment({}, {}), home=Path("/nonexistent"))
    with caplog.at_level("WARNING"):
        found = deployer.deploy(None, Desired(local, already_pinned(local.models)))  # type: ignore[arg-type]
    assert found is record
    assert seen["note"] == note and note in caplog.text


def test_a_cpu_target_needs_a_cpu_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from digitalhub_airflow.kube import resource_profiles
    from digitalhub_airflow.serving.deploy.deployer import KubernetesDeployer

    bare = resource_profiles.ResourceProfile("bare", {"memory": "1Gi"}, {"memory": "1Gi"})
    monkeypatch.setattr(resource_profiles, "get_profile", lambda name: bare)
    deployer = KubernetesDeployer(lambda: KubeClient.from_values("http://x"), lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ServingSpecError, match="cpu_utilization needs a CPU request"):
        deployer.preflight(spec(autoscaling=SCALING))


# -- on the cluster (the API-server stand-in) ----------------------------------------------------
def spec_file(tmp_path: Path, version: int = 3, **change: Any) -> Path:
    return cli.spec_file(tmp_path, version, **change)


def applies(kube: KubeApiServer) -> list[tuple[str, str]]:
    return [(r.path, r.query["fieldManager"][0]) for r in kube.requests if r.method == "PATCH"]


def test_deploy_applies_autoscaler_and_budget_and_hands_replicas_over(
    cluster_env: DataHub,
    kube: KubeApiServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    budget = {"max_unavailable": 1}
    path = spec_file(tmp_path, autoscaling=SCALING, disruption_budget=budget)
    code, out, err = cli.dhub(capsys, "deploy", str(path), "--poll-interval", "0.1")
    assert code == 0, err
    # The new Deployment comes without replicas (the autoscaler owns them), then a second
    # manager claims replicas at min_replicas without force, so it starts at 2 pods and
    # our later applies (without the field) never reset it to 1.
    assert applies(kube) == [
        (DEPLOYMENT, FIELD_MANAGER),
        (SERVICE, FIELD_MANAGER),
        (INGRESS, FIELD_MANAGER),
        (HPA, FIELD_MANAGER),
        (PDB, FIELD_MANAGER),
        (DEPLOYMENT, HANDOVER_MANAGER),
    ]
    sent = [r for r in kube.requests if r.method == "PATCH"]
    assert "replicas" not in sent[0].body["spec"]
    assert sent[-1].query == {"fieldManager": [HANDOVER_MANAGER]}  # never forced
    assert sent[-1].body["spec"] == {"replicas": 2}
    for call in sent[:-1]:
        validate_k8s(call.body)
    live = kube.get("deployments", "ml", "wine")
    assert live["spec"]["replicas"] == 2
    assert kube.replica_owners("ml", "wine") == {HANDOVER_MANAGER: "Apply"}
    hpa = kube.get("horizontalpodautoscalers", "ml", "wine")
    assert (
        hpa["spec"]["maxReplicas"] == 10 and hpa["metadata"]["labels"] == live["metadata"]["labels"]
    )
    pdb = kube.get("poddisruptionbudgets", "ml", "wine")
    assert pdb["spec"]["maxUnavailable"] == 1
    record = services.get_service(cluster_env, "demo", "kubernetes", "wine")
    assert record.state == "running" and record.spec["autoscaling"] == SCALING

    # The autoscaler scales out; a new model version rolls without touching the count.
    kube.autoscale("ml", "wine", 7)
    kube.requests.clear()
    updated = cli.dhub_json(
        capsys, "deploy", str(spec_file(tmp_path, 4, autoscaling=SCALING, disruption_budget=budget))
    )
    assert updated["state"] == "running"
    conflicts = [
        r
        for r in kube.requests
        if r.method == "PATCH" and r.query["fieldManager"] == [HANDOVER_MANAGER]
    ]
    assert len(conflicts) == 1  # claimed at the live count: no conflict, shared with the HPA
    live = kube.get("deployments", "ml", "wine")
    assert live["spec"]["replicas"] == 7
    assert "wine=models:/wine/4" in live["spec"]["template"]["spec"]["containers"][0]["args"]

    # Undeploy deletes the budget and the autoscaler too.
    kube.requests.clear()
    code, out, err = cli.dhub(
        capsys, "undeploy", "wine", "--project", "demo", "--target", "kubernetes"
    )
    assert code == 0, err
    assert (
        "deleted PodDisruptionBudget, HorizontalPodAutoscaler, Ingress, Service, Deployment" in out
    )
    assert [r.path for r in kube.requests if r.method == "DELETE"] == [
        PDB,
        HPA,
        INGRESS,
        SERVICE,
        DEPLOYMENT,
    ]
    for plural in ("horizontalpodautoscalers", "poddisruptionbudgets", "deployments"):
        assert kube.get(plural, "ml", "wine") is None


def test_turning_autoscaling_on_keeps_the_replica_count(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fixed-size service given an autoscaler: our manager owned ``replicas``; applying
    without the field would reset it to 1 (server-side apply removes a field its only
    owner drops), so the count is claimed by the handover manager first."""
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path, replicas=4)))
    assert kube.replica_owners("ml", "wine") == {FIELD_MANAGER: "Apply"}
    kube.requests.clear()
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path, autoscaling=SCALING)))
    assert applies(kube)[0] == (DEPLOYMENT, HANDOVER_MANAGER)
    assert kube.get("deployments", "ml", "wine")["spec"]["replicas"] == 4
    assert kube.replica_owners("ml", "wine") == {HANDOVER_MANAGER: "Apply"}


def test_a_conflicting_handover_is_the_autoscaler_owning_replicas(kube: KubeApiServer) -> None:
    client = KubeClient.from_values(kube.url)
    manifest = deployment(spec(autoscaling=SCALING), get_profile("cpu-small"), SETTINGS)
    client.apply(manifest)
    kube.autoscale("ml", "wine", 5)
    claim = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "wine", "namespace": "ml"},
        "spec": {"replicas": 3},
    }
    with pytest.raises(ApplyConflict, match=r"409 .*horizontal-pod-autoscaler"):
        client.apply(claim, field_manager=HANDOVER_MANAGER, force=False)
    assert kube.get("deployments", "ml", "wine")["spec"]["replicas"] == 5
    client.apply(manifest)  # ours, without replicas: the autoscaler's count stays
    assert kube.get("deployments", "ml", "wine")["spec"]["replicas"] == 5
    assert kube.replica_owners("ml", "wine") == {HPA_MANAGER: "Update"}


def services_yaml(path: Path, **change: Any) -> Path:
    entry = {
        "name": "wine",
        "target": "kubernetes",
        "namespace": "ml",
        "credentials_secret": "creds",
        "models": {"wine": "models:/wine/3"},
        **change,
    }
    path.write_text(
        yaml.safe_dump({"project": "demo", "prune": True, "services": [entry]}), encoding="utf-8"
    )
    return path


def test_reconcile_keeps_autoscaler_and_budget_true_to_the_yaml(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = services_yaml(
        tmp_path / "services.yaml",
        autoscaling=SCALING,
        disruption_budget={"min_available": 1},
    )
    first = cli.dhub_json(capsys, "reconcile", str(path))
    assert len(first["deploy"]) == 1
    record = services.get_service(cluster_env, "demo", "kubernetes", "wine")
    assert kube.get("horizontalpodautoscalers", "ml", "wine") is not None
    assert kube.get("poddisruptionbudgets", "ml", "wine") is not None

    # Equal: a no-op (reads only), even after the autoscaler changed the replica count.
    kube.autoscale("ml", "wine", 6)
    kube.requests.clear()
    second = cli.dhub_json(capsys, "reconcile", str(path))
    assert second == {"deploy": [], "unchanged": [record.key], "undeploy": [], "kept": []}
    assert [r.method for r in kube.requests if r.method != "GET"] == []
    assert kube.calls("GET", HPA) and kube.calls("GET", PDB)  # part of what is compared

    # The autoscaler edited in the cluster (kubectl edit): put back, the count kept.
    hpa = kube.get("horizontalpodautoscalers", "ml", "wine")
    hpa["spec"]["maxReplicas"] = 50
    hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 95
    third = cli.dhub_json(capsys, "reconcile", str(path))
    assert third["deploy"] == [record.key]
    hpa = kube.get("horizontalpodautoscalers", "ml", "wine")
    assert hpa["spec"]["maxReplicas"] == 10
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert kube.get("deployments", "ml", "wine")["spec"]["replicas"] == 6
    assert cli.dhub_json(capsys, "reconcile", str(path))["unchanged"] == [record.key]

    # A budget deleted by hand: put back.
    del kube.objects[("poddisruptionbudgets", "ml", "wine")]
    assert cli.dhub_json(capsys, "reconcile", str(path))["deploy"] == [record.key]
    assert kube.get("poddisruptionbudgets", "ml", "wine")["spec"]["minAvailable"] == 1

    # Autoscaling and the budget removed from the YAML: both deleted, the Deployment
    # owns its replicas again.
    services_yaml(path, replicas=3)
    kube.requests.clear()
    fourth = cli.dhub_json(capsys, "reconcile", str(path))
    assert len(fourth["deploy"]) == 1
    assert sorted(r.path for r in kube.requests if r.method == "DELETE") == sorted([HPA, PDB])
    assert kube.get("horizontalpodautoscalers", "ml", "wine") is None
    assert kube.get("poddisruptionbudgets", "ml", "wine") is None
    live = kube.get("deployments", "ml", "wine")
    assert live["spec"]["replicas"] == 3
    assert kube.replica_owners("ml", "wine") == {FIELD_MANAGER: "Apply"}
    kube.requests.clear()
    assert cli.dhub_json(capsys, "reconcile", str(path))["deploy"] == []
    assert [r.method for r in kube.requests if r.method != "GET"] == []


def test_objects_not_ours_are_left_alone(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An autoscaler someone else made for the Deployment (no managed-by label) is not
    deleted by a deploy whose spec has none."""
    client = KubeClient.from_values(kube.url)
    theirs = autoscaler(spec(autoscaling=SCALING))
    assert theirs is not None
    theirs["metadata"] = {"name": "wine", "namespace": "ml", "labels": {"team": "ops"}}
    client.apply(theirs, field_manager="kubectl")
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path)))
    assert kube.get("horizontalpodautoscalers", "ml", "wine") is not None
    assert not kube.calls("DELETE", HPA)


def test_only_kinds_the_service_used_are_read_and_a_dropped_ingress_goes_too(
    cluster_env: DataHub, kube: KubeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that never had an autoscaler or a budget sends no request for those
    kinds (a Role made before them still serves it); an exposure removed from the spec
    deletes its Ingress like a removed autoscaler."""
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path)))
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path, 4)))
    assert not [r for r in kube.requests if "autoscaling" in r.path or "policy" in r.path]
    kube.requests.clear()
    cli.dhub_json(capsys, "deploy", str(spec_file(tmp_path, 4, exposure=None)))
    assert [r.path for r in kube.requests if r.method == "DELETE"] == [INGRESS]
    assert kube.get("ingresses", "ml", "wine") is None
