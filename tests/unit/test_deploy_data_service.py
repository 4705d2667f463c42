"""``kind: data`` services: specs checked field by field, model specs' digests
unchanged, the server's command line, and Kubernetes objects that validate against the
official schemas with the gateway's credentials only as Secret references."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitalhub_airflow.errors import InvalidKeyError, ServingSpecError
from digitalhub_airflow.kube.resource_profiles import get_profile
from digitalhub_airflow.serving.deploy.manifests import service_manifests
from digitalhub_airflow.serving.deploy.reconcile import load_services_file
from digitalhub_airflow.serving.deploy.spec import spec_from_json
from tests.kube_schemas import validate_k8s

DATA = {
    "project": "demo",
    "name": "wine-data",
    "target": "kubernetes",
    "kind": "data",
    "dataset": "demo/wine@prod",
    "namespace": "ml",
}


def test_a_data_spec_names_its_dataset_as_a_full_key_and_runs_serve_data() -> None:
    spec = spec_from_json(DATA)
    assert spec.dataset == "store://demo/dataitem/table/wine@prod" and spec.models == {}
    args = spec.serve_args(host="0.0.0.0")
    assert args[:3] == ["serve-data", "--dataset", "store://demo/dataitem/table/wine@prod"]
    assert " ".join(args).endswith("--service wine-data --project demo")
    assert spec_from_json({**DATA, "allow_quarantined": True}).digest != spec.digest
    pinned = spec_from_json({**DATA, "dataset": "demo/wine:v3"})
    assert pinned.dataset == "store://demo/dataitem/table/wine:v3"


def test_model_specs_keep_their_digests() -> None:
    model = spec_from_json(
        {"project": "demo", "name": "wine", "target": "local", "models": {"w": "models:/w/1"}}
    )
    assert "kind" not in model.to_json() and "dataset" not in model.to_json()
    assert spec_from_json({**model.to_json(), "kind": "model"}).digest == model.digest


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"dataset": None}, ServingSpecError, "needs dataset"),
        ({"models": {"w": "models:/w/1"}}, ServingSpecError, "no models, pipelines"),
        ({"dataset": "wine"}, ServingSpecError, "not <project>/<name>"),
        ({"dataset": "store://demo/dataitem/files/raw"}, ServingSpecError, "not a table"),
        ({"dataset": "demo/Wine Data"}, InvalidKeyError, "name"),
        ({"kind": "feature", "models": {"w": "m"}}, ServingSpecError, "kind 'feature' is unknown"),
        ({"allow_quarantined": "yes"}, ServingSpecError, "true or false"),
    ],
)
def test_bad_data_specs_are_refused_by_name(change: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        spec_from_json({**DATA, **change})


def test_a_model_spec_may_not_name_a_dataset() -> None:
    with pytest.raises(ServingSpecError, match="belong to kind: data"):
        spec_from_json({**DATA, "kind": "model", "models": {"w": "models:/w/1"}})


@pytest.mark.parametrize("auth", ["api-key", "token"])
def test_data_service_manifests_validate_and_carry_gateway_secrets_by_reference(
    auth: str,
) -> None:
    exposure = {"host": "wine.data.example.org", "auth": auth, "secret": "wine-gw"}
    spec = spec_from_json({**DATA, "exposure": exposure})
    manifests = service_manifests(spec, get_profile("cpu-small"), {"DHUB_STORE_URL": "s3://b"})
    for manifest in manifests:
        validate_k8s(manifest)
    container = manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "serve-data"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    env = {e["name"]: e for e in container["env"]}
    assert env["DHUB_SERVING_PROJECT"]["value"] == "demo"
    token_ref = env["DHUB_TOKEN_SECRET"]["valueFrom"]["secretKeyRef"]
    assert token_ref["name"] == "wine-gw" and token_ref["key"] == "token-secret"
    # with api-key the token secret is optional (a key-only Secret still starts the pod)
    assert token_ref.get("optional", False) is (auth == "api-key")
    assert ("DHUB_SERVING_API_KEY" in env) is (auth == "api-key")
    assert all("value" not in e or "secret" not in e["value"] for e in env.values())


def test_the_shipped_data_services_file_is_valid() -> None:
    shipped = Path(__file__).resolve().parents[2] / "dags" / "services" / "data.yaml"
    [service] = load_services_file(shipped).services
    assert (service.kind, service.dataset) == ("data", "store://demo/dataitem/table/wine")


def test_a_data_pod_needs_no_mlflow_server_but_a_model_pod_does() -> None:
    from digitalhub_airflow.errors import DeploymentError
    from digitalhub_airflow.serving.deploy.deployer import KubernetesDeployer
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment

    settings = {"DHUB_CATALOG_URL": "postgresql://dhub@pg/dhub", "DHUB_STORE_URL": "s3://b/p"}
    deployer = KubernetesDeployer(lambda: None, lambda: ServerEnvironment(settings, {}))  # type: ignore[arg-type, return-value]
    assert deployer.pod_environment(spec_from_json(DATA)) == (settings, [])
    model = spec_from_json({**DATA, "kind": "model", "dataset": None, "models": {"w": "m"}})
    with pytest.raises(DeploymentError, match="MLflow is the embedded store"):
        deployer.pod_environment(model)
