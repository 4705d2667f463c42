"""Deployment specs and services files: bad input refused by name before anything runs;
digests that change exactly when what would run changes; reconcile plans that touch only
what differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from digitalhub_airflow.errors import InvalidKeyError, ServingSpecError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.pinning import already_pinned
from digitalhub_airflow.serving.deploy.reconcile import Desired, load_services_file, plan
from digitalhub_airflow.serving.deploy.spec import spec_from_json

BASE = {"project": "demo", "name": "wine", "target": "local", "models": {"wine": "models:/w/1"}}


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"target": "docker"}, ServingSpecError, "target 'docker' is unknown"),
        ({"name": "Wine"}, InvalidKeyError, "uppercase"),
        ({"name": "../x"}, InvalidKeyError, "invalid"),
        ({"target": "kubernetes", "name": "wine_v2"}, ServingSpecError, "not a Kubernetes name"),
        ({"models": {}}, ServingSpecError, "serves no model"),
        ({"models": {"Wine": "models:/w/1"}}, InvalidKeyError, "served model name"),
        ({"port": 70000}, ServingSpecError, "port 70000"),
        ({"port": "8080"}, ServingSpecError, "port '8080'"),
        ({"replicas": -1}, ServingSpecError, "replicas -1"),
        ({"prot": 8080}, ServingSpecError, "unknown service field(s) ['prot']"),
        ({"request_log": "store://demo/model/mlflow/m:abcdef12"}, ServingSpecError, "dataset"),
        ({"log_sample_rate": 2}, ServingSpecError, "log_sample_rate 2"),
        ({"exposure": {"host": "w.example.org", "auth": "basic"}}, ServingSpecError, "secret="),
        ({"exposure": {"host": "w.example.org", "auth": "oauth"}}, ServingSpecError, "oauth"),
        ({"exposure": {"host": "Not A Host"}}, ServingSpecError, "not a DNS host"),
        ({"credentials_secret": "My Secret"}, ServingSpecError, "credentials_secret"),
    ],
)
def test_bad_specs_are_refused_naming_the_problem(change: dict, error: type, words: str) -> None:
    with pytest.raises(error) as raised:
        spec_from_json({**BASE, **change})
    assert words in str(raised.value)


def test_the_digest_changes_exactly_when_the_spec_does() -> None:
    spec = spec_from_json(BASE)
    same = spec_from_json(dict(reversed(list(BASE.items()))))
    assert spec.digest == same.digest
    assert spec.key() == f"store://demo/service/local/wine:{spec.digest[:16]}"
    assert spec.with_models({"wine": "models:/w/2"}).digest != spec.digest
    assert spec_from_json({**BASE, "port": 9000}).digest != spec.digest
    assert spec_from_json(spec.to_json()) == spec


def test_serve_args_are_the_contracts_command_line() -> None:
    spec = spec_from_json(
        {
            **BASE,
            "models": {"b": "models:/b@champion", "a": "runs:/r1/model"},
            "port": 9001,
            "request_log": "store://demo/dataitem/table/wine-requests",
            "log_sample_rate": 0.5,
        }
    )
    assert spec.serve_args() == [
        "serve",
        *("--model", "a=runs:/r1/model", "--model", "b=models:/b@champion"),
        *("--host", "127.0.0.1", "--port", "9001", "--workers", "1"),
        *("--service", "wine", "--project", "demo"),
        *("--request-log", "store://demo/dataitem/table/wine-requests"),
        *("--log-sample-rate", "0.5"),
    ]


def test_already_pinned_references_carry_their_versions() -> None:
    pinned = already_pinned(
        {
            "a": "models:/wine/7",
            "b": "store://demo/model/mlflow/wine:0123abcd",
            "c": "runs:/abc/model",
        }
    )
    assert {n: p.version for n, p in pinned.items()} == {"a": "7", "b": "0123abcd", "c": None}


# -- services files ---------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "services.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_services_file_is_read_with_its_project_and_prune(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "project: demo\nprune: true\nservices:\n"
        "  - {name: wine, target: local, models: {wine: 'models:/w/1'}, port: 0}\n"
        "  - {name: wine, target: kubernetes, models: {wine: 'models:/w/1'}, namespace: ml}\n",
    )
    file = load_services_file(path)
    assert file.project == "demo" and file.prune is True
    assert [(s.target, s.name, s.project) for s in file.services] == [
        ("local", "wine", "demo"),
        ("kubernetes", "wine", "demo"),
    ]


def test_the_shipped_services_file_and_its_commented_cluster_example_are_valid(
    tmp_path: Path,
) -> None:
    """dags/services/demo.yaml is what the reconcile DAG reads; its commented Kubernetes
    entry is documentation a user will uncomment, so it must be a valid spec too."""
    shipped = Path(__file__).resolve().parents[2] / "dags" / "services" / "demo.yaml"
    file = load_services_file(shipped)
    assert (file.project, file.prune) == ("demo", False)
    [local] = file.services
    assert (local.target, local.name) == ("local", "wine-api")
    assert local.models == {"wine": "models:/demo.wine-classifier@champion"}
    text = shipped.read_text()
    uncommented = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") and ":" in line else line
        for line in text.splitlines()
        if not line.startswith("  # On a cluster") and not line.startswith("  # MLflow")
    )
    both = load_services_file(write(tmp_path, uncommented))
    cluster = next(s for s in both.services if s.target == "kubernetes")
    assert (cluster.namespace, cluster.replicas, cluster.credentials_secret) == (
        "ml",
        2,
        "dhub-credentials",
    )
    assert cluster.exposure is not None and cluster.exposure.auth == "api-key"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("project: demo\nservices: [\n", "not valid YAML"),
        ("- a\n", "must be a mapping"),
        ("project: demo\nprune: yes please\n", "prune must be true or false"),
        ("project: demo\nservice: []\n", "unknown field(s) ['service']"),
        (
            "project: demo\nservices:\n"
            "  - {name: w, target: local, models: {w: 'models:/w/1'}}\n"
            "  - {name: w, target: local, models: {w: 'models:/w/2'}}\n",
            "local/w is twice",
        ),
        (
            "project: demo\nservices:\n"
            "  - {project: other, name: w, target: local, models: {w: 'models:/w/1'}}\n",
            "the file is for 'demo'",
        ),
    ],
)
def test_bad_services_files_are_refused(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ServingSpecError) as raised:
        load_services_file(write(tmp_path, text))
    assert words in str(raised.value)


def test_a_missing_services_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServingSpecError, match="cannot read services file"):
        load_services_file(tmp_path / "absent.yaml")


def desired(**change: object) -> Desired:
    spec = spec_from_json({**BASE, **change})
    return Desired(spec, already_pinned(spec.models))


def record_running(hub: DataHub, item: Desired) -> services.ServiceRecord:
    services.begin_deployment(hub, item.spec, item.models)
    return services.set_state(hub, item.spec, services.RUNNING, url="http://h", pid=1)


def test_plan_is_a_noop_when_recorded_and_live_state_match(ehub: DataHub) -> None:
    wine, other = desired(), desired(name="other")
    for item in (wine, other):
        record_running(ehub, item)
    recorded = services.list_services(ehub, "demo")
    result = plan([wine, other], recorded, prune=True, live_digest=lambda r: r.spec_digest)
    assert result.is_noop
    assert sorted(result.unchanged) == sorted(r.key for r in recorded)


def test_plan_deploys_what_differs_or_died_and_prunes_only_when_asked(ehub: DataHub) -> None:
    for item in (desired(), desired(name="dead"), desired(name="gone")):
        record_running(ehub, item)
    recorded = services.list_services(ehub, "demo")
    wanted = [desired(models={"wine": "models:/w/2"}), desired(name="dead"), desired(name="new")]

    def live(record: services.ServiceRecord) -> str | None:
        return None if record.name == "dead" else record.spec_digest

    kept = plan(wanted, recorded, prune=False, live_digest=live)
    assert [d.spec.name for d in kept.deploy] == ["wine", "dead", "new"]
    assert kept.undeploy == [] and kept.kept == [r.key for r in recorded if r.name == "gone"]
    pruned = plan(wanted, recorded, prune=True, live_digest=live)
    assert [r.name for r in pruned.undeploy] == ["gone"] and pruned.kept == []


def test_previous_spec_is_the_last_one_that_served(ehub: DataHub) -> None:
    first, second, third = (desired(models={"wine": f"models:/w/{v}"}) for v in (1, 2, 3))
    record_running(ehub, first)
    record_running(ehub, second)
    services.begin_deployment(ehub, third.spec, third.models)
    failed = services.set_state(ehub, third.spec, services.FAILED, message="boom")
    assert failed.previous_spec == second.spec.to_json()
    assert services.rollback_target(failed) == second.spec
    states = [e["state"] for e in services.history(ehub, "demo", "local", "wine")]
    assert states == ["deploying", "running", "deploying", "running", "deploying", "failed"]
    assert failed.url is None and failed.pid is None
