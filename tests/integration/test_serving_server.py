"""``dhub serve`` end to end on both backends: the embedded catalog with the embedded
MLflow, and PostgreSQL + S3 with the real MLflow server. Several models in one server
(by registry alias and by catalog key), a pipeline over one of them, Prometheus counts,
and the sampled request log committed as a dataset at shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from digitalhub_airflow.datasets.reading import read_table
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.training.tracking import TrackingConfig
from tests.conftest import Backend
from tests.integration.test_training_mlflow import stock_mlflow
from tests.serving_helpers import running_server, tracking_env, train_champion
from tests.training_helpers import TARGET, wine_frame

REQUEST_LOG = "store://demo/dataitem/table/wine-requests"


def samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def v2_body(frame, request_id: str) -> dict:
    data = frame.to_numpy()
    tensor = {
        "name": "x",
        "shape": list(data.shape),
        "datatype": "FP64",
        "data": data.ravel().tolist(),
    }
    return {"id": request_id, "inputs": [tensor]}


def test_models_by_alias_and_catalog_key_a_pipeline_metrics_and_the_request_log(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    model = train_champion(hub, tracking)
    frame = wine_frame().drop(columns=[TARGET]).sample(7, random_state=1)
    with stock_mlflow(tracking):
        expected = mlflow.pyfunc.load_model(model.version_uri).predict(frame).tolist()
    names = ["barolo", "grignolino", "barbera"]
    spec = tmp_path / "labelled.yaml"
    spec.write_text(
        "name: wine-labelled\n"
        "steps:\n"
        "  - function: tests.serving_helpers:scale_features\n"
        "  - model: wine\n"
        "  - function: tests.serving_helpers:class_names\n"
    )
    env = {**backend.env(), **tracking_env(tracking), "DHUB_USER": "integration-tester"}
    args = [
        "--model", f"wine={model.alias_uri}",
        "--model", f"bykey={model.model_key}",
        "--pipeline", str(spec),
        "--service", "wine-svc",
        "--request-log", REQUEST_LOG,
        "--log-sample-rate", "1",
        "--log-flush-seconds", "3600",  # only the shutdown flush commits
    ]  # fmt: skip
    with running_server(env, *args, log_dir=tmp_path) as server:
        url = server.url
        alias = httpx.post(f"{url}/v2/models/wine/infer", json=v2_body(frame, "a-1")).json()
        assert alias["model_version"] == model.version
        assert alias["outputs"][0]["data"] == expected
        bykey = httpx.post(f"{url}/v2/models/bykey/infer", json=v2_body(frame, "k-1")).json()
        assert bykey["model_version"] == model.model_key.rsplit(":", 1)[1]  # the run id
        assert bykey["outputs"][0]["data"] == expected

        piped = httpx.post(
            f"{url}/v2/models/wine-labelled/infer", json=v2_body(frame / 100.0, "p-1")
        ).json()
        assert piped["model_name"] == "wine-labelled"
        assert piped["outputs"][0]["datatype"] == "BYTES"
        assert piped["outputs"][0]["data"] == [names[c] for c in expected]
        meta = httpx.get(f"{url}/v2/models/wine-labelled").json()
        assert meta["platform"] == "dhub_pipeline" and meta["inputs"] == []

        invocations = httpx.post(
            f"{url}/invocations",
            params={"model": "wine"},
            json={"dataframe_records": frame.to_dict(orient="records")},
        )
        assert invocations.json() == {"predictions": expected}
        refused = httpx.post(f"{url}/v2/models/wine/versions/99/infer", json=v2_body(frame, "x"))
        assert refused.status_code == 404

        metrics = httpx.get(f"{url}/metrics").text
        requests = samples(metrics, "dhub_serving_requests_total")
        assert requests[(("model", "wine"), ("protocol", "v2"), ("status", "200"))] == 1
        assert requests[(("model", "wine"), ("protocol", "mlflow"), ("status", "200"))] == 1
        assert requests[(("model", "wine"), ("protocol", "v2"), ("status", "404"))] == 1
        labelled = (("model", "wine-labelled"), ("protocol", "v2"), ("status", "200"))
        assert requests[labelled] == 2  # infer and metadata
        predictions = samples(metrics, "dhub_serving_predictions_total")
        assert predictions[(("model", "wine"),)] == 14  # 7 rows by v2, 7 by /invocations
        errors = samples(metrics, "dhub_serving_errors_total")
        assert errors[(("model", "wine"), ("reason", "not_found"))] == 1
        latency = samples(metrics, "dhub_serving_request_seconds_count")
        assert latency[(("model", "bykey"), ("protocol", "v2"))] == 1
        with pytest.raises(NotFoundError):  # nothing committed before the shutdown flush
            hub.log(REQUEST_LOG)
        assert server.stop() == 0  # SIGTERM: a graceful shutdown
        assert "Application shutdown complete" in server.log_text()

    (version,) = hub.log(REQUEST_LOG)
    table = read_table(hub, version.key)
    assert table.schema.field("ts").type.tz == "UTC" and table.schema.field("ts").type.unit == "us"
    assert table.column_names[:5] == ["ts", "service", "model", "model_version", "request_id"]
    assert set(model.feature_names) <= set(table.column_names)
    assert "prediction" in table.column_names
    rows = table.to_pylist()
    assert len(rows) == 4 * 7  # alias, key, pipeline, invocations; 7 rows each
    assert {r["service"] for r in rows} == {"wine-svc"}
    by_request = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row)
    wine_rows = by_request["a-1"]
    assert {r["model"] for r in wine_rows} == {"wine"}
    assert {r["model_version"] for r in wine_rows} == {model.version}
    # The pipeline's labels share the column, so this version holds predictions as text.
    assert table.schema.field("prediction").type == "string"
    assert [float(r["prediction"]) for r in wine_rows] == [float(p) for p in expected]
    assert [r["alcohol"] for r in wine_rows] == frame["alcohol"].tolist()
    # The pipeline logs its model's inputs (after pre-processing) and its final output.
    piped_rows = by_request["p-1"]
    assert [r["prediction"] for r in piped_rows] == [names[c] for c in expected]
    assert [r["alcohol"] for r in piped_rows] == pytest.approx(frame["alcohol"].tolist())


def test_unknown_references_fail_at_startup_with_a_clear_message(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, tmp_path: Path
) -> None:
    """Nothing is served when a reference does not resolve: the command says which."""
    import subprocess

    from tests.serving_helpers import DHUB

    env = {**backend.env(), **tracking_env(tracking)}
    cases = [
        ("wine=models:/demo.absent@champion", "models:/demo.absent@champion", 3),
        ("wine=store://demo/model/mlflow/absent:0123456789abcdef", "does not exist", 3),
        ("wine=store://demo/dataitem/table/wine:v1", "not a model version key", 27),
        ("models:/demo.absent/1", "must be NAME=REF", 27),
    ]
    for option, words, code in cases:
        proc = subprocess.run(
            [str(DHUB), "serve", "--model", option, "--port", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == code, proc.stderr
        assert words in proc.stderr, proc.stderr


def test_two_workers_behind_an_api_key_answer_every_request_after_ready(
    hub: DataHub, tracking: TrackingConfig, backend: Backend, tmp_path: Path
) -> None:
    """Ready from one worker means ready everywhere: each worker loads its models before it
    accepts a connection, so no request lands on a worker that is still loading; /metrics
    sums the workers' counts. With a key in its environment (as a deployment with
    ``auth: api-key`` gives it from a Secret) only the health probes are open."""
    model = train_champion(hub, tracking)
    frame = wine_frame().drop(columns=[TARGET]).head(3)
    env = {**backend.env(), **tracking_env(tracking), "DHUB_SERVING_API_KEY": "k-3141"}
    args = ["--model", f"wine={model.alias_uri}", "--workers", "2"]
    key = {"X-API-Key": "k-3141"}
    with running_server(env, *args, log_dir=tmp_path) as server:
        infer = f"{server.url}/v2/models/wine/infer"
        statuses = [
            # A new connection per request, so both workers take some of them.
            httpx.post(infer, json=v2_body(frame, f"r-{i}"), headers=key)
            for i in range(40)
        ]
        assert [r.status_code for r in statuses] == [200] * 40, statuses[-1].text
        refused = httpx.post(infer, json=v2_body(frame, "no-key"))
        assert refused.status_code == 401
        assert "API key" in refused.json()["error"]
        wrong = httpx.post(infer, json=v2_body(frame, "bad"), headers={"X-API-Key": "k-0"})
        assert wrong.status_code == 401
        metrics = httpx.get(f"{server.url}/metrics", headers=key).text
        counted = samples(metrics, "dhub_serving_requests_total")
        assert sum(v for labels, v in counted.items() if ("model", "wine") in labels) == 40
