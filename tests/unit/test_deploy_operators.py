"""The serving operators outside Airflow's runtime: templated fields, a DAG file that
parses without heavy imports, and Kubernetes deployments refused before anything is
pinned, recorded or applied when a pod could not work (embedded catalog, credentials
without a Secret to carry them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digitalhub_airflow.errors import DeploymentError, ServingSpecError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy import services


def deploy_operator(**overrides: object):
    from digitalhub_airflow.operators.serving import DeployModelOperator

    fields: dict = {
        "task_id": "deploy",
        "project": "demo",
        "name": "wine",
        "models": {"wine": "models:/wine@champion"},
        "target": "kubernetes",
        "spec": {"namespace": "ml"},
    }
    return DeployModelOperator(**{**fields, **overrides})


def test_template_fields_are_attributes() -> None:
    from digitalhub_airflow.operators.serving import (
        ReconcileServicesOperator,
        RollbackModelOperator,
        UndeployModelOperator,
    )

    for op in (
        deploy_operator(),
        UndeployModelOperator(task_id="u", project="demo", name="wine"),
        RollbackModelOperator(task_id="r", project="demo", name="wine"),
        ReconcileServicesOperator(task_id="c", services_files="services/*.yaml"),
    ):
        for field in op.template_fields:
            assert hasattr(op, field), (type(op).__name__, field)


def test_a_serving_dag_parses_without_heavy_imports() -> None:
    code = (
        "import sys; import digitalhub_airflow.operators.serving, "
        "digitalhub_airflow.triggers.rollout; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'mlflow', 'sklearn', 'kubernetes', "
        "'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def embedded(ehub: DataHub, monkeypatch: pytest.MonkeyPatch) -> DataHub:
    catalog = ehub.catalog.url
    monkeypatch.setenv("DHUB_CATALOG_URL", catalog)
    monkeypatch.setenv("DHUB_STORE_URL", str(Path(catalog.removeprefix("sqlite:///")).parent))
    for name in ("AIRFLOW_CONN_DHUB_CATALOG", "AIRFLOW_CONN_DHUB_STORE"):
        monkeypatch.delenv(name, raising=False)
    return ehub


def test_a_pod_cannot_use_the_embedded_catalog_nothing_is_recorded(
    embedded: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    with pytest.raises(DeploymentError) as raised:
        deploy_operator().execute(None)
    message = str(raised.value)
    assert "a pod cannot reach this deployment" in message
    assert "embedded SQLite" in message and "MLflow is the embedded store" in message
    assert services.list_services(embedded, "demo") == []


def test_credentials_without_a_secret_to_carry_them_are_refused(
    embedded: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHUB_CATALOG_URL", "postgresql+psycopg2://dhub:pg-secret@pg.internal/dhub")
    monkeypatch.setenv("DHUB_STORE_URL", "s3://bucket/store")
    conn = {"conn_type": "mlflow", "host": "http://mlflow.internal:5000", "password": "tok"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(conn))
    with pytest.raises(DeploymentError) as raised:
        deploy_operator().execute(None)
    message = str(raised.value)
    assert "DHUB_MLFLOW_TOKEN, PGPASSWORD" in message and "credentials_secret" in message
    assert "pg-secret" not in message and "tok" not in message.replace("token", "")


def test_an_unknown_target_is_refused_before_anything_runs(embedded: DataHub) -> None:
    with pytest.raises(ServingSpecError, match="target 'docker' is unknown"):
        deploy_operator(target="docker").execute(None)
    assert services.list_services(embedded, "demo") == []


def test_connections_are_read_once_per_execution_and_not_kept(
    embedded: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinning, the environment check and the manifests all need the tracking server;
    one lookup serves them, and no credential stays on the operator afterwards (where
    OpenLineage's full task info would list it)."""
    from digitalhub_airflow.hooks.mlflow import MlflowHook

    conn = {"conn_type": "mlflow", "host": "http://mlflow.internal:5000", "password": "tok3n"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(conn))
    lookups = []
    real = MlflowHook.tracking
    monkeypatch.setattr(MlflowHook, "tracking", lambda self: lookups.append(1) or real(self))
    op = deploy_operator()

    def work() -> tuple[dict[str, str], dict[str, str]]:
        assert op.tracking() is op.tracking()
        op.server_environment()
        return op.server_environment()

    _, secrets = op._run_recorded(None, work)
    assert secrets["DHUB_MLFLOW_TOKEN"] == "tok3n" and len(lookups) == 1
    assert "tok3n" not in repr(vars(op))
    op._run_recorded(None, op.tracking)
    assert len(lookups) == 2  # a new execution looks again
