"""Runs made as ``make demo`` makes them show their task logs through Airflow's API.

``scripts/demo.sh`` runs each DAG with ``airflow dags test --use-executor``: the
LocalExecutor starts a process per task, which reports to the execution API of an
``airflow api-server`` and writes its log where the UI reads it. (Plain ``dags test`` runs
the tasks inside its own process and writes no task log, so the UI showed the demo's runs
with empty logs.) Here: the same settings, a run of the chain DAG, then the log of each
task read back as the UI reads it, through ``/api/v2/.../logs/1`` with a user's token.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Backend
from tests.e2e.conftest import (
    VENV_BIN,
    AirflowEnv,
    airflow_process,
    catalog_env,
    free_port,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RAW = "store://e2e/dataitem/table/raw"
SCALED = "store://e2e/dataitem/table/scaled"
TOTALS = "store://e2e/dataitem/table/totals"


def http(url: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture
def api_server(
    airflow: AirflowEnv, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], Backend]]:
    """An ``airflow api-server`` (UI, REST and execution API; no scheduler) and the
    environment the demo gives ``dags test --use-executor``."""
    home = tmp_path / "dhub"
    home.mkdir()
    backend = Backend("embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home), home)
    with backend.hub() as hub:
        hub.init()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"viewer": "viewer-pw"}), encoding="utf-8")
    port = free_port()
    env = airflow.env(
        {
            **catalog_env(backend),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-demo-logs-secret",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        }
    )
    log = tmp_path / "api-server.log"
    args = ["api-server", "--host", "127.0.0.1", "-p", str(port)]
    with airflow_process(args, env, log) as proc:
        wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health", proc, log)
        yield f"http://127.0.0.1:{port}", env, backend


def test_each_task_of_a_demo_style_run_has_its_log_in_the_ui(
    api_server: tuple[str, dict[str, str], Backend], tmp_path: Path
) -> None:
    url, env, backend = api_server
    source = tmp_path / "raw.csv"
    source.write_text("grp,value\na,1\nb,2\n")
    result = subprocess.run(
        [
            str(VENV_BIN / "airflow"),
            "dags",
            "test",
            "dhub_lineage_chain",
            "--use-executor",
            "-c",
            json.dumps({"source": str(source)}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    run_id = output.split("DagRun Finished: dag_id=dhub_lineage_chain, ", 1)[1]
    run_id = run_id.split("run_id=", 1)[1].split(",", 1)[0]

    token = http(f"{url}/auth/token", {"username": "viewer", "password": "viewer-pw"})
    run = urllib.parse.quote(run_id, safe="")
    with backend.hub() as hub:
        raw, scaled, totals = (hub.resolve(key).key for key in (RAW, SCALED, TOTALS))
    # What each operator said, in its own task's log (not only on the CLI's stdout).
    expected = {
        "commit_raw": f"committed v1: {raw}",
        "tag_raw": f"@checked -> {raw} (v1)",
        "scale": f"computed {scaled} (run ",
        "totals": f"computed {totals} (run ",
    }
    for task, said in expected.items():
        found = http(
            f"{url}/api/v2/dags/dhub_lineage_chain/dagRuns/{run}/taskInstances/{task}/logs/1",
            token=token["access_token"],
        )
        events = [str(line.get("event", "")) for line in found["content"]]
        assert any(event.startswith(said) for event in events), (task, events)
