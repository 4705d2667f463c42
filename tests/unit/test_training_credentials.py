"""MLflow credentials: sent on every request of a tracking session, never put in the
environment, never logged; the ``mlflow`` connection maps to them. Plus the operators'
templated fields. The server here is a tiny real HTTP receiver that records headers."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from digitalhub_airflow.errors import TrackingError
from digitalhub_airflow.training.tracking import (
    TrackingConfig,
    describe,
    tracking_from_env,
    tracking_session,
)
from tests.http_server import serving

SECRET = "s3cr3t-token-value"


class Receiver(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def _answer(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        body = b"OK" if self.path == "/health" else json.dumps({"experiments": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Receiver.seen = []
    with serving(Receiver) as url:
        yield url


def _api_calls() -> list[str | None]:
    return [auth for path, auth in Receiver.seen if path.startswith("/api/")]


def test_a_token_is_sent_inside_the_session_only_and_never_reaches_env_or_logs(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    # MLflow loads its request-header plugins on first use; feast's sets PROMETHEUS_*
    # variables when imported. Load them first, so the snapshot compares the session only.
    import mlflow.tracking.request_header.registry  # noqa: F401

    env_before = dict(os.environ)
    config = TrackingConfig(server, token=SECRET)
    caplog.set_level(logging.DEBUG)
    with tracking_session(config) as client:
        client.search_experiments()
        assert not any(SECRET in v for v in os.environ.values())
    assert _api_calls() == [f"Bearer {SECRET}"]
    from mlflow import MlflowClient

    MlflowClient(server).search_experiments()  # outside the session: anonymous
    assert _api_calls()[-1] is None
    assert dict(os.environ) == env_before
    assert SECRET not in caplog.text
    assert SECRET not in repr(config) and SECRET not in json.dumps(describe(config))


def test_basic_auth_from_login_and_password(server: str) -> None:
    with tracking_session(TrackingConfig(server, username="ml", password=SECRET)) as client:
        client.search_experiments()
    expected = "Basic " + base64.b64encode(f"ml:{SECRET}".encode()).decode()
    assert _api_calls() == [expected]


def test_credentials_in_the_uri_are_refused() -> None:
    with pytest.raises(TrackingError, match="must not carry credentials"):
        TrackingConfig(f"https://ml:{SECRET}@mlflow.example.org")


def test_a_separate_process_reads_back_the_tracking_server_it_was_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a pod or a model server gets in its environment names the same server, with
    the credentials in the secret half only."""
    given = TrackingConfig("https://mlflow.example:5000", "https://registry.example", token="t0k")
    settings, secrets = given.process_environment()
    assert "t0k" not in json.dumps(settings) and set(secrets.values()) == {"t0k"}
    for name in os.environ:
        if name.startswith("DHUB_MLFLOW_"):
            monkeypatch.delenv(name)
    assert tracking_from_env(tmp_path).tracking_uri.startswith("sqlite")
    for name, value in {**settings, **secrets}.items():
        monkeypatch.setenv(name, value)
    assert tracking_from_env(tmp_path) == given


def test_the_mlflow_connection_maps_to_a_tracking_config() -> None:
    from airflow.sdk import Connection

    from digitalhub_airflow.hooks.mlflow import MlflowHook, tracking_from_connection

    token = tracking_from_connection(
        Connection(conn_id="m", conn_type="mlflow", host="127.0.0.1", port=5000, password="tk")
    )
    assert (token.tracking_uri, token.token, token.username) == (
        "http://127.0.0.1:5000",
        "tk",
        None,
    )
    basic = tracking_from_connection(
        Connection(
            conn_id="m",
            conn_type="mlflow",
            host="https://ml.example.org/",
            login="u",
            password="p",
            extra=json.dumps({"registry_uri": "https://reg.example.org"}),
        )
    )
    assert basic.tracking_uri == "https://ml.example.org"
    assert (basic.username, basic.password, basic.token) == ("u", "p", None)
    assert basic.registry_uri == "https://reg.example.org"
    with pytest.raises(ValueError, match="no host"):
        tracking_from_connection(Connection(conn_id="m", conn_type="mlflow"))
    assert MlflowHook.conn_type == "mlflow" and MlflowHook.default_conn_name == "mlflow_default"


def test_training_operators_template_their_inputs() -> None:
    from digitalhub_airflow.operators.training import (
        PlanSearchOperator,
        SelectBestModelOperator,
        TrainModelOperator,
        parent_run_of,
    )

    train = TrainModelOperator(
        task_id="t", project="demo", name="m", entrypoint="a.b:c", datasets=["{{ params.d }}"],
        target="y", hyperparameters={"n": "{{ params.n }}"}, parent_run_id=parent_run_of("plan"),
    )  # fmt: skip
    for field in (
        "datasets",
        "target",
        "hyperparameters",
        "experiment",
        "parent_run_id",
        "entrypoint",
    ):
        assert field in train.template_fields
    assert "xcom_pull(task_ids='plan', key='parent_run_id')" in train.parent_run_id
    select = SelectBestModelOperator(
        task_id="s", project="demo", name="m", candidates=[], metric="accuracy"
    )
    for field in ("candidates", "evaluation_dataset", "alias", "parent_run_id", "metric"):
        assert field in select.template_fields
    assert "space" in PlanSearchOperator(task_id="p", project="demo", name="m").template_fields


def test_the_hook_falls_back_to_embedded_mlflow_and_reads_the_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from digitalhub_airflow.hooks.mlflow import MlflowHook

    monkeypatch.setenv("DHUB_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    embedded = MlflowHook().tracking()
    assert embedded.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert embedded.artifact_root == (tmp_path / "mlflow" / "artifacts").as_uri()
    conn = {"conn_type": "mlflow", "host": "mlflow.internal", "port": 5000, "password": SECRET}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(conn))
    remote = MlflowHook().tracking()
    assert remote.tracking_uri == "http://mlflow.internal:5000" and remote.token == SECRET
