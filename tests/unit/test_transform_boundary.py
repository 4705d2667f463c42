"""A DAG's transform runs as the pipeline, with no grants of its own: reading another
project than the one it writes needs that project's read grant to the output's project
(``project:<name>``). Without it the task is refused before anything is recorded; with
it the read is in lineage like any other input."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from digitalhub_airflow.access import grant
from digitalhub_airflow.errors import PermissionDeniedError
from digitalhub_airflow.lineage.graph import lineage_graph
from tests.unit.dhub_testlib import Snapshot, make_hub, write

SECRET = "store://other/dataitem/table/secret"
TASK = SimpleNamespace(
    dag_id="etl", task_id="join", run_id="manual__2026-01-01", try_number=1, map_index=-1
)


def run_sql_transform(home: Path) -> dict[str, object]:
    from digitalhub_airflow.operators.transform import SqlTransformOperator

    env = {
        "DHUB_HOME": str(home),
        "DHUB_CATALOG_URL": f"sqlite:///{home / 'c.sqlite'}",
        "DHUB_STORE_URL": str(home / "store"),
    }
    op = SqlTransformOperator(
        task_id="join", query=f"SELECT pin FROM ds('{SECRET}')", target="demo/copied"
    )
    with mock.patch.dict(os.environ, env):
        outlet_events = defaultdict(lambda: SimpleNamespace(extra={}))  # Airflow's accessors
        result: dict[str, object] = op.perform({"ti": TASK, "outlet_events": outlet_events})
    return result


def test_a_transform_reads_another_project_only_with_a_grant(tmp_path: Path) -> None:
    home = tmp_path / "hub"
    with make_hub(home) as hub:
        hub.commit(SECRET, write(tmp_path / "s.csv", "pin\n1234\n"))
    before = Snapshot.of(home / "c.sqlite", home / "store")
    refused = r"project 'demo'.*may not read project 'other'"
    with pytest.raises(PermissionDeniedError, match=refused):
        run_sql_transform(home)
    assert Snapshot.of(home / "c.sqlite", home / "store") == before

    with make_hub(home) as hub:
        grant(hub.catalog, "other", "project:demo", "read", by="tests")
    result = run_sql_transform(home)
    with make_hub(home) as hub:
        output = hub.resolve("demo/copied")
        assert hub.read_table(output.key).to_pydict() == {"pin": [1234]}
        upstream = lineage_graph(hub, output.key, "upstream", 2).to_json()
    assert result["output"]["key"] == output.key  # type: ignore[index]
    assert any(node["key"].startswith(SECRET) for node in upstream["nodes"])
