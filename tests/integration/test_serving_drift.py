"""Drift of logged inference inputs against the training data, on both backends.

The request log is committed here as a server's flusher commits it: Parquet versions with
the serving contract's columns (ts, service, model, model_version, request_id, one column
per feature, prediction); the training data is scikit-learn's wine table.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select

from digitalhub_airflow.catalog.models import DriftRecord
from digitalhub_airflow.errors import (
    DriftError,
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
)
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.drift import Thresholds, raise_for_drift
from digitalhub_airflow.serving.deploy.pinning import already_pinned
from digitalhub_airflow.serving.deploy.services import RUNNING, begin_deployment, set_state
from digitalhub_airflow.serving.deploy.spec import ServiceSpec
from digitalhub_airflow.serving.monitoring.drift import (
    drift_reports,
    parse_window,
    service_drift,
    serving_drift,
)
from digitalhub_airflow.training.model_catalog import ModelRecord, record_model
from digitalhub_airflow.training.tracking import embedded_tracking
from tests.training_helpers import TARGET, commit_wine, wine_frame

REQUESTS = "store://demo/dataitem/table/wine-requests"
SERVICE = "store://demo/service/local/wine"
MODEL_KEY = "store://demo/model/mlflow/wine-classifier:0123456789abcdef"


def logged(frame: Any, at: datetime, model: str = "wine", version: str = "3") -> pa.Table:
    """Rows as the request logger writes them: one per sample, its prediction last."""
    features = frame.drop(columns=[TARGET])
    n = len(features)
    columns: dict[str, Any] = {
        "ts": pa.array([at - timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "service": pa.array(["wine"] * n),
        "model": pa.array([model] * n),
        "model_version": pa.array([version] * n),
        "request_id": pa.array([f"r{i}" for i in range(n)]),
    }
    columns.update({name: pa.array(features[name], pa.float64()) for name in features})
    columns["prediction"] = pa.array(frame[TARGET], pa.float64())
    return pa.table(columns)


def shifted(frame: Any) -> Any:
    """Wine as another vineyard would send it: stronger and with more proline."""
    return frame.assign(alcohol=frame["alcohol"] + 2.5, proline=frame["proline"] * 2)


@pytest.fixture
def now() -> datetime:
    return datetime.now(timezone.utc)


def test_inputs_like_the_training_data_are_no_drift_and_the_report_is_stored(
    hub: DataHub, now: datetime
) -> None:
    training = commit_wine(hub)
    wine = wine_frame()
    # Two flushes inside the window; rows logged two hours ago (shifted) fall outside it.
    hub.commit(REQUESTS, logged(wine, now - timedelta(minutes=20)))
    old = logged(shifted(wine), now - timedelta(hours=2))
    last = hub.commit(REQUESTS, pa.concat_tables([logged(wine, now), old])).version
    report = serving_drift(
        hub, REQUESTS, parse_window("1h"), reference=training.key, service=SERVICE
    )
    assert report["status"] == "ok", report["columns"]
    assert report["window"]["rows"] == 2 * len(wine)
    assert report["features"]["compared"] == [c for c in wine.columns if c != TARGET]
    assert all(c["metric"] == "psi" and c["value"] < 1e-9 for c in report["columns"])
    raise_for_drift(report)  # nothing to raise
    with hub.catalog.session() as session:
        stored = session.scalars(select(DriftRecord).where(DriftRecord.id == report["id"])).one()
        assert stored.status == "ok"
        assert stored.report["reference"] == training.key
        assert stored.report["service"] == SERVICE
        assert stored.report["window"]["last_version"] == last.key
        assert stored.report["window"]["versions"] == 2
    later = serving_drift(hub, REQUESTS, parse_window("3h"), reference=training.key)
    listed = drift_reports(hub, REQUESTS)
    assert [r["id"] for r in listed] == [later["id"], report["id"]]
    assert listed[0]["window"]["rows"] == 3 * len(wine)  # the shifted rows of two hours ago too


def test_shifted_inputs_fail_naming_the_drifted_columns(hub: DataHub, now: datetime) -> None:
    training = commit_wine(hub)
    wine = wine_frame()
    hub.commit(REQUESTS, logged(shifted(wine), now - timedelta(minutes=5)))
    report = serving_drift(hub, REQUESTS, parse_window("1h"), reference=training.key)
    assert report["status"] == "fail"
    failed = {c["name"] for c in report["columns"] if c["status"] == "fail"}
    assert failed == {"alcohol", "proline"}
    with pytest.raises(DriftError) as caught:
        raise_for_drift(report)
    assert sorted(caught.value.columns) == ["alcohol", "proline"]
    assert "alcohol psi=" in str(caught.value) and REQUESTS in str(caught.value)
    by_name = {c["name"]: c for c in report["columns"]}  # shifted past the training range
    assert by_name["proline"]["checks"]["range"] == "fail"
    assert by_name["alcohol"]["out_of_range"]["count"] > 0
    # Thresholds decide: without failing PSI and range levels the same window only warns.
    lenient = serving_drift(
        hub,
        REQUESTS,
        parse_window("1h"),
        reference=training.key,
        thresholds=Thresholds(psi_fail=None, out_of_range_fail=None),
    )
    assert lenient["status"] == "warn"


def test_the_model_key_finds_its_training_version_and_other_models_rows_are_left_out(
    hub: DataHub, now: datetime
) -> None:
    wine = wine_frame()
    training = commit_wine(hub)
    unrelated = hub.commit("store://demo/dataitem/table/labels", wine[[TARGET]]).version
    record_model(hub, model_record(MODEL_KEY, [unrelated.key, training.key]))
    hub.commit(
        REQUESTS,
        pa.concat_tables(
            [logged(wine, now), logged(shifted(wine), now, model="experimental", version="1")]
        ),
    )
    report = serving_drift(hub, REQUESTS, parse_window("1h"), model_key=MODEL_KEY, model="wine")
    assert report["reference"] == training.key
    assert report["window"]["rows"] == len(wine)
    assert report["status"] == "ok"
    everything = serving_drift(hub, REQUESTS, parse_window("1h"), model_key=MODEL_KEY)
    assert everything["status"] == "fail"


def test_an_empty_or_too_small_window_is_a_clear_error_and_nothing_is_stored(
    hub: DataHub, now: datetime
) -> None:
    training = commit_wine(hub)
    hub.commit(REQUESTS, logged(wine_frame(), now - timedelta(hours=3)))
    with pytest.raises(InvalidSourceError, match=r"logged 0 rows in .* fewer than the 100"):
        serving_drift(hub, REQUESTS, parse_window("1h"), reference=training.key)
    since = (now - timedelta(hours=4)).isoformat()
    with pytest.raises(InvalidSourceError, match=r"logged 178 rows .* fewer than the 500"):
        serving_drift(
            hub, REQUESTS, parse_window(since=since), reference=training.key, min_rows=500
        )
    with pytest.raises(InvalidSourceError, match="of model nope"):
        serving_drift(
            hub, REQUESTS, parse_window(since=since), reference=training.key, model="nope"
        )
    with hub.catalog.session() as session:
        assert session.scalars(select(DriftRecord)).first() is None


def test_inputs_the_training_data_lacks_are_refused(hub: DataHub, now: datetime) -> None:
    other = hub.commit("store://demo/dataitem/table/other", pa.table({"x": [1.0, 2.0]})).version
    hub.commit(REQUESTS, logged(wine_frame(), now))
    with pytest.raises(
        InvalidSourceError, match="is a column of store://demo/dataitem/table/other"
    ):
        serving_drift(hub, REQUESTS, parse_window("1h"), reference=other.key)
    with pytest.raises(InvalidOptionError, match="either the training dataset version or"):
        serving_drift(hub, REQUESTS, parse_window("1h"))


def test_a_service_is_checked_on_its_request_log_model_and_training_version(
    hub: DataHub, now: datetime, tmp_path: Any
) -> None:
    training = commit_wine(hub)
    record_model(hub, model_record(MODEL_KEY, [training.key]))
    spec = ServiceSpec("demo", "wine", "local", {"wine": MODEL_KEY}, request_log=REQUESTS)
    begin_deployment(hub, spec, already_pinned(spec.models))
    set_state(hub, spec, RUNNING, url="http://127.0.0.1:8080", pid=1)
    hub.commit(REQUESTS, logged(shifted(wine_frame()), now))
    tracking = embedded_tracking(tmp_path)
    report = service_drift(hub, tracking, SERVICE, parse_window("1h"))
    assert report["service"] == spec.key()
    assert (report["reference"], report["model_key"], report["model"]) == (
        training.key,
        MODEL_KEY,
        "wine",
    )
    assert report["status"] == "fail"
    silent = ServiceSpec("demo", "quiet", "local", {"wine": MODEL_KEY})
    begin_deployment(hub, silent, already_pinned(silent.models))
    with pytest.raises(InvalidSourceError, match="logs no requests"):
        service_drift(hub, tracking, "store://demo/service/local/quiet", parse_window("1h"))
    with pytest.raises(NotFoundError, match="serves no model 'iris'"):
        service_drift(hub, tracking, SERVICE, parse_window("1h"), model="iris")


def model_record(key: str, datasets: list[str]) -> ModelRecord:
    return ModelRecord(
        key=key,
        project="demo",
        name="wine-classifier",
        run_id="0123456789abcdef",
        experiment_id="1",
        tracking_uri="sqlite:///mlflow.db",
        model_uri="runs:/0123456789abcdef/model",
        entrypoint="digitalhub_airflow.training.estimators:train_estimator",
        code_digest="0" * 64,
        cache_key="0" * 64,
        params={},
        metrics={},
        datasets=datasets,
        target=TARGET,
        task="classification",
    )
