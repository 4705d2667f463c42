"""The sampled request log: the table drift analysis reads (columns named by the model's
features), one version per flush, and failed commits that neither fail requests nor
lose rows."""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
import pytest

from digitalhub_airflow.datasets.reading import read_table
from digitalhub_airflow.errors import StoreError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.runtime.request_log import LoggedRequest, RequestLog, log_table

KEY = "store://demo/dataitem/table/requests"
NAMES = ["alcohol", "proline"]


def entry(rows: int = 2, names: list[str] | None = NAMES, predictions=None) -> LoggedRequest:
    features = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2)
    predictions = np.arange(rows) if predictions is None else predictions
    return LoggedRequest(1_700_000_000.5, "wine", "3", "r-1", names, features, predictions)


def record(log: RequestLog, rows: int = 2) -> None:
    e = entry(rows)
    log.record(
        model=e.model,
        model_version=e.model_version,
        request_id=e.request_id,
        feature_names=e.feature_names,
        features=e.features,
        predictions=e.predictions,
    )


def test_table_columns_follow_the_contract() -> None:
    table = log_table("svc", [entry()])
    assert table.column_names == [
        "ts", "service", "model", "model_version", "request_id", "alcohol", "proline", "prediction"
    ]  # fmt: skip
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("prediction").type == pa.float64()
    row = table.to_pylist()[1]
    assert row["service"] == "svc" and row["model_version"] == "3" and row["request_id"] == "r-1"
    assert (row["alcohol"], row["proline"], row["prediction"]) == (2.0, 3.0, 1.0)
    assert row["ts"].timestamp() == 1_700_000_000.5


def test_unnamed_features_multi_output_and_labels() -> None:
    unnamed = log_table("svc", [entry(names=None, predictions=np.array([[0.1, 0.9], [0.8, 0.2]]))])
    assert unnamed.column_names[5:] == ["input_0", "input_1", "prediction_0", "prediction_1"]
    labels = log_table("svc", [entry(predictions=np.array(["red", "white"], dtype=object))])
    assert labels.schema.field("prediction").type == pa.string()
    mixed = log_table("svc", [entry(), entry(predictions=np.array(["red", "white"], dtype=object))])
    assert mixed.column("prediction").to_pylist() == ["0", "1", "red", "white"]


def test_each_flush_commits_one_version_and_nothing_when_empty(ehub: DataHub) -> None:
    log = RequestLog(KEY, "svc", lambda: ehub, sample_rate=1.0)
    record(log, 2)
    record(log, 3)
    assert log.flush() == 5
    assert log.flush() == 0
    (version,) = ehub.log(KEY)
    assert version.row_count == 5
    assert read_table(ehub, version.key).column("proline").to_pylist()[:2] == [1.0, 3.0]


def test_sample_rate_zero_logs_nothing(ehub: DataHub) -> None:
    log = RequestLog(KEY, "svc", lambda: ehub, sample_rate=0.0)
    for _ in range(50):
        record(log)
    assert log.flush() == 0


def test_the_background_flusher_commits_when_enough_rows_wait(ehub: DataHub) -> None:
    log = RequestLog(KEY, "svc", lambda: ehub, sample_rate=1.0, flush_rows=4, flush_seconds=3600)
    log.start()
    try:
        record(log, 4)
        deadline = time.monotonic() + 30
        while not log.committed_versions and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(log.committed_versions) == 1
    finally:
        log._hub = None  # the test owns the hub
        log.close()
    assert [v.row_count for v in ehub.log(KEY)] == [4]


def test_a_failed_commit_is_logged_and_its_rows_go_out_with_the_next_flush(
    ehub: DataHub, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = []

    def flaky_hub() -> DataHub:
        attempts.append(1)
        if len(attempts) == 1:
            raise StoreError("store unreachable")
        return ehub

    log = RequestLog(KEY, "svc", flaky_hub, sample_rate=1.0)
    record(log, 2)
    with caplog.at_level(logging.ERROR, "digitalhub_airflow.serving.runtime.request_log"):
        assert log.flush() == 0
    assert "committing 1 requests to store://demo/dataitem/table/requests failed" in caplog.text
    record(log, 3)  # requests keep being recorded meanwhile
    assert log.flush() == 5
    assert [v.row_count for v in ehub.log(KEY)] == [5]


def test_retained_rows_are_bounded(ehub: DataHub) -> None:
    def broken() -> DataHub:
        raise StoreError("store unreachable")

    log = RequestLog(KEY, "svc", broken, sample_rate=1.0, flush_rows=2)
    for _ in range(30):
        record(log, 2)
        log.flush()
    assert log._pending_rows <= 10 * 2  # MAX_PENDING_FLUSHES x flush_rows
