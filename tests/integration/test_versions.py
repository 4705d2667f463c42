"""Versioned datasets end to end, on both backends: what a commit records and reads back.

Every expected schema, row count and digest is computed here from the source with
pyarrow and blake3, never taken from the code under test.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from digitalhub_airflow.catalog.models import AliasEvent, Dataset, Project, Version
from digitalhub_airflow.errors import SchemaPolicyError
from digitalhub_airflow.hub import DataHub

from ._helpers import (
    arrow_columns,
    b3_bytes,
    b3_file,
    blob_infos,
    blobs,
    files_key,
    table_key,
    version_count,
    write_csv,
)

if TYPE_CHECKING:
    from .conftest import Dhub

HEX64 = set("0123456789abcdef")


# -- sources of every supported kind ---------------------------------------------------


@dataclass
class Source:
    """A commit source and what a correct commit of it must record."""

    source: Any
    kind: str
    format: str
    #: Expected columns (pyarrow's view of the source), None for a file tree.
    columns: list[dict[str, Any]] | None
    rows: int | None
    #: Expected files: relative path -> (size, blake3); None when the product writes them.
    files: dict[str, tuple[int, str]] | None
    #: The table a reader must get back, None for a file tree.
    table: pa.Table | None


def _files_of(base: Path, paths: list[Path]) -> dict[str, tuple[int, str]]:
    return {p.relative_to(base).as_posix(): (p.stat().st_size, b3_file(p)) for p in paths}


def _csv(tmp: Path) -> Source:
    path = write_csv(
        tmp / "people.csv",
        "id,name,score,joined",
        [
            "1,alpha,0.5,2024-01-02",
            "2,beta,1.5,2024-02-03",
            "3,gamma,,2024-03-04",
            '4,"de,lta",2.25,',
        ],
    )
    table = pacsv.read_csv(path)
    return Source(
        str(path),
        "table",
        "csv",
        arrow_columns(table.schema),
        table.num_rows,
        _files_of(tmp, [path]),
        table,
    )


def _parquet(tmp: Path) -> Source:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int32()),
            "tags": pa.array([["a"], [], None, ["b", "c"], ["d"]], pa.list_(pa.string())),
            "at": pa.array([0, 1, 2, 3, None], pa.timestamp("ms", tz="UTC")),
            "amount": pa.array([Decimal(f"{i}.{i}0") for i in range(1, 6)], pa.decimal128(9, 2)),
        }
    )
    path = tmp / "events.parquet"
    pq.write_table(table, path)
    expected = pq.read_table(path)
    return Source(
        str(path),
        "table",
        "parquet",
        arrow_columns(pq.read_schema(path)),
        expected.num_rows,
        _files_of(tmp, [path]),
        expected,
    )


def _jsonl(tmp: Path) -> Source:
    path = tmp / "log.jsonl"
    records = [
        {"k": i, "v": f"value {i}", "ok": i % 2 == 0, "nested": {"x": i * 1.5}} for i in range(7)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    table = pajson.read_json(path)
    return Source(
        str(path),
        "table",
        "jsonl",
        arrow_columns(table.schema),
        table.num_rows,
        _files_of(tmp, [path]),
        table,
    )


def _dataframe(_tmp: Path) -> Source:
    frame = pd.DataFrame(
        {
            "id": [10, 20, 30],
            "city": ["Trento", "Bolzano", None],
            "temp": [1.5, None, -2.0],
        }
    )
    expected = pa.Table.from_pandas(frame, preserve_index=False)
    return Source(
        frame, "table", "parquet", arrow_columns(expected.schema), len(frame), None, expected
    )


def _arrow(_tmp: Path) -> Source:
    table = pa.table(
        {
            "x": pa.array([1.0, 2.5, -0.0, None], pa.float32()),
            "label": pa.array(["a", "b", "c", "d"], pa.dictionary(pa.int8(), pa.string())),
            "when": pa.array([1, 2, 3, 4], pa.timestamp("us", tz="Europe/Rome")),
        }
    )
    return Source(
        table, "table", "parquet", arrow_columns(table.schema), table.num_rows, None, table
    )


def _folder(tmp: Path) -> Source:
    root = tmp / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    paths = [
        root / "model.bin",
        root / "README.md",
        root / "sub" / "a.csv",
        root / "sub" / "deeper" / "x",
    ]
    paths[0].write_bytes(bytes(range(256)) * 40)
    paths[1].write_text("# a model\n", encoding="utf-8")
    paths[2].write_text("a,b\n1,2\n", encoding="utf-8")
    paths[3].write_bytes(b"\x00\xff" * 7)
    return Source(str(root), "files", "files", None, None, _files_of(root, paths), None)


def _glob(tmp: Path) -> Source:
    parts = tmp / "parts"
    paths = [
        write_csv(
            parts / f"part-{i}.csv", "id,value", [f"{i * 10 + j},{j * 0.5}" for j in range(i + 2)]
        )
        for i in range(3)
    ]
    (parts / "notes.txt").write_text("not part of the table\n", encoding="utf-8")
    tables = [pacsv.read_csv(p) for p in paths]
    return Source(
        str(parts / "part-*.csv"),
        "table",
        "csv",
        arrow_columns(tables[0].schema),
        sum(t.num_rows for t in tables),
        _files_of(parts, paths),
        pa.concat_tables(tables),
    )


SOURCES: dict[str, Callable[[Path], Source]] = {
    "csv": _csv,
    "parquet": _parquet,
    "jsonl": _jsonl,
    "dataframe": _dataframe,
    "arrow-table": _arrow,
    "folder": _folder,
    "glob": _glob,
}


@pytest.mark.parametrize("source_name", list(SOURCES))
def test_commit_records_schema_rows_and_files(
    hub: DataHub, tmp_path: Path, source_name: str
) -> None:
    expected = SOURCES[source_name](tmp_path)
    result = hub.commit(f"formats/{source_name}", expected.source, message=f"first {source_name}")

    info = result.version
    assert result.created
    assert info.seq == 1
    assert info.kind == expected.kind
    assert info.format == expected.format
    assert info.schema == expected.columns
    assert info.row_count == expected.rows
    assert info.dataset == f"store://formats/dataitem/{expected.kind}/{source_name}"
    assert info.message == f"first {source_name}"

    files = hub.files(info.key)
    if expected.files is not None:
        assert {f["path"]: (f["size"], f["digest"]) for f in files} == expected.files
        assert info.size_bytes == sum(size for size, _ in expected.files.values())
    assert info.file_count == len(files)
    assert result.blobs_written == len({f["digest"] for f in files})

    # What is stored is what the manifest says: materialise and re-hash independently.
    out = tmp_path / "out"
    written = hub.get(info.key, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(
        f["path"] for f in files
    )
    for entry in files:
        stored = out / entry["path"]
        assert stored.stat().st_size == entry["size"]
        assert b3_file(stored) == entry["digest"]

    if expected.table is not None:
        back = hub.read_table(info.key)
        assert back.num_rows == expected.rows
        if source_name == "dataframe":
            pd.testing.assert_frame_equal(back.to_pandas(), expected.source)
        else:
            assert back.equals(expected.table), f"{back}\n!=\n{expected.table}"
            assert back.schema.equals(expected.table.schema)


def test_version_id_is_derived_from_content(
    hub: DataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = "id,name\n1,alpha\n2,beta\n"
    first = tmp_path / "one" / "data.csv"
    second = tmp_path / "two" / "data.csv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(content, encoding="utf-8")

    a = hub.commit("ids/a", first, message="from folder one").version
    monkeypatch.setenv("DHUB_USER", "someone-else")
    b = hub.commit("ids/b", second, message="another message, another user").version

    assert set(a.version_id) <= HEX64 and len(a.version_id) == 64
    assert a.version_id == b.version_id, "same content in two datasets must get the same id"
    assert a.key != b.key
    assert hub.files(a.key) == hub.files(b.key)
    assert hub.files(a.key)[0]["digest"] == b3_bytes(content.encode())

    changed = tmp_path / "three" / "data.csv"
    changed.parent.mkdir()
    changed.write_text(content.replace("alpha", "alphb"), encoding="utf-8")  # one byte differs
    c = hub.commit("ids/a", changed).version
    assert c.version_id != a.version_id
    assert c.seq == 2
    # The old id still names the old content.
    assert hub.resolve(f"{a.dataset}:{a.version_id}").seq == 1
    assert hub.resolve(f"{a.dataset}:{a.version_id[:12]}").seq == 1


def test_sequence_parents_messages_and_latest(hub: DataHub, tmp_path: Path) -> None:
    dataset = table_key("seq", "daily")
    commits = []
    for n in (1, 2, 3):
        path = write_csv(
            tmp_path / f"v{n}" / "data.csv", "day,value", [f"{d},{d * n}" for d in range(n + 1)]
        )
        result = hub.commit("seq/daily", path, message=f"load {n}")
        commits.append(result.version)
        assert result.created
        assert result.version.seq == n
        latest = hub.resolve(dataset)
        assert latest.version_id == result.version.version_id, "latest must move with each commit"
        assert hub.resolve(f"{dataset}@latest").version_id == result.version.version_id
        assert "latest" in latest.aliases

    log = hub.log(dataset)
    assert [v.seq for v in log] == [3, 2, 1]
    assert [v.message for v in log] == ["load 3", "load 2", "load 1"]
    assert [v.version_id for v in reversed(log)] == [c.version_id for c in commits]
    assert log[-1].parent is None
    assert log[1].parent == f"{dataset}:v1"
    assert log[0].parent == f"{dataset}:v2"
    assert log[0].aliases == ["latest"]
    assert log[1].aliases == [] and log[2].aliases == []
    for n, commit in enumerate(commits, start=1):
        assert hub.resolve(f"{dataset}:v{n}").version_id == commit.version_id
        assert commit.created_by == "integration-tester"
        assert commit.created_at.tzinfo is not None
    assert commits[0].created_at <= commits[1].created_at <= commits[2].created_at
    assert len(hub.log(dataset, limit=2)) == 2


def _alias_events(
    hub: DataHub, project: str, name: str, alias: str
) -> tuple[list[AliasEvent], dict[int, int]]:
    """The recorded moves of an alias (oldest first) and version pk -> sequence number."""
    with hub.catalog.session() as session:
        dataset_id = session.scalars(
            select(Dataset.id).join(Project).where(Project.name == project, Dataset.name == name)
        ).one()
        events = list(
            session.scalars(
                select(AliasEvent)
                .where(AliasEvent.dataset_id == dataset_id, AliasEvent.alias == alias)
                .order_by(AliasEvent.id)
            )
        )
        seq_of = {
            pk: seq
            for pk, seq in session.execute(
                select(Version.id, Version.seq).where(Version.dataset_id == dataset_id)
            )
        }
    return events, seq_of


def _three_versions(hub: DataHub, tmp_path: Path, project: str, name: str) -> str:
    for n in (1, 2, 3):
        hub.commit(f"{project}/{name}", write_csv(tmp_path / f"{name}{n}" / "d.csv", "n", [str(n)]))
    return table_key(project, name)


def test_named_alias_moves_and_every_move_is_recorded(
    hub: DataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = _three_versions(hub, tmp_path, "tags", "sales")
    moves = [("v1", "alice"), ("v3", "bob"), ("v2", "carol")]
    for version, user in moves:
        monkeypatch.setenv("DHUB_USER", user)
        tagged = hub.tag(f"{dataset}:{version}", "prod")
        assert f"v{tagged.seq}" == version
        assert f"v{hub.resolve(f'{dataset}@prod').seq}" == version
        # Exactly one version carries the alias.
        assert [f"v{v.seq}" for v in hub.log(dataset) if "prod" in v.aliases] == [version]
    assert hub.resolve(dataset).seq == 3, "tagging never moves latest"

    events, seq_of = _alias_events(hub, "tags", "sales", "prod")
    assert [(f"v{seq_of[e.version_pk]}", e.actor) for e in events] == moves
    assert [
        seq_of.get(e.previous_version_pk) if e.previous_version_pk else None for e in events
    ] == [None, 1, 3]
    for event in events:
        assert isinstance(event.at, datetime) and event.at.tzinfo is not None
        assert event.at.utcoffset() is not None
    assert events[0].at <= events[1].at <= events[2].at

    # `latest` moves are recorded the same way, by whoever committed.
    latest_events, seq_of = _alias_events(hub, "tags", "sales", "latest")
    assert [seq_of[e.version_pk] for e in latest_events] == [1, 2, 3]
    assert [e.actor for e in latest_events] == ["integration-tester"] * 3
    assert all(e.at.tzinfo is not None for e in latest_events)


def test_concurrent_alias_moves_are_atomic(hub: DataHub, tmp_path: Path) -> None:
    """Racing taggers: the alias row and its history never disagree, no move is lost."""
    dataset = _three_versions(hub, tmp_path, "tags", "race")
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def tagger(version: str) -> None:
        try:
            start.wait()
            for _ in range(6):
                hub.tag(f"{dataset}:{version}", "prod")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tagger, args=(f"v{n}",)) for n in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors

    events, seq_of = _alias_events(hub, "tags", "race", "prod")
    assert events, "no move recorded"
    assert events[0].previous_version_pk is None
    for before, after in itertools.pairwise(events):
        assert after.previous_version_pk == before.version_pk, "a move was lost or reordered"
        assert after.version_pk != after.previous_version_pk
        assert before.at <= after.at
    assert hub.resolve(f"{dataset}@prod").seq == seq_of[events[-1].version_pk]


def test_producer_recorded_from_airflow_task_context(
    hub: DataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "ingest_sales")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2025-01-31T00:00:00+00:00")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "commit_raw")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "3")
    first = hub.commit("prod/sales", write_csv(tmp_path / "a" / "s.csv", "x", ["1"])).version
    expected = {
        "dag_id": "ingest_sales",
        "run_id": "scheduled__2025-01-31T00:00:00+00:00",
        "task_id": "commit_raw",
        "try_number": 3,
    }
    assert first.producer == expected
    assert hub.resolve(first.key).producer == expected

    for name in (
        "AIRFLOW_CTX_DAG_ID",
        "AIRFLOW_CTX_DAG_RUN_ID",
        "AIRFLOW_CTX_TASK_ID",
        "AIRFLOW_CTX_TRY_NUMBER",
    ):
        monkeypatch.delenv(name)
    second = hub.commit("prod/sales", write_csv(tmp_path / "b" / "s.csv", "x", ["2"])).version
    assert second.producer is None, "outside Airflow no producer is recorded"
    assert hub.resolve(first.key).producer == expected, "versions are immutable"


def test_additive_policy_refuses_drop_and_retype_accepts_add(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    base = write_csv(tmp_path / "v1" / "d.csv", "id,name,score", ["1,a,0.5", "2,b,1.5"])
    v1 = hub.commit("schema/scores", base, schema_policy="additive").version
    dataset = v1.dataset
    before = blob_infos(hub)

    dropped = write_csv(tmp_path / "drop" / "d.csv", "id,name", ["1,a", "2,b", "3,c"])
    retyped = write_csv(tmp_path / "retype" / "d.csv", "id,name,score", ["1,a,high", "2,b,low"])
    both = write_csv(tmp_path / "both" / "d.csv", "id,score", ["x1,0.5"])
    assert str(pacsv.read_csv(retyped).schema.field("score").type) != str(
        pacsv.read_csv(base).schema.field("score").type
    )
    for source, broken in ((dropped, ["score"]), (retyped, ["score"]), (both, ["id", "name"])):
        with pytest.raises(SchemaPolicyError) as excinfo:
            hub.commit("schema/scores", source, schema_policy="additive")
        assert sorted(excinfo.value.columns) == broken
        for column in broken:
            assert column in str(excinfo.value)
        assert version_count(hub, dataset) == 1, "a refused commit must not create a version"
        assert hub.resolve(dataset).version_id == v1.version_id
        assert blob_infos(hub) == before, "a refused commit must not store a blob"

    # The CLI refuses with the schema-policy exit code.
    proc = dhub.run("commit", "schema/scores", str(dropped), "--schema-policy", "additive")
    assert proc.returncode == SchemaPolicyError.exit_code, proc.stderr
    assert "score" in proc.stderr
    assert version_count(hub, dataset) == 1
    assert blob_infos(hub) == before

    # An added column is accepted; under the default policy a drop is allowed too.
    added = write_csv(tmp_path / "add" / "d.csv", "id,name,score,extra", ["1,a,0.5,x", "2,b,1.5,y"])
    v2 = hub.commit("schema/scores", added, schema_policy="additive").version
    assert v2.seq == 2
    assert v2.schema == arrow_columns(pacsv.read_csv(added).schema)
    v3 = hub.commit("schema/scores", dropped).version
    assert v3.seq == 3


def test_diff_reports_schema_rows_and_files(hub: DataHub, tmp_path: Path) -> None:
    old = write_csv(tmp_path / "a" / "data.csv", "id,name,score", ["1,a,0.5", "2,b,1.5", "3,c,2.5"])
    new = write_csv(
        tmp_path / "b" / "data.csv",
        "id,score,extra",
        ["k1,0.5,1", "k2,1.5,2", "k3,2.5,3", "k4,3.5,4"],
    )
    a = hub.commit("diffs/t", old).version
    b = hub.commit("diffs/t", new).version
    old_schema, new_schema = pacsv.read_csv(old).schema, pacsv.read_csv(new).schema

    diff = hub.diff(f"{a.dataset}:v1", f"{a.dataset}:v2").to_json()
    assert diff["a"] == a.key and diff["b"] == b.key
    assert diff["schema"]["added"] == [
        {"name": "extra", "type": str(new_schema.field("extra").type)}
    ]
    assert diff["schema"]["removed"] == [
        {"name": "name", "type": str(old_schema.field("name").type)}
    ]
    assert diff["schema"]["retyped"] == [
        {
            "name": "id",
            "from": str(old_schema.field("id").type),
            "to": str(new_schema.field("id").type),
        }
    ]
    assert diff["rows"] == {"a": 3, "b": 4}
    assert diff["size_bytes"] == {"a": old.stat().st_size, "b": new.stat().st_size}
    assert diff["files_changed"] == ["data.csv"]
    assert diff["files_added"] == [] and diff["files_removed"] == []

    # A version compared with itself has no difference.
    same = hub.diff(b.key, f"{a.dataset}@latest").to_json()
    assert same["schema"] == {"added": [], "removed": [], "retyped": []}
    assert same["files_added"] == same["files_removed"] == same["files_changed"] == []

    # File trees: added, removed and changed files by path.
    tree1, tree2 = tmp_path / "t1", tmp_path / "t2"
    for tree, files in (
        (tree1, {"keep.txt": "same", "edit.txt": "before", "sub/gone.txt": "bye"}),
        (tree2, {"keep.txt": "same", "edit.txt": "after", "sub/new.txt": "hi"}),
    ):
        for rel, text in files.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(text, encoding="utf-8")
    f1 = hub.commit("diffs/tree", tree1).version
    f2 = hub.commit("diffs/tree", tree2).version
    tree_diff = hub.diff(f1.key, f2.key).to_json()
    assert tree_diff["files_added"] == ["sub/new.txt"]
    assert tree_diff["files_removed"] == ["sub/gone.txt"]
    assert tree_diff["files_changed"] == ["edit.txt"]
    assert tree_diff["rows"] == {"a": None, "b": None}
    assert tree_diff["schema"] == {"added": [], "removed": [], "retyped": []}


def test_get_materialises_byte_identical_files(hub: DataHub, tmp_path: Path) -> None:
    root = tmp_path / "src"
    contents = {
        "empty": b"",
        "one.byte": b"\x00",
        "big.bin": bytes((i * 7919 + 13) % 251 for i in range(3 * 1024 * 1024 + 17)),
        "nested/deeper/data.json": b'{"a": [1, 2, 3]}\n',
        "données/é.txt": "accentué\n".encode(),
        "dup/copy-of-one": b"\x00",  # same content as one.byte: one blob, two paths
    }
    for rel, data in contents.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)

    result = hub.commit("get/tree", root)
    assert result.version.kind == "files"
    # One blob per distinct content, however many paths share it.
    assert blobs(hub) == {b3_bytes(d) for d in contents.values()}
    assert result.blobs_written + result.blobs_skipped == len(contents)
    assert {f["path"]: f["digest"] for f in hub.files(result.key)} == {
        rel: b3_bytes(data) for rel, data in contents.items()
    }

    dest = tmp_path / "dest"
    hub.get(files_key("get", "tree"), dest)
    got = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert got == contents
    # Getting by sequence number into another folder gives the same bytes.
    dest2 = tmp_path / "dest2"
    hub.get(f"{files_key('get', 'tree')}:v1", dest2)
    assert {
        p.relative_to(dest2).as_posix(): p.read_bytes() for p in dest2.rglob("*") if p.is_file()
    } == contents
