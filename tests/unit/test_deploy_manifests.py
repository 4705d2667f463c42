"""Kubernetes manifests of a service, validated against the official schemas (strict,
latest), with credentials only as Secret references; and the rollout rules read off a
Deployment's status, as ``kubectl rollout status`` reads them."""

from __future__ import annotations

import json

import pytest

from digitalhub_airflow.kube.resource_profiles import get_profile
from digitalhub_airflow.serving.deploy.manifests import (
    DIGEST_ANNOTATION,
    cluster_url,
    service_manifests,
)
from digitalhub_airflow.serving.deploy.rollout import DONE, FAILED, WAITING, rollout_status
from digitalhub_airflow.serving.deploy.spec import spec_from_json
from tests.kube_schemas import validate_k8s

SETTINGS = {"DHUB_CATALOG_URL": "postgresql+psycopg2://dhub@pg/dhub", "DHUB_STORE_URL": "s3://b/p"}
SECRETS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DHUB_MLFLOW_TOKEN", "PGPASSWORD"]


def spec(**change: object):
    fields = {
        "project": "demo",
        "name": "wine",
        "target": "kubernetes",
        "models": {"wine": "models:/wine/3"},
        "namespace": "ml",
        "replicas": 2,
        "credentials_secret": "dhub-credentials",
    }
    return spec_from_json({**fields, **change})


def validate(manifests: list[dict]) -> None:
    for manifest in manifests:
        validate_k8s(manifest)


@pytest.mark.parametrize("profile", ["cpu-small", "1xa100"])
def test_deployment_and_service_validate_and_carry_credentials_by_reference(profile: str) -> None:
    manifests = service_manifests(spec(), get_profile(profile), SETTINGS, SECRETS)
    validate(manifests)
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]
    deployment, service = manifests
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "digitalhub_airflow.cli"]
    assert container["args"][:3] == ["serve", "--model", "wine=models:/wine/3"]
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"
    env = {e["name"]: e for e in container["env"]}
    assert {n: e["value"] for n, e in env.items() if "value" in e} == SETTINGS
    assert {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items() if "valueFrom" in e} == {
        n: {"name": "dhub-credentials", "key": n} for n in SECRETS
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"][DIGEST_ANNOTATION] == spec().digest
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    assert service["spec"]["selector"] == selector
    assert (profile == "1xa100") == ("nvidia.com/gpu" in container["resources"]["limits"])


def test_a_new_model_version_changes_the_pod_template_so_pods_roll() -> None:
    old = service_manifests(spec(), get_profile("cpu-small"), SETTINGS)[0]
    new = service_manifests(
        spec(models={"wine": "models:/wine/4"}), get_profile("cpu-small"), SETTINGS
    )[0]
    assert old["spec"]["template"] != new["spec"]["template"]
    assert old["spec"]["selector"] == new["spec"]["selector"]  # same Deployment, rolled


def test_basic_auth_exposure_is_an_ingress_the_controller_guards() -> None:
    exposed = spec(exposure={"host": "wine.example.org", "secret": "wine-users"})
    manifests = service_manifests(exposed, get_profile("cpu-small"), SETTINGS, SECRETS)
    validate(manifests)
    ingress = manifests[-1]
    assert ingress["kind"] == "Ingress"
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/auth-type"] == "basic"
    assert notes["nginx.ingress.kubernetes.io/auth-secret"] == "wine-users"
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "wine.example.org"
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "wine"
    assert cluster_url(exposed) == "http://wine.example.org"


def test_an_api_key_reaches_the_server_only_from_its_secret() -> None:
    exposed = spec(
        exposure={
            "host": "wine.example.org",
            "auth": "api-key",
            "secret": "wine-key",
            "tls_secret": "wine-tls",
        }
    )
    manifests = service_manifests(exposed, get_profile("cpu-small"), SETTINGS)
    validate(manifests)
    env = manifests[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "DHUB_SERVING_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "wine-key", "key": "api-key"}},
    } in env
    assert "nginx.ingress.kubernetes.io/auth-type" not in manifests[-1]["metadata"]["annotations"]
    assert manifests[-1]["spec"]["tls"] == [
        {"hosts": ["wine.example.org"], "secretName": "wine-tls"}
    ]
    assert cluster_url(exposed) == "https://wine.example.org"


def test_no_exposure_no_ingress_and_the_url_is_inside_the_cluster() -> None:
    plain = spec()
    assert [m["kind"] for m in service_manifests(plain, get_profile("cpu-small"), {})] == [
        "Deployment",
        "Service",
    ]
    assert cluster_url(plain) == "http://wine.ml.svc.cluster.local:80"
    assert "secret" not in json.dumps(service_manifests(plain, get_profile("cpu-small"), {}))


# -- rollout rules ----------------------------------------------------------------------
def deployment(replicas: int = 2, **status: object) -> dict:
    return {"metadata": {"name": "wine"}, "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"observedGeneration": 1}, WAITING),
        ({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 2}, WAITING),
        ({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 3}, WAITING),
        (
            {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1},
            WAITING,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2},
            DONE,
        ),
        (
            {
                "observedGeneration": 2,
                "conditions": [
                    {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "m"}
                ],
            },
            FAILED,
        ),
    ],
)
def test_rollout_rules(status: dict, state: str) -> None:
    assert rollout_status(deployment(**status), generation=2).state == state


def test_a_deployment_scaled_to_zero_is_rolled_out() -> None:
    status = rollout_status(deployment(replicas=0, observedGeneration=2), generation=2)
    assert status.state == DONE
