"""Local deployments on both catalog backends: the real ``dhub serve`` started as a
managed process for a registered model, answering a real v2 client, recorded as a
``service`` with its URL, pinned model version and state; undeployed, gone. Updates,
rollbacks and bad input (unknown model, port in use, model that cannot load) each
leave the catalog truthful: nothing recorded as running that does not run."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from digitalhub_airflow.errors import DeploymentError, NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.local_deploy import (
    deploy_local,
    is_alive,
    rollback_local,
    undeploy_local,
)
from digitalhub_airflow.serving.deploy.local_process import port_in_use
from digitalhub_airflow.serving.deploy.pinning import pin_models
from digitalhub_airflow.serving.deploy.services import ServiceRecord
from digitalhub_airflow.serving.deploy.spec import ServiceSpec, spec_from_json
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.conftest import Backend
from tests.serving_helpers import TrainedModel, tracking_env, train_champion
from tests.training_helpers import TARGET, wine_frame

pytestmark = pytest.mark.timeout(600)


def spec(ref: str, **change: object) -> ServiceSpec:
    fields = {"project": "demo", "name": "wine", "target": "local", "models": {"wine": ref}}
    return spec_from_json({**fields, "port": 0, **change})


def deploy(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, wanted: ServiceSpec
) -> ServiceRecord:
    """What DeployModelOperator does for a local target, minus Airflow."""
    env = {**backend.env(), **tracking_env(tracking)}
    models = pin_models(wanted.models, tracking, hub)
    pinned = wanted.with_models({n: m.pinned for n, m in models.items()})
    return deploy_local(hub, pinned, models, env, home=backend.home, timeout=180)


def predicted(record: ServiceRecord, model: TrainedModel) -> list:
    frame = wine_frame().drop(columns=[TARGET]).head(2)
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(frame.shape),
                "datatype": "FP64",
                "data": frame.to_numpy().ravel().tolist(),
            }
        ]
    }
    response = httpx.post(f"{record.url}/v2/models/wine/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["outputs"][0]["data"]


@pytest.fixture
def champion(hub: DataHub, tracking: TrackingConfig) -> TrainedModel:
    return train_champion(hub, tracking)


def test_deploy_serves_the_pinned_version_then_undeploy_stops_the_process(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, champion: TrainedModel
) -> None:
    record = deploy(hub, tracking, backend, spec(champion.alias_uri))
    try:
        assert record.state == services.RUNNING and is_alive(record)
        assert record.models["wine"] == {
            "ref": champion.alias_uri,
            "pinned": champion.version_uri,
            "version": champion.version,
        }
        assert record.spec["models"] == {"wine": champion.version_uri}
        assert httpx.get(f"{record.url}/v2/health/ready", timeout=10).status_code == 200
        assert len(predicted(record, champion)) == 2
        assert record.key == f"store://demo/service/local/wine:{record.spec_digest[:16]}"
        assert services.get_service(hub, "demo", "local", "wine") == record
        # The same spec again: nothing restarted.
        again = deploy(hub, tracking, backend, spec(champion.alias_uri))
        assert again.pid == record.pid and again.updated_at == record.updated_at
    finally:
        stopped = undeploy_local(hub, "demo", "wine")
    assert stopped.state == services.STOPPED and stopped.pid is None and stopped.url is None
    assert not is_alive(record)
    port = int(record.url.rsplit(":", 1)[1])
    assert not port_in_use("127.0.0.1", port)
    states = [e["state"] for e in services.history(hub, "demo", "local", "wine")]
    assert states == ["deploying", "running", "stopped"]
    assert all(
        e["actor"] == "integration-tester" for e in services.history(hub, "demo", "local", "wine")
    )
    # Nothing secret was recorded with the service.
    text = str(stopped.to_json())
    for secret in (backend.services.s3_secret_key,) if backend.services else ():
        assert secret not in text


def test_an_update_replaces_the_process_and_a_rollback_restores_the_previous_version(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, champion: TrainedModel
) -> None:
    challenger = train_champion(hub, tracking)
    first = deploy(hub, tracking, backend, spec(champion.alias_uri))
    try:
        updated = deploy(hub, tracking, backend, spec(challenger.alias_uri))
        assert updated.state == services.RUNNING and updated.pid != first.pid
        assert not is_alive(first) and is_alive(updated)
        assert updated.models["wine"]["pinned"] == challenger.version_uri
        assert updated.previous_spec == first.spec
        rolled = rollback_local(
            hub, "demo", "wine", {**backend.env(), **tracking_env(tracking)}, home=backend.home
        )
        assert rolled.state == services.ROLLED_BACK and is_alive(rolled)
        assert rolled.spec == first.spec and rolled.spec_digest == first.spec_digest
        assert rolled.models["wine"]["version"] == champion.version
        assert rolled.previous_spec == updated.spec  # a second rollback goes forward again
        assert len(predicted(rolled, champion)) == 2
    finally:
        undeploy_local(hub, "demo", "wine")
    states = [e["state"] for e in services.history(hub, "demo", "local", "wine")]
    assert states == [
        "deploying",
        "running",
        "deploying",
        "running",
        "deploying",
        "rolled_back",
        "stopped",
    ]


def test_a_failed_update_brings_the_previous_version_back(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, champion: TrainedModel, tmp_path: Path
) -> None:
    first = deploy(hub, tracking, backend, spec(champion.alias_uri))
    try:
        broken = (tmp_path / "no-model-here").as_uri()
        with pytest.raises(DeploymentError, match="the previous spec runs again"):
            deploy(hub, tracking, backend, spec(broken))
        record = services.get_service(hub, "demo", "local", "wine")
        assert record.state == services.ROLLED_BACK and is_alive(record)
        assert record.spec == first.spec and record.models == first.models
        assert record.previous_spec == spec(broken).to_json()
        assert len(predicted(record, champion)) == 2
    finally:
        undeploy_local(hub, "demo", "wine")
    states = [e["state"] for e in services.history(hub, "demo", "local", "wine")]
    assert states == [
        *("deploying", "running", "deploying", "failed"),
        *("deploying", "rolled_back", "stopped"),
    ]


def test_an_unknown_model_is_refused_before_anything_is_recorded(
    hub: DataHub, tracking: TrackingConfig, backend: Backend
) -> None:
    with pytest.raises(NotFoundError):
        deploy(hub, tracking, backend, spec("models:/no-such-model@champion"))
    assert services.find_service(hub, "demo", "local", "wine") is None


def test_a_port_in_use_is_refused_before_anything_is_recorded(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, champion: TrainedModel
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DeploymentError, match=f"port {port} on 127.0.0.1 is in use"):
            deploy(hub, tracking, backend, spec(champion.alias_uri, port=port))
    assert services.find_service(hub, "demo", "local", "wine") is None


def test_a_model_that_cannot_load_is_recorded_failed_with_the_servers_log(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, tmp_path: Path
) -> None:
    missing = (tmp_path / "no-model-here").as_uri()
    with pytest.raises(DeploymentError) as raised:
        deploy(hub, tracking, backend, spec(missing))
    assert "before it was ready" in str(raised.value) or "not ready" in str(raised.value)
    record = services.get_service(hub, "demo", "local", "wine")
    assert record.state == services.FAILED and record.pid is None and record.url is None
    assert "no-model-here" in record.message
    states = [e["state"] for e in services.history(hub, "demo", "local", "wine")]
    assert states == ["deploying", "failed"]
