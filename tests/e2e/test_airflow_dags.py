"""The suite inside real Airflow: `airflow dags test` on each backend, Asset scheduling
with a real scheduler, deferrable sensors, and the provider/plugin registration."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.settings import Settings
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env, scheduler

pytestmark = pytest.mark.e2e
WINE = "store://demo/dataitem/table/wine"


def airflow_db(airflow: AirflowEnv) -> sqlite3.Connection:
    return sqlite3.connect(airflow.home / "airflow.db")


def test_ingest_dag_commits_versions_with_producer_and_asset_events(
    airflow: AirflowEnv, backend: Backend, hub
) -> None:
    env = catalog_env(backend)
    airflow.run("dags", "test", "dhub_ingest_wine", env=env)

    versions = hub.log(WINE)
    assert [v.seq for v in versions] == [2, 1]
    v2, v1 = versions
    assert v1.row_count == 178 and v2.row_count == 178
    added = {c["name"] for c in v2.schema} - {c["name"] for c in v1.schema}
    assert added == {"alcohol_band"}
    assert v2.parent == f"{WINE}:v1"
    assert v1.producer["dag_id"] == "dhub_ingest_wine"
    assert v1.producer["task_id"] == "load_wine"
    assert v2.producer["task_id"] == "add_alcohol_band"
    assert v1.producer["try_number"] == 1
    assert v1.producer["run_id"] == v2.producer["run_id"]

    with airflow_db(airflow) as db:
        rows = db.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? AND e.source_run_id = ? ORDER BY e.id",
            (WINE, v1.producer["run_id"]),
        ).fetchall()
    extras = [json.loads(r[0]) for r in rows]
    assert [e["version_key"] for e in extras] == [v1.key, v2.key]
    assert [e["seq"] for e in extras] == [1, 2]
    assert extras[1]["rows"] == 178 and extras[1]["schema_digest"] == v2.schema_digest

    # A second run commits nothing new: the same ids come back.
    airflow.run("dags", "test", "dhub_ingest_wine", env=env)
    assert [v.key for v in hub.log(WINE)] == [v2.key, v1.key]


def test_failing_commit_task_fails_the_run_and_commits_nothing(
    airflow: AirflowEnv, backend: Backend, hub, tmp_path: Path
) -> None:
    env = {**catalog_env(backend), "DHUB_TEST_SOURCE": str(tmp_path / "missing.csv")}
    result = airflow.run("dags", "test", "dhub_wait_for_version", env=env, check=False)
    assert result.returncode != 0
    assert "does not exist" in result.stdout + result.stderr
    from digitalhub_airflow.errors import NotFoundError

    with pytest.raises(NotFoundError):
        hub.log("store://demo/dataitem/table/events")


def test_sensors_defer_and_poke_until_a_version_exists(
    airflow: AirflowEnv, backend: Backend, hub, csv_file: Path
) -> None:
    env = {**catalog_env(backend), "DHUB_TEST_SOURCE": str(csv_file)}
    result = airflow.run(
        "dags", "test", "dhub_wait_for_version", "-c", json.dumps({"alias": "nightly"}), env=env
    )
    out = result.stdout + result.stderr
    assert "DEFERRED" in out or "deferred" in out.lower()
    info = hub.resolve("store://demo/dataitem/table/events@checked")
    assert info.seq == 1 and info.row_count == 3
    # The target was templated: the Asset event still names the dataset and the version.
    with airflow_db(airflow) as db:
        rows = db.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? AND e.source_task_id = 'commit'",
            ("store://demo/dataitem/table/events",),
        ).fetchall()
    assert info.key in [json.loads(r[0])["version_key"] for r in rows]
    assert hub.resolve("store://demo/dataitem/table/events@nightly").key == info.key
    assert info.message.startswith("run manual__")


@pytest.mark.timeout(300)
def test_asset_scheduled_dag_runs_on_each_new_version(airflow: AirflowEnv, tmp_path: Path) -> None:
    """A real scheduler + API server: committing a version triggers the consumer DAG."""
    home = tmp_path / "dhub"
    out = tmp_path / "out"
    out.mkdir()
    env = {"DHUB_HOME": str(home), "DHUB_TEST_OUT": str(out)}
    for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA"):
        env[name] = ""
    airflow.run("dags", "reserialize", env=env)
    airflow.run("dags", "unpause", "dhub_on_new_wine", env=env)
    airflow.run("dags", "test", "dhub_ingest_wine", env=env)

    logs = tmp_path / "logs"
    # Both in their own process groups, stopped whole: the scheduler's log server too.
    with scheduler(airflow, env, logs):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not list(out.glob("*.json")):
            time.sleep(2)
        files = list(out.glob("*.json"))
    assert files, (
        "the Asset-scheduled DAG did not run:\n" + (logs / "scheduler.log").read_text()[-3000:]
    )
    extras = [e for f in files for e in json.loads(f.read_text())]
    with DataHub.from_settings(load_settings_for(home)) as hub:
        committed = {v.key: v.seq for v in hub.log(WINE)}
    assert extras, "the consumer ran without triggering events"
    for extra in extras:
        assert committed[extra["version_key"]] == extra["seq"]


def load_settings_for(home: Path) -> Settings:
    return Settings(f"sqlite:///{home / 'catalog.sqlite'}", str(home / "store"), home)


def test_provider_and_plugin_are_registered(airflow: AirflowEnv) -> None:
    providers = airflow.run("providers", "list", "-o", "json").stdout
    assert any(p["package_name"] == "digitalhub-airflow" for p in json.loads(providers))
    plugins = json.loads(airflow.run("plugins", "-o", "json").stdout)
    plugin = next(p for p in plugins if p["name"] == "digitalhub")
    assert "digitalhub_airflow.plugins.plugin.dhub_version" in json.dumps(plugin)
