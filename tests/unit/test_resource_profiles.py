"""Resource profiles: built-ins and a platform file, rendered into pod specs that the
official Kubernetes schema accepts; malformed profiles refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digitalhub_airflow.kube.resource_profiles import (
    BUILTIN,
    ProfileError,
    get_profile,
    load_profiles,
)
from tests.kube_schemas import validate_k8s


@pytest.fixture(autouse=True)
def kubernetes_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering a pod reads the cluster config; nothing is sent to this address."""
    from tests.kube_apiserver import KubeApiServer

    config = KubeApiServer.kubeconfig_for("http://127.0.0.1:9")
    conn = {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(config)}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))


def pod_of(profile_name: str, profiles_file: Path | None = None) -> dict:
    from kubernetes.client import ApiClient

    from digitalhub_airflow.operators.pods import DigitalHubPodOperator

    op = DigitalHubPodOperator(
        task_id="work",
        module="digitalhub_airflow.cli",
        module_args=["log", "demo/wine"],
        resource_profile=profile_name,
        profiles_file=str(profiles_file) if profiles_file else None,
        namespace="ml",
    )
    return ApiClient().sanitize_for_serialization(op.build_pod_request_obj())


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_profile_renders_a_valid_pod(name: str) -> None:
    pod = pod_of(name)
    validate_k8s(pod)
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["limits"] == BUILTIN[name].limits
    gpus = BUILTIN[name].gpus
    assert resources["limits"].get("nvidia.com/gpu", "0") == str(gpus)
    tolerations = pod["spec"].get("tolerations") or []
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations) == (gpus > 0)


def test_a_platform_file_adds_and_overrides_profiles(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "4xl4:\n"
        "  limits: {nvidia.com/gpu: 4, memory: 96Gi}\n"
        "  node_selector: {pool: l4}\n"
        "  tolerations: [{key: pool, operator: Equal, value: l4, effect: NoSchedule}]\n"
        "cpu-small:\n"
        "  requests: {cpu: 500m, memory: 1Gi}\n"
    )
    profiles = load_profiles(path)
    assert profiles["4xl4"].gpus == 4
    assert profiles["cpu-small"].requests == {"cpu": "500m", "memory": "1Gi"}
    assert "1xa100" in profiles  # built-ins stay
    pod = pod_of("4xl4", path)
    validate_k8s(pod)
    assert pod["spec"]["nodeSelector"] == {"pool": "l4"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("gpu:\n  limits: {nvidia.com/gpu: lots}\n", "not Kubernetes quantities"),
        ("gpu:\n  limts: {}\n", "unknown field(s) limts"),
        ("Bad_Name:\n  limits: {}\n", "the name must match"),
        ("gpu:\n  tolerations: {key: x}\n", "tolerations must be a list"),
        ("- just\n- a list\n", "expected a mapping of profiles"),
        ("gpu: [unclosed\n", "profiles.yaml"),
    ],
)
def test_malformed_profiles_are_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_profiles(path)


def test_an_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown resource profile '8xb200'; known: .*1xa100"):
        get_profile("8xb200")
