"""The plugin's place in Airflow: the /dhub app, the Catalog views, the operator link,
and the lineage drawing's layout."""

from __future__ import annotations

from types import SimpleNamespace

from digitalhub_airflow.datasets.versions import VersionInfo
from digitalhub_airflow.plugins import graph_layout
from digitalhub_airflow.provider.links import CatalogVersionsLink


def test_airflow_loads_the_app_under_dhub_and_the_catalog_views() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    ours = [a for a in apps if a["url_prefix"] == "/dhub"]
    assert len(ours) == 1 and ours[0]["name"] == "DigitalHub catalog"
    views, _ = plugins_manager._get_ui_plugins()
    by_destination = {v["destination"]: v["href"] for v in views if v["href"].startswith("/dhub")}
    assert by_destination["nav"] == "/dhub/ui/"
    assert (
        "{RUN_ID}" in by_destination["dag_run"] and "{TASK_ID}" in by_destination["task_instance"]
    )


def _info(key: str) -> VersionInfo:
    from datetime import datetime, timezone

    dataset, version_id = key.rsplit(":", 1)
    return VersionInfo(
        key=key,
        dataset=dataset,
        version_id=version_id,
        short_id=version_id[:12],
        seq=1,
        kind="table",
        format="csv",
        schema=None,
        schema_digest=None,
        row_count=1,
        size_bytes=1,
        file_count=1,
        parent=None,
        message="",
        producer=None,
        created_by="me",
        created_at=datetime.now(timezone.utc),
    )


def test_operator_link_opens_the_version_written_or_the_task_s_versions() -> None:
    from digitalhub_airflow.operators import CommitDatasetOperator

    op = CommitDatasetOperator(task_id="c", target="demo/wine", source="x.csv")
    [link] = [lk for lk in op.operator_extra_links if isinstance(lk, CatalogVersionsLink)]
    ti_key = SimpleNamespace(
        dag_id="ingest", run_id="manual__2026-01-01T00:00:00+00:00", task_id="c"
    )
    assert link.get_link(op, ti_key=ti_key) == (
        "/dhub/ui/produced?dag_id=ingest&run_id=manual__2026-01-01T00%3A00%3A00%2B00%3A00&task_id=c"
    )
    op.task_io.wrote(_info("store://demo/dataitem/table/wine:0123456789abcdef"))
    assert link.get_link(op, ti_key=ti_key) == (
        "/dhub/ui/datasets/demo/table/wine/versions/0123456789abcdef"
    )


def test_lineage_layout_puts_inputs_left_and_outputs_right() -> None:
    root, run, upstream, run2, down = (
        "store://p/dataitem/table/b:aaaaaaaa",
        "store://p/run/airflow/make-b:bbbbbbbb",
        "store://p/dataitem/table/a:cccccccc",
        "store://p/run/airflow/make-c:dddddddd",
        "store://p/dataitem/table/c:eeeeeeee",
    )
    graph = {
        "root": root,
        "nodes": [
            {"key": root, "type": "dataitem", "label": "b v1", "distance": 0},
            {"key": run, "type": "run", "label": "make-b", "distance": 1},
            {"key": upstream, "type": "dataitem", "label": "a v1", "distance": 2},
            {"key": run2, "type": "run", "label": "make-c", "distance": 1},
            {"key": down, "type": "dataitem", "label": "c v1", "distance": 2},
        ],
        "edges": [
            {"source": root, "relation": "produced_by", "target": run, "direction": "upstream"},
            {"source": run, "relation": "consumes", "target": upstream, "direction": "upstream"},
            {"source": run2, "relation": "consumes", "target": root, "direction": "downstream"},
            {"source": down, "relation": "produced_by", "target": run2, "direction": "downstream"},
        ],
    }
    drawing = graph_layout.layout(graph, lambda n: f"/x/{n['label']}")
    x = {n.key: n.x for n in drawing.nodes}
    assert x[upstream] < x[run] < x[root] < x[run2] < x[down]
    assert [n.key for n in drawing.nodes if n.root] == [root]
    assert len(drawing.paths) == 4
    # Every edge is drawn from the data's source (left) to where it went (right).
    for path in drawing.paths:
        start, end = path.removeprefix("M").split(" C")[0], path.rsplit(" ", 1)[1]
        assert float(start.split(",")[0]) < float(end.split(",")[0])
    assert drawing.width >= max(x.values()) + graph_layout.NODE_W
