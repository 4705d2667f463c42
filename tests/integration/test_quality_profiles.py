"""Profiles, drift and suggested suites on both backends, and the ``dhub`` quality
commands end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from digitalhub_airflow.errors import (
    DriftError,
    QuarantinedError,
    SuiteError,
    ValidationFailedError,
)
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.drift import Thresholds, compare_versions, raise_for_drift
from digitalhub_airflow.quality.profiles import ol_metrics, profile_dataset, stored_profile
from digitalhub_airflow.quality.suggest import suggest_suite, write_suite
from digitalhub_airflow.quality.validate import validate_dataset

from .conftest import Dhub

DATASET = "store://demo/dataitem/table/sensors"


def readings(seed: int, n: int = 2000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temperature = rng.normal(20 + shift, 3, n)
    temperature[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "sensor": np.arange(n),
            "temperature": temperature,
            "site": rng.choice(["Povo", "Mattarello", "Città"], n, p=[0.5, 0.3, 0.2]),
            "at": pd.Timestamp("2024-06-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
        }
    )


def test_the_profile_is_stored_with_the_version(hub: DataHub) -> None:
    frame = readings(1)
    version = hub.commit(DATASET, frame).version
    assert stored_profile(hub, version.key) is None
    info, _ = profile_dataset(hub, version.key)
    assert info.key == version.key
    stored = stored_profile(hub, version.key)
    assert stored is not None
    temperature = next(c for c in stored["columns"] if c["name"] == "temperature")
    assert temperature["nulls"] == int(frame["temperature"].isna().sum())
    assert temperature["mean"] == pytest.approx(frame["temperature"].mean(), rel=1e-12)
    assert sum(temperature["histogram"]["counts"]) == frame["temperature"].notna().sum()
    at = next(c for c in stored["columns"] if c["name"] == "at")
    assert at["kind"] == "temporal" and at["min"].startswith("2024-06-01")
    # Stored once: asking again returns the stored one.
    assert profile_dataset(hub, version.key)[1]["created_at"] == stored["created_at"]
    metrics = ol_metrics(stored, info.size_bytes)
    assert metrics["rowCount"] == len(frame)
    assert metrics["columnMetrics"]["temperature"]["nullCount"] == temperature["nulls"]
    assert metrics["columnMetrics"]["site"]["distinctCount"] == 3
    assert set(metrics["columnMetrics"]["temperature"]["quantiles"]) == {
        "0.05",
        "0.25",
        "0.5",
        "0.75",
        "0.95",
    }


def test_drift_is_ok_for_the_same_distribution_and_fails_for_a_shift(hub: DataHub) -> None:
    v1 = hub.commit(DATASET, readings(1)).version
    v2 = hub.commit(DATASET, readings(2)).version
    same = compare_versions(hub, v1.key, v2.key)
    assert same["status"] == "ok", same["columns"]
    shifted = readings(3, shift=6.0)
    shifted["site"] = "Povo"
    v3 = hub.commit(DATASET, shifted.drop(columns=["sensor"])).version
    report = compare_versions(hub, v1.key, v3.key)
    by_name = {c["name"]: c for c in report["columns"]}
    assert by_name["temperature"]["metric"] == "psi" and by_name["temperature"]["status"] == "fail"
    assert by_name["site"]["metric"] == "js_distance" and by_name["site"]["status"] == "fail"
    assert by_name["at"]["status"] == "ok"
    assert report["schema"]["removed"] == [{"name": "sensor", "type": "int64"}]
    assert report["checks"]["schema"] == "warn"
    with pytest.raises(DriftError) as caught:
        raise_for_drift(report)
    assert sorted(caught.value.columns) == ["site", "temperature"]
    lenient = compare_versions(
        hub,
        v1.key,
        v3.key,
        Thresholds(psi_fail=None, js_fail=None, out_of_range_fail=None, schema_change="ok"),
    )
    assert lenient["status"] == "warn"


def test_a_row_count_change_is_graded(hub: DataHub) -> None:
    v1 = hub.commit(DATASET, readings(1, n=1000)).version
    v2 = hub.commit(DATASET, readings(1, n=3000)).version
    report = compare_versions(hub, v1.key, v2.key, Thresholds(row_change_fail=1.0))
    assert report["row_count"] == {"reference": 1000, "current": 3000, "change": 2.0}
    assert report["checks"]["row_count"] == "fail"


def test_a_suggested_suite_passes_on_its_version_and_catches_a_broken_one(
    hub: DataHub, tmp_path: Path
) -> None:
    frame = readings(1)
    v1 = hub.commit(DATASET, frame).version
    path = write_suite(suggest_suite(hub, v1.key), tmp_path / "sensors.json")
    content = json.loads(path.read_text("utf-8"))
    types = {e["type"] for e in content["expectations"]}
    assert {
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    } <= types
    assert validate_dataset(hub, v1.key, path).success
    broken = frame.copy()
    broken.loc[0, "site"] = "Rovereto"
    broken.loc[1, "sensor"] = -5
    v2 = hub.commit(DATASET, broken).version
    with pytest.raises(ValidationFailedError) as caught:
        validate_dataset(hub, v2.key, path).raise_for_failure()
    columns = {f["column"] for f in caught.value.failures}
    assert {"site", "sensor"} <= columns


def test_dhub_quality_commands(dhub: Dhub, tmp_path: Path) -> None:
    good, broken = tmp_path / "good.csv", tmp_path / "broken.csv"
    readings(1, n=300).to_csv(good, index=False)
    frame = readings(1, n=300)
    frame.loc[::10, "temperature"] = 99.0
    frame.to_csv(broken, index=False)
    dhub.ok("init")
    dhub.ok("commit", "demo/sensors", str(good))
    suite = tmp_path / "sensors.json"
    written = dhub.json("suggest-suite", "demo/sensors", "-o", str(suite))
    assert written["path"] == str(suite) and suite.exists()
    refused = dhub.run("suggest-suite", "demo/sensors", "-o", str(suite))
    assert refused.returncode != 0 and "exists" in refused.stderr
    passed = dhub.json("validate", "demo/sensors", "--suite", str(suite))
    assert passed["success"] and passed["state"] == "passed"
    dhub.ok("commit", "demo/sensors", str(broken))
    failed = dhub.run("validate", "demo/sensors:v2", "--suite", str(suite))
    assert failed.returncode == ValidationFailedError.exit_code
    assert "FAILED" in failed.stdout and "on column 'temperature'" in failed.stdout
    held = dhub.run(
        "validate", "demo/sensors:v2", "--suite", str(suite), "--on-failure", "quarantine"
    )
    assert held.returncode == QuarantinedError.exit_code, held.stderr
    # The check already ran on this version: its stored result decides the new state.
    assert "quarantined; stored result reused" in held.stdout
    log = dhub.json("log", "demo/sensors")
    assert [v["quality"] for v in log] == ["quarantined", "passed"]
    assert dhub.json("show", "demo/sensors")["seq"] == 1
    results = dhub.json("results", "demo/sensors:v2")
    assert [r["success"] for r in results] == [False]
    assert results[0]["failed_expectations"][0]["column"] == "temperature"
    released = dhub.json("release", "demo/sensors:v2", "-m", "sensor recalibrated")
    assert released["quality"] == "released"
    assert dhub.json("show", "demo/sensors")["seq"] == 2
    profile = dhub.json("profile", "demo/sensors:v1")
    assert profile["row_count"] == 300
    assert "temperature" in dhub.ok("profile", "demo/sensors:v1").stdout
    drift = dhub.run("drift", "demo/sensors:v1", "demo/sensors:v2", "--json")
    assert drift.returncode == DriftError.exit_code, drift.stderr
    assert json.loads(drift.stdout)["status"] == "fail"
    temperature = next(c for c in json.loads(drift.stdout)["columns"] if c["name"] == "temperature")
    assert temperature["out_of_range"]["count"] == 30  # the 99.0 written into every 10th row
    lenient = dhub.json(
        "drift", "demo/sensors:v1", "demo/sensors:v2", "--psi-fail", "off",
        "--out-of-range-fail", "off",
    )  # fmt: skip
    assert lenient["status"] == "warn"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nexpectations: [{type: expect_nothing}]\n", "utf-8")
    refused = dhub.run("validate", "demo/sensors:v1", "--suite", str(bad))
    assert refused.returncode == SuiteError.exit_code
    assert str(bad) in refused.stderr and "expect_nothing" in refused.stderr
