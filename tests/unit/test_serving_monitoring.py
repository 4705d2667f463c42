"""Service statistics parsed from real prometheus_client output, and drift windows.

The metrics are the server's own (``ServingMetrics``, rendered by prometheus_client after
a known sequence of requests); the expected quantiles are worked out by hand from the
bucket bounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from digitalhub_airflow.errors import InvalidOptionError, InvalidSourceError
from digitalhub_airflow.serving.monitoring.drift import feature_columns, parse_window
from digitalhub_airflow.serving.monitoring.stats import histogram_quantile, parse_metrics
from digitalhub_airflow.serving.runtime.metrics import (
    UNKNOWN_MODEL,
    WORKERS_DIR_ENV,
    ServingMetrics,
)


def server_metrics() -> str:
    """The exposition text of the server's own metrics after a known sequence of requests."""
    metrics = ServingMetrics()
    # wine: 50 answers in 2 ms and 42 in 30 ms over v2, 3 refused in 30 ms; over
    # /invocations 4 answers and 1 refused, all slow (400 ms).
    for seconds, protocol, status, count in (
        (0.002, "v2", 200, 50),
        (0.03, "v2", 200, 42),
        (0.03, "v2", 400, 3),
        (0.4, "mlflow", 200, 4),
        (0.4, "mlflow", 413, 1),
    ):
        for _ in range(count):
            metrics.observe("wine", protocol, status, seconds, rows=10 if status == 200 else 0)
    for reason, count in (("bad_shape", 3), ("too_large", 1)):
        for _ in range(count):
            metrics.error("wine", reason)
    metrics.observe(UNKNOWN_MODEL, "v2", 404, 0.0004)
    return metrics.render()[0].decode()


def test_statistics_per_model_from_a_servers_metrics() -> None:
    stats = parse_metrics(server_metrics())
    wine = stats["models"]["wine"]
    assert wine["requests"] == 100
    assert wine["errors"] == 4 and wine["error_rate"] == pytest.approx(0.04)
    assert wine["statuses"] == {"200": 96, "400": 3, "413": 1}
    assert wine["protocols"] == {"mlflow": 5, "v2": 95}
    assert wine["error_reasons"] == {"bad_shape": 3, "too_large": 1}
    assert wine["predictions"] == 960
    latency = wine["latency_seconds"]
    assert latency["count"] == 100
    assert latency["mean"] == pytest.approx((50 * 0.002 + 45 * 0.03 + 5 * 0.4) / 100)
    # Ranks 50, 95, 99 of 100, each interpolated in the bucket that holds it (bounds
    # ... 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5 ...): rank 50 fills
    # (0.001, 0.0025]; 95 fills (0.025, 0.05]; 99 is 4 of the 5 in (0.25, 0.5].
    assert latency["p50"] == pytest.approx(0.0025)
    assert latency["p95"] == pytest.approx(0.05)
    assert latency["p99"] == pytest.approx(0.25 + 0.25 * 4 / 5)
    unknown = stats["models"][UNKNOWN_MODEL]
    assert (unknown["requests"], unknown["errors"], unknown["predictions"]) == (1, 1, 0)
    assert unknown["latency_seconds"]["p99"] == pytest.approx(0.0005 * 0.99)
    total = stats["total"]
    assert (total["requests"], total["errors"]) == (101, 5)
    assert total["latency_seconds"]["count"] == 101


def test_a_served_model_never_asked_has_no_latency() -> None:
    metrics = ServingMetrics()
    metrics.observe("wine", "v2", 200, 0.01, rows=1)
    metrics.latency.labels("iris", "v2")  # a child exists before any request
    iris = parse_metrics(metrics.render()[0].decode())["models"]["iris"]
    assert iris["requests"] == 0 and iris["error_rate"] is None
    assert iris["latency_seconds"] == {
        "count": 0,
        "mean": None,
        "p50": None,
        "p95": None,
        "p99": None,
    }


