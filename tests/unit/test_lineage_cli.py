"""``dhub query``, ``dhub lineage`` and ``dhub reproduce`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from digitalhub_airflow.errors import InvalidKeyError, NotFoundError, QueryError
from tests.unit.dhub_testlib import Cli, assert_cli_error, write

RAW = "store://demo/dataitem/table/raw"
TOTALS = "store://demo/dataitem/table/totals"
QUERY = f"SELECT grp, sum(value) AS total FROM ds('{RAW}') GROUP BY grp ORDER BY grp"


def test_query_commits_with_lineage_then_hits_the_cache(cli: Cli, tmp_path: Path) -> None:
    source = write(tmp_path / "raw.csv", "grp,value\na,1\na,2\nb,3\n")
    raw = cli.json("commit", RAW, str(source))["key"]

    preview = cli.json("query", QUERY)
    assert preview["rows"] == [{"grp": "a", "total": 3}, {"grp": "b", "total": 3}]
    assert preview["inputs"] == {RAW: raw}
    assert cli.ok("query", QUERY).stdout.split() == ["grp", "total", "a", "3", "b", "3"]

    first = cli.json("query", QUERY, "--target", TOTALS)
    assert not first["cache_hit"] and first["inputs"] == {RAW: raw}
    second = cli.json("query", QUERY, "--target", TOTALS)
    assert second["cache_hit"] and second["output"]["key"] == first["output"]["key"]
    assert second["run"] != first["run"]

    graph = cli.json("lineage", TOTALS, "--upstream")
    assert graph["root"] == first["output"]["key"]
    assert {n["key"] for n in graph["nodes"]} == {first["output"]["key"], first["run"], raw}
    assert {(e["source"], e["relation"], e["target"]) for e in graph["edges"]} == {
        (first["output"]["key"], "produced_by", first["run"]),
        (first["run"], "consumes", raw),
    }
    text = cli.ok("lineage", TOTALS, "--upstream").stdout
    assert "<- produced_by query" in text and "<- consumes raw v1" in text
    dot = cli.ok("lineage", f"{RAW}:v1", "--downstream", "--format", "dot").stdout
    assert dot.startswith("digraph lineage") and first["output"]["key"] in dot

    report = cli.json("reproduce", TOTALS)
    assert report["same"] and report["reproduced_version_id"] == first["output"]["version_id"]


def test_bad_lineage_and_query_input_is_refused_clearly(cli: Cli, tmp_path: Path) -> None:
    source = write(tmp_path / "raw.csv", "grp,value\na,1\n")
    cli.ok("commit", RAW, str(source))
    line = assert_cli_error(
        cli.run("query", "SELECT * FROM ds('store://demo/dataitem/table/ghost')"), NotFoundError
    )
    assert "store://demo/dataitem/table/ghost" in line
    line = assert_cli_error(
        cli.run("query", f"SELECT * FROM ds('{RAW}'), read_csv('/etc/passwd')"), QueryError
    )
    assert "may only read" in line
    assert_cli_error(cli.run("query", f"DELETE FROM ds('{RAW}')"), QueryError)
    assert_cli_error(cli.run("lineage", RAW, "--depth", "0"), InvalidKeyError)
    assert_cli_error(cli.run("lineage", "store://demo/dataitem/table/ghost"), NotFoundError)
    assert_cli_error(cli.run("reproduce", RAW), NotFoundError)  # committed by hand: no run
    assert_cli_error(cli.run("query", QUERY, "--target", TOTALS + ":v1"), InvalidKeyError)
    assert cli.run("lineage", RAW, "--format", "yaml").returncode == 2
