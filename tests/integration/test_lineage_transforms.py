"""Runs, relationships, lineage queries, cached transforms and reproduce on both backends."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from digitalhub_airflow.catalog.models import Relationship, Run
from digitalhub_airflow.errors import NotFoundError, QueryError, TransformError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.graph import lineage_graph
from digitalhub_airflow.lineage.runs import RunSpec, get_run
from digitalhub_airflow.transforms.reproduce import reproduce
from digitalhub_airflow.transforms.transform import Transform, run_transform

RAW = "store://demo/dataitem/table/raw"
DOUBLED = "store://demo/dataitem/table/doubled"
TOTALS = "store://demo/dataitem/table/totals"


def doubled(raw: pd.DataFrame, factor: int = 2) -> pd.DataFrame:
    return raw.assign(value=raw["value"] * factor)


def identity(raw: pd.DataFrame) -> pd.DataFrame:
    return raw


def broken(raw: pd.DataFrame) -> pd.DataFrame:
    raise ZeroDivisionError("no rows to divide by")


def spec(name: str, uid: str) -> RunSpec:
    return RunSpec(project="demo", name=name, uid=uid, kind="python")


def python(output: str = DOUBLED, function: Any = doubled, **parameters: Any) -> Transform:
    return Transform(output=output, inputs={"raw": RAW}, function=function, parameters=parameters)


@pytest.fixture
def raw(hub: DataHub) -> str:
    data = pd.DataFrame({"group": ["a", "a", "b"], "value": [1, 2, 3]})
    return hub.commit(RAW, data).key


def run_count(hub: DataHub) -> int:
    with hub.catalog.session() as session:
        return session.scalar(select(func.count()).select_from(Run)) or 0


def test_transform_records_run_edges_and_hits_the_cache(hub: DataHub, raw: str) -> None:
    first = run_transform(hub, python(), spec("double", "a1" * 8))
    assert not first.cache_hit and first.created
    assert first.inputs["raw"].key == raw
    run = get_run(hub, first.run)
    assert run["state"] == "success" and run["inputs"] == [raw]
    assert run["outputs"] == [first.output.key]
    assert run["transform"]["function"].endswith(":doubled") and run["code_digest"]

    hub.commit(DOUBLED, pd.DataFrame({"group": ["z"], "value": [0]}))  # by hand, meanwhile
    again = run_transform(hub, python(), spec("double", "a2" * 8))
    assert again.cache_hit and again.output.key == first.output.key
    assert hub.resolve(DOUBLED).key == first.output.key  # latest is the reused output again
    hit = get_run(hub, again.run)
    assert hit["cache_hit"] and hit["reused_run"] == first.run and hit["inputs"] == [raw]
    assert hit["outputs"] == []  # the version was produced by the first run only

    other = run_transform(hub, python(factor=3), spec("double", "a3" * 8))
    assert not other.cache_hit and other.output.key != first.output.key


def test_lineage_upstream_and_downstream(hub: DataHub, raw: str) -> None:
    features = run_transform(hub, python(), spec("double", "b1" * 8)).output.key
    query = f"SELECT \"group\", sum(value) AS total FROM ds('{DOUBLED}') GROUP BY 1 ORDER BY 1"
    sql = run_transform(hub, Transform(output=TOTALS, kind="sql", query=query), spec("q", "b2" * 8))
    assert hub.read_table(sql.output.key).to_pydict() == {"group": ["a", "b"], "total": [6, 6]}
    assert sql.inputs[DOUBLED].key == features  # pinned to the exact version

    up = lineage_graph(hub, TOTALS, "upstream", depth=5).to_json()
    keys = {n["key"]: n for n in up["nodes"]}
    assert {raw, features, sql.output.key} <= set(keys)
    assert keys[raw]["distance"] == 4 and keys[raw]["label"] == "raw v1"
    relations = {(e["source"], e["relation"], e["target"]) for e in up["edges"]}
    assert (sql.output.key, "produced_by", sql.run) in relations
    assert (sql.run, "consumes", features) in relations

    shallow = lineage_graph(hub, TOTALS, "upstream", depth=1).to_json()
    assert raw not in {n["key"] for n in shallow["nodes"]}
    assert features in {n["key"] for n in shallow["nodes"]}

    down = lineage_graph(hub, raw, "downstream", depth=5).to_json()
    assert sql.output.key in {n["key"] for n in down["nodes"]}
    assert "->" in lineage_graph(hub, raw, "downstream").to_text()
    assert "digraph" in lineage_graph(hub, raw).to_dot()


def test_failing_function_records_failed_run_and_commits_nothing(hub: DataHub, raw: str) -> None:
    with pytest.raises(TransformError, match="ZeroDivisionError: no rows"):
        run_transform(hub, python(function=broken), spec("broken", "c1" * 8))
    with hub.catalog.session() as session:
        run = session.scalars(select(Run).where(Run.name == "broken")).one()
        assert run.state == "failed" and "ZeroDivisionError" in (run.error or "")
    with pytest.raises(NotFoundError):
        hub.resolve(DOUBLED)


def test_identity_transform_creates_no_cycle(hub: DataHub, raw: str) -> None:
    result = run_transform(hub, python(output=RAW, function=identity), spec("same", "d1" * 8))
    assert result.output.key == raw and not result.created
    run = get_run(hub, result.run)
    assert run["outputs"] == [] and run["transform"]["outputs_already_upstream"] == [raw]
    with hub.catalog.session() as session:
        edges = session.scalars(select(Relationship).where(Relationship.source == raw)).all()
        assert edges == []  # raw is not produced_by the run that consumed it
    graph = lineage_graph(hub, raw, "both", depth=50).to_json()
    assert {n["key"] for n in graph["nodes"]} == {raw, result.run}


def test_sql_refuses_unknown_datasets_writes_and_files(hub: DataHub, raw: str) -> None:
    before = run_count(hub)
    missing = "store://demo/dataitem/table/nope"
    with pytest.raises(NotFoundError, match="nope"):
        run_transform(hub, sql_transform(f"SELECT * FROM ds('{missing}')"), spec("q", "e1" * 8))
    refused = [
        f"COPY (SELECT * FROM ds('{RAW}')) TO 'out.csv'",
        f"SELECT * FROM ds('{RAW}'); DROP TABLE x",
        f"SELECT * FROM ds('{RAW}'), read_csv('/etc/passwd')",
        f"SELECT * FROM ds('{RAW}') UNION ALL SELECT * FROM '/etc/hostname'",
        "SELECT 1",
    ]
    for number, query in enumerate(refused):
        with pytest.raises(QueryError):
            run_transform(hub, sql_transform(query), spec("q", f"{number:02d}" * 8))
    with hub.catalog.session() as session:
        states = session.scalars(select(Run.state).where(Run.name == "q")).all()
    assert run_count(hub) - before == len(states) and set(states) <= {"failed"}
    with pytest.raises(NotFoundError):
        hub.resolve(TOTALS)


def sql_transform(query: str) -> Transform:
    return Transform(output=TOTALS, kind="sql", query=query)


def test_reproduce_gives_the_same_version_id(hub: DataHub, raw: str) -> None:
    result = run_transform(hub, python(factor=5), spec("double", "f1" * 8))
    report = reproduce(hub, result.output.key)
    assert report.same and not report.code_changed
    assert report.reproduced_version_id == result.output.version_id
    query = f"SELECT count(*) AS n FROM ds('{RAW}')"
    sql = run_transform(hub, sql_transform(query), spec("q", "f2" * 8))
    assert reproduce(hub, sql.run).same