def test_quantiles_follow_prometheus_histogram_quantile() -> None:
    inf = float("inf")
    # All observations in the first bucket: interpolated from zero.
    assert histogram_quantile(0.5, {0.1: 10, 1.0: 10, inf: 10}) == pytest.approx(0.05)
    # A rank past the highest finite bound: that bound, not infinity.
    assert histogram_quantile(0.99, {0.1: 1, 1.0: 2, inf: 100}) == 1.0
    assert histogram_quantile(0.5, {0.1: 0, inf: 0}) is None
    assert histogram_quantile(0.5, {}) is None


def test_text_that_is_not_prometheus_is_refused() -> None:
    with pytest.raises(InvalidSourceError, match="not Prometheus metrics text"):
        parse_metrics('dhub_serving_requests_total{model="wine" 3\n')


def test_windows_from_a_duration_or_a_start() -> None:
    until = "2026-11-25T12:00:00Z"
    window = parse_window("6h", until=until)
    assert window.since == datetime(2026, 11, 25, 6, tzinfo=timezone.utc)
    assert str(window) == "2026-11-25T06:00:00Z/2026-11-25T12:00:00Z"
    naive = parse_window(since="2026-11-25T11:30:00", until=until)
    assert naive.since == datetime(2026, 11, 25, 11, 30, tzinfo=timezone.utc)
    assert parse_window("2d", until=until).since.day == 23
    other_zone = parse_window(since="2026-11-25T12:30:00+02:00", until=until)
    assert other_zone.since == datetime(2026, 11, 25, 10, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("window", "since", "message"),
    [
        (None, None, "either a window"),
        ("6h", "2026-11-25T00:00:00Z", "either a window"),
        ("6 hours", None, "positive duration"),
        ("0h", None, "positive duration"),
        (None, "yesterday", "ISO 8601"),
        (None, "2026-11-25T13:00:00Z", "not before"),
    ],
)
def test_bad_windows_are_refused(window: str | None, since: str | None, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        parse_window(window, since=since, until="2026-11-25T12:00:00Z")


def test_only_model_inputs_are_features() -> None:
    import pyarrow as pa

    schema = pa.schema(
        [(name, pa.string()) for name in ("ts", "service", "model", "model_version")]
        + [("request_id", pa.string()), ("alcohol", pa.float64()), ("input_1", pa.float64())]
        + [("prediction_0", pa.float64()), ("prediction", pa.float64())]
    )
    assert feature_columns(schema) == ["alcohol", "input_1"]


def test_the_monitoring_operators_template_what_a_dag_varies() -> None:
    from airflow.sdk import DAG

    from digitalhub_airflow.operators.monitoring import DriftReportOperator, ServiceStatsOperator

    with DAG("m", schedule=None):
        drift = DriftReportOperator(
            task_id="drift",
            service="store://demo/service/local/wine",
            since="{{ data_interval_start }}",
            thresholds={"psi_fail": 0.5},
            on_drift="warn",
        )
        stats = ServiceStatsOperator(task_id="stats", service="{{ params.service }}")
    for op in (drift, stats):
        for field in op.template_fields:
            assert hasattr(op, field), f"{type(op).__name__}.{field}"
    assert {"service", "requests", "window", "since", "until", "reference", "on_drift"} <= set(
        drift.template_fields
    )
    assert stats.template_fields == ("service",)


def test_a_failing_report_fails_the_task_or_only_warns() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from digitalhub_airflow.operators.quality import check_on_drift, settle_drift

    report = {
        "reference": "store://demo/dataitem/table/wine-features:v1",
        "current": "store://demo/dataitem/table/wine-requests "
        "2026-11-25T06:00:00Z/2026-11-25T07:00:00Z",
        "status": "fail",
        "checks": {"schema": "ok"},
        "columns": [
            {"name": "alcohol", "metric": "psi", "value": 3.2, "status": "fail"},
            {"name": "hue", "metric": "psi", "value": 0.01, "status": "ok"},
        ],
    }
    with pytest.raises(AirflowFailException, match=r"wine-requests .*: alcohol psi=3\.200"):
        settle_drift(report, "fail")
    settle_drift(report, "warn")  # logged, not raised
    settle_drift({**report, "status": "warn"}, "fail")  # a warning never fails the task
    with pytest.raises(InvalidOptionError, match="on_drift must be fail or warn"):
        check_on_drift("ignore")


def test_the_serving_dag_always_undeploys_and_reports_only_on_a_full_run() -> None:
    import runpy

    from tests.unit.dhub_testlib import REPO

    dag = runpy.run_path(str(REPO / "dags" / "dhub_serving_wine.py"))["dhub_serving_wine"]()
    tasks = dag.task_dict
    assert tasks["undeploy"].trigger_rule == "all_done"  # no server outlives a failed run
    assert tasks["drift_report"].upstream_task_ids == {"service_stats", "undeploy"}
    assert tasks["drift_report"].trigger_rule == "all_success"
    assert tasks["send_requests"].upstream_task_ids == {"deploy"}


def test_statistics_of_several_workers_are_their_sum(tmp_path: Path) -> None:
    """With ``--workers N`` each process writes its own values and /metrics merges them
    (prometheus_client's multiprocess mode): two worker processes here, one reader."""
    worker = """
import sys
from digitalhub_airflow.serving.runtime.metrics import ServingMetrics
metrics = ServingMetrics()
for _ in range(int(sys.argv[1])):
    metrics.observe("wine", "v2", 200, 0.003, rows=2)
metrics.observe("wine", "v2", 400, 0.02)
"""
    reader = """
from digitalhub_airflow.serving.runtime.metrics import ServingMetrics
print(ServingMetrics().render()[0].decode())
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), WORKERS_DIR_ENV: str(tmp_path)}
    for count in ("5", "7"):
        subprocess.run([sys.executable, "-c", worker, count], env=env, check=True, timeout=60)
    text = subprocess.run(
        [sys.executable, "-c", reader], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    wine = parse_metrics(text)["models"]["wine"]
    assert wine["statuses"] == {"200": 12, "400": 2}
    assert (wine["requests"], wine["errors"], wine["predictions"]) == (14, 2, 24)
    latency = wine["latency_seconds"]
    assert latency["count"] == 14
    # Rank 7 of 14 lies among the twelve in (0.0025, 0.005]: interpolated 7/12 of the way.
    assert latency["p50"] == pytest.approx(0.0025 + 0.0025 * 7 / 12)


def test_a_library_setting_the_multiprocess_folder_leaves_one_server_counting(
    tmp_path: Path,
) -> None:
    """Feast sets ``PROMETHEUS_MULTIPROC_DIR`` for itself when imported (MLflow imports it
    through a plugin): a one-worker server's /metrics still shows its own counts."""
    code = """
import feast.metrics  # sets PROMETHEUS_MULTIPROC_DIR in this process, as a model load does
import os
from digitalhub_airflow.serving.runtime.metrics import ServingMetrics
assert os.environ["PROMETHEUS_MULTIPROC_DIR"]
metrics = ServingMetrics()
metrics.observe("wine", "v2", 200, 0.003, rows=2)
print(metrics.render()[0].decode())
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "DHUB_SERV"))}
    text = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, timeout=120, capture_output=True
    ).stdout.decode()
    assert parse_metrics(text)["models"]["wine"]["requests"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_drift": "ignore"}, "on_drift must be fail or warn"),
        ({"requests": "demo/wine-requests"}, "either service= or requests="),
        ({"model_key": "store://demo/model/mlflow/wine:0a1b"}, "not model_key="),
        ({"thresholds": {"psi_fial": 0.3}}, "unknown threshold.s. psi_fial; known: psi_warn"),
        ({"window": "6 hours"}, "positive duration such as 30m"),
    ],
)
def test_a_drift_task_with_bad_options_fails_before_reading_anything(
    options: dict[str, object], message: str
) -> None:
    from digitalhub_airflow.operators.monitoring import DriftReportOperator

    fields = {"service": "store://demo/service/local/wine", "window": "1h", **options}
    operator = DriftReportOperator(task_id="drift", **fields)
    with pytest.raises(InvalidOptionError, match=message):
        operator.execute(None)
