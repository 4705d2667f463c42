"""The quality DAG inside real Airflow (`airflow dags test`) on both backends: a good
version passes, a broken one is quarantined (its validation task skipped) or, with
``on_failure="fail"``, fails the run with a readable report."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import func, select

from digitalhub_airflow.catalog.models import DriftRecord
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.profiles import stored_profile
from digitalhub_airflow.quality.results import stored_results
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env

pytestmark = pytest.mark.e2e
WINE = "store://demo/dataitem/table/wine"


def commit_good_and_broken(hub: DataHub) -> tuple[str, str]:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    good = hub.commit(WINE, frame).version.key
    broken = frame.copy()
    broken.loc[broken.index[:4], "alcohol"] = None
    broken.loc[broken.index[4], "target"] = 9
    return good, hub.commit(WINE, broken).version.key


def task_states(airflow: AirflowEnv, dag_id: str) -> dict[tuple[str, int], str]:
    with sqlite3.connect(airflow.home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? "
            "AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
            (dag_id, dag_id),
        ).fetchall()
    return {(task, index): state for task, index, state in rows}


def test_the_quality_dag_passes_a_good_version_and_quarantines_a_broken_one(
    airflow: AirflowEnv, backend: Backend, hub: DataHub
) -> None:
    good, broken = commit_good_and_broken(hub)
    conf = json.dumps({"versions": [good, broken]})
    airflow.run("dags", "test", "dhub_quality_wine", "--conf", conf, env=catalog_env(backend))

    states = task_states(airflow, "dhub_quality_wine")
    assert states[("validate", 0)] == "success"
    assert states[("validate", 1)] == "skipped"
    assert states[("profile", 0)] == states[("profile", 1)] == "success"
    assert states[("drift", 0)] == "success"  # the broken version against its parent

    assert hub.resolve(good).quality == "passed"
    assert hub.resolve(broken).quality == "quarantined"
    assert hub.resolve(WINE).key == good  # latest skips the quarantined version
    [result] = stored_results(hub, broken)
    failed = {(f["expectation"], f["column"]) for f in result["failed_expectations"]}
    assert failed == {
        ("expect_column_values_to_not_be_null", "alcohol"),
        ("expect_column_values_to_be_in_set", "target"),
    }
    assert result["suite"].startswith("store://demo/suite/gx/wine:")
    for key in (good, broken):
        profile = stored_profile(hub, key)
        assert profile is not None and profile["row_count"] == 178
    with hub.catalog.session() as session:
        assert session.scalar(select(func.count()).select_from(DriftRecord)) == 1


def test_on_failure_fail_fails_the_run_with_a_readable_report(
    airflow: AirflowEnv, backend: Backend, hub: DataHub
) -> None:
    _, broken = commit_good_and_broken(hub)
    conf = json.dumps({"version": broken})
    run = airflow.run(
        "dags", "test", "dhub_quality_strict", "--conf", conf, env=catalog_env(backend), check=False
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "expect_column_values_to_be_in_set on column 'target'" in output
    assert "e.g. [9]" in output
    assert task_states(airflow, "dhub_quality_strict")[("validate", -1)] == "failed"
    assert hub.resolve(broken).quality == "failed"
