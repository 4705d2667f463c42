"""Tables as pyarrow sees them, content-derived version ids, and the schema policy."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import blake3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from digitalhub_airflow.errors import (
    InvalidSourceError,
    NotFoundError,
    SchemaPolicyError,
    UnreadableTableError,
)
from digitalhub_airflow.hub import DataHub
from tests.unit.dhub_testlib import make_hub, store_files, store_root, write

CSV_TEXT = (
    "id,name,born,score,note\n"
    "1,Zoë,2024-01-31,0.5,héllo 🌍\n"
    "2,李雷,2023-12-01,,\n"
    '3,,,1.5,"quoted, with comma"\n'
    "4,Ελένη,1999-02-28,-2.25,Ñandú\n"
)
JSONL_TEXT = (
    '{"id": 1, "name": "Zoë", "born": "2024-01-31", "score": 0.5, "ok": true}\n'
    '{"id": 2, "name": "李雷", "born": null, "score": null, "ok": false}\n'
    '{"id": 3, "name": null, "born": "1999-02-28", "score": 1.5, "ok": null}\n'
)


def _parquet_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int32()),
            "name": pa.array(["Zoë", None, "李雷 🌍"], pa.string()),
            "born": pa.array([dt.date(2024, 1, 31), None, dt.date(1970, 1, 1)], pa.date32()),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc), None, None],
                pa.timestamp("us", tz="UTC"),
            ),
            "tags": pa.array([["a"], [], None], pa.list_(pa.string())),
        }
    )


def _columns(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def _b3_file(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def _make_source(tmp_path: Path, fmt: str) -> tuple[Path, pa.Table]:
    """A file of ``fmt`` and the table pyarrow itself reads from it."""
    if fmt == "csv":
        path = write(tmp_path / "t.csv", CSV_TEXT)
        return path, pacsv.read_csv(path)
    if fmt == "jsonl":
        path = write(tmp_path / "t.jsonl", JSONL_TEXT)
        return path, pajson.read_json(path)
    path = tmp_path / "t.parquet"
    pq.write_table(_parquet_table(), path)
    return path, pq.read_table(path)


# -- schema and rows ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_schema_and_rows_equal_what_pyarrow_reads(ehub: DataHub, tmp_path: Path, fmt: str) -> None:
    path, direct = _make_source(tmp_path, fmt)
    result = ehub.commit("demo/t", path)
    info = result.version
    assert info.kind == "table"
    assert info.format == fmt
    assert info.schema == _columns(direct.schema)
    assert info.row_count == direct.num_rows
    assert info.size_bytes == path.stat().st_size
    assert ehub.read_table(info.key).equals(direct)


def test_csv_types_unicode_nulls_and_dates(ehub: DataHub, tmp_path: Path) -> None:
    """The concrete types a user sees for the CSV above (checked against pyarrow too)."""
    path = write(tmp_path / "t.csv", CSV_TEXT)
    info = ehub.commit("demo/t", path).version
    types = {c["name"]: c["type"] for c in info.schema or []}
    assert types == {
        "id": "int64",
        "name": "string",
        "born": "date32[day]",
        "score": "double",
        "note": "string",
    }
    back = ehub.read_table(info.key).to_pylist()
    assert back[0]["name"] == "Zoë"
    assert back[0]["note"] == "héllo 🌍"
    assert back[1]["name"] == "李雷"
    assert back[1]["score"] is None
    assert back[2]["born"] is None
    assert back[3]["born"] == dt.date(1999, 2, 28)


def test_multi_file_table_sums_rows(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "a.csv", "id,v\n1,x\n2,y\n")
    write(folder / "b.csv", "id,v\n3,z\n")
    write(folder / "sub" / "c.csv", "id,v\n4,w\n5,u\n6,t\n")
    info = ehub.commit("demo/parts", folder).version
    direct = pacsv.read_csv(folder / "a.csv")
    assert info.kind == "table"
    assert info.schema == _columns(direct.schema)
    assert info.row_count == 6
    assert [f["path"] for f in ehub.files(info.key)] == ["a.csv", "b.csv", "sub/c.csv"]
    assert ehub.read_table(info.key).num_rows == 6


def test_multi_file_table_with_mismatched_schemas_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "a.csv", "id,v\n1,x\n")
    write(folder / "b.csv", "id,other\n2,y\n")
    store = store_root(ehub)
    with pytest.raises(InvalidSourceError) as info:
        ehub.commit("demo/parts", folder)
    assert "b.csv" in str(info.value)
    assert "a.csv" in str(info.value)
    assert "other" in str(info.value)
    with pytest.raises(NotFoundError):
        ehub.log("store://demo/dataitem/table/parts")
    assert store_files(store) == set()


def test_multi_file_table_with_retyped_column_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "a.csv", "id,v\n1,2\n")
    write(folder / "b.csv", "id,v\n2,y\n")
    with pytest.raises(InvalidSourceError, match=r"v: string"):
        ehub.commit("demo/parts", folder)


def test_mixed_formats_are_files_unless_a_table_is_asked(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write(folder / "a.csv", "id\n1\n")
    write(folder / "b.jsonl", '{"id": 1}\n')
    with pytest.raises(InvalidSourceError, match="one format"):
        ehub.commit("demo/mixed", folder, kind="table")
    info = ehub.commit("demo/mixed", folder).version
    assert info.kind == "files"
    assert info.schema is None
    assert info.row_count is None
    assert info.file_count == 2


def test_large_csv_whose_type_changes_after_the_first_block(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    pad = "p" * 100
    rows = (9 << 20) // 110
    with path.open("w", encoding="utf-8") as out:
        out.write("id,code,pad\n")
        out.writelines(f"{i},{i % 1000},{pad}\n" for i in range(rows))
        out.write(f"{rows},A17,{pad}\n")
    direct = pacsv.read_csv(path)
    assert direct.schema.field("code").type == pa.string()
    info = ehub.commit("demo/big", path).version
    assert info.schema == _columns(direct.schema)
    assert info.row_count == direct.num_rows


# -- version ids ----------------------------------------------------------------------


def _expected_version_id(kind: str, files: dict[str, Path], schema: pa.Schema | None) -> str:
    """DESIGN.md: the id is the digest of the canonical (files + schema + kind) content."""
    content = {
        "kind": kind,
        "files": sorted(
            (
                {"path": rel, "size": p.stat().st_size, "digest": _b3_file(p)}
                for rel, p in files.items()
            ),
            key=lambda f: (f["path"], f["size"], f["digest"]),
        ),
        "schema": _columns(schema) if schema is not None else None,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return blake3.blake3(text.encode()).hexdigest()


def test_version_id_is_the_digest_of_files_schema_and_kind(ehub: DataHub, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", CSV_TEXT)
    info = ehub.commit("demo/t", path).version
    schema = pacsv.read_csv(path).schema
    assert info.version_id == _expected_version_id("table", {"t.csv": path}, schema)
    assert info.key == f"store://demo/dataitem/table/t:{info.version_id}"
    assert info.short_id == info.version_id[:12]
    assert ehub.files(info.key) == [
        {"path": "t.csv", "size": path.stat().st_size, "digest": _b3_file(path)}
    ]


def test_files_version_id_has_no_schema(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    a = write(folder / "a.txt", "alpha")
    b = write(folder / "deep" / "b.bin", "beta")
    info = ehub.commit("demo/docs", folder).version
    assert info.version_id == _expected_version_id("files", {"a.txt": a, "deep/b.bin": b}, None)


def test_version_id_is_stable_across_homes_and_changes_with_one_byte(tmp_path: Path) -> None:
    source = write(tmp_path / "src" / "t.csv", CSV_TEXT)
    with make_hub(tmp_path / "one") as one, make_hub(tmp_path / "two") as two:
        first = one.commit("demo/t", source, message="first home").version
        second = two.commit("demo/t", source, message="another message").version
        assert first.version_id == second.version_id
        assert first.seq == second.seq == 1

        data = bytearray(source.read_bytes())
        data[data.index(b"0.5")] = ord("9")  # one byte: 0.5 -> 9.5, same schema
        (tmp_path / "src2").mkdir()
        changed = tmp_path / "src2" / "t.csv"
        changed.write_bytes(bytes(data))
        third = two.commit("demo/t", changed).version
        assert third.schema == second.schema
        assert third.version_id != second.version_id
        assert third.seq == 2


def test_recommit_of_same_content_is_idempotent(ehub: DataHub, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", CSV_TEXT)
    first = ehub.commit("demo/t", path)
    store = store_root(ehub)
    blobs = store_files(store)
    again = ehub.commit("demo/t", path, message="again")
    assert first.created
    assert not again.created
    assert again.version.version_id == first.version.version_id
    assert again.version.seq == 1
    assert again.blobs_written == 0
    assert len(ehub.log("store://demo/dataitem/table/t")) == 1
    assert store_files(store) == blobs


def test_identical_files_in_two_datasets_are_stored_once(ehub: DataHub, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", CSV_TEXT)
    ehub.commit("demo/a", path)
    ehub.commit("other/b", path)
    store = store_root(ehub)
    assert store_files(store) == {f"blobs/{_b3_file(path)[:2]}/{_b3_file(path)}"}


# -- schema policy --------------------------------------------------------------------


def test_additive_policy_refuses_dropped_and_retyped_columns(ehub: DataHub, tmp_path: Path) -> None:
    ehub.commit("demo/t", write(tmp_path / "v1" / "t.csv", "id,name,score\n1,a,0.5\n"))
    store = store_root(ehub)
    blobs = store_files(store)
    bad = write(tmp_path / "v2" / "t.csv", "id,name\nx1,a\n")  # score dropped, id retyped
    with pytest.raises(SchemaPolicyError) as info:
        ehub.commit("demo/t", bad, schema_policy="additive")
    assert sorted(info.value.columns) == ["id", "score"]
    assert "score" in str(info.value)
    assert "id" in str(info.value)
    assert len(ehub.log("store://demo/dataitem/table/t")) == 1
    assert store_files(store) == blobs
    # The same commit without the policy is accepted.
    assert ehub.commit("demo/t", bad).version.seq == 2


def test_additive_policy_accepts_an_added_column(ehub: DataHub, tmp_path: Path) -> None:
    v1 = ehub.commit("demo/t", write(tmp_path / "v1" / "t.csv", "id,name\n1,a\n")).version
    added = write(tmp_path / "v2" / "t.csv", "id,name,extra\n1,a,2024-01-01\n")
    v2 = ehub.commit("demo/t", added, schema_policy="additive").version
    assert v2.seq == 2
    assert v2.parent == f"store://demo/dataitem/table/t:v{v1.seq}"
    diff = ehub.diff(v1.key, v2.key)
    assert diff.schema == {
        "added": [{"name": "extra", "type": "date32[day]"}],
        "removed": [],
        "retyped": [],
    }


def test_additive_policy_on_a_new_dataset_accepts_anything(ehub: DataHub, tmp_path: Path) -> None:
    info = ehub.commit(
        "demo/new", write(tmp_path / "t.csv", "a\n1\n"), schema_policy="additive"
    ).version
    assert info.seq == 1


# -- refusing what would not read back ----------------------------------------------------


def _refused(ehub: DataHub, source: Any, *words: str, **options: Any) -> str:
    """``UnreadableTableError`` naming ``words``, one line, and nothing stored."""
    store = store_root(ehub)
    before = store_files(store)
    with pytest.raises(UnreadableTableError) as info:
        ehub.commit("demo/bad", source, **options)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    with pytest.raises(NotFoundError):
        ehub.log("store://demo/dataitem/table/bad")
    assert store_files(store) == before
    return message


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("a,a", ["duplicate column name 'a'"]),
        ("id,ID", ["'id' and 'ID' differ only in case", "DuckDB"]),
        ("id,", ["column 2 has an empty name"]),
        ('id,"a\tb"', ["column name 'a\\tb' contains the control character '\\t'"]),
        ("id," + "n" * 200_000, ["is 200000 characters long; the limit is 255"]),
    ],
)
def test_csv_column_names_that_would_not_read_back_are_refused(
    ehub: DataHub, tmp_path: Path, header: str, words: list[str]
) -> None:
    path = write(tmp_path / "t.csv", f"{header}\n1,2\n")
    message = _refused(ehub, path, str(path), *words)
    assert len(message) < 300, "a long name is cut in the message"


def test_a_name_of_255_characters_and_accented_case_pairs_are_accepted(
    ehub: DataHub, tmp_path: Path
) -> None:
    # DuckDB folds ASCII letters only: É and é are two columns there too.
    names = ["n" * 255, "É", "é", "Straße", "STRASSE"]
    path = write(tmp_path / "t.csv", ",".join(names) + "\n1,2,3,4,5\n")
    info = ehub.commit("demo/t", path).version
    assert [c["name"] for c in info.schema or []] == names
    assert ehub.read_table(info.key).column_names == names


def test_latin1_csv_is_refused_with_its_line_and_byte(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("id,name\n1,ok\n2,café\n".encode("latin-1"))
    _refused(
        ehub,
        path,
        f"{path}: column 'name' is not valid UTF-8 text (first invalid byte at line 3, byte 18)",
        "--encoding",
    )


def test_latin1_csv_header_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("id,prénom\n1,x\n".encode("latin-1"))
    _refused(ehub, path, "the column names are not valid UTF-8 (line 1, byte 5)")


def test_latin1_csv_with_its_encoding_is_stored_as_utf8(ehub: DataHub, tmp_path: Path) -> None:
    text = "id,prénom,ville\n1,Zoé,Besançon\n2,Jürgen,Köln\n"
    latin1 = tmp_path / "latin1" / "t.csv"
    latin1.parent.mkdir()
    latin1.write_bytes(text.encode("latin-1"))
    info = ehub.commit("demo/t", latin1, encoding="latin-1").version
    assert [c["type"] for c in info.schema or []] == ["int64", "string", "string"]
    assert ehub.read_table(info.key).to_pylist()[0] == {
        "id": 1,
        "prénom": "Zoé",
        "ville": "Besançon",
    }
    (stored,) = ehub.get(info.key, tmp_path / "out")
    assert stored.read_bytes() == text.encode("utf-8")
    # The stored content is the UTF-8 file's: the same version.
    same = ehub.commit("demo/t", write(tmp_path / "utf8" / "t.csv", text))
    assert not same.created and same.version.version_id == info.version_id


def test_a_byte_the_given_encoding_cannot_decode_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("id,name\n1,café\n".encode("latin-1"))
    _refused(ehub, path, f"{path} is not valid utf-8 text (line 2, byte 13)", encoding="utf-8")


def test_encoding_applies_to_csv_files_only(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n')
    with pytest.raises(InvalidSourceError, match=r"CSV files only; t\.jsonl is not CSV"):
        ehub.commit("demo/t", path, encoding="latin-1")
    with pytest.raises(InvalidSourceError, match="a Table is already decoded"):
        ehub.commit("demo/t", pa.table({"a": [1]}), encoding="latin-1")
    with pytest.raises(InvalidSourceError, match="unknown text encoding 'klingon'"):
        ehub.commit("demo/t", write(tmp_path / "t.csv", "a\n1\n"), encoding="klingon")
    assert store_files(store_root(ehub)) == set()


def test_nul_in_csv_cells_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "id,note\n1,fine\n2,a\x00b\n")
    _refused(ehub, path, "column 'note' holds a NUL character (row 2)", "CSV")


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ('{"s": "a\\u0000b"}', "'s'"),
        ('{"s": {"t": "a\\u0000b"}}', "'s.t'"),
        ('{"s": ["x", "a\\u0000b"]}', "'s[]'"),
    ],
)
def test_nul_in_json_strings_is_refused(
    ehub: DataHub, tmp_path: Path, line: str, column: str
) -> None:
    path = write(tmp_path / "t.jsonl", line + "\n")
    _refused(ehub, path, f"column {column} holds a NUL character", "JSON lines")


def test_invalid_utf8_in_json_lines_is_refused(ehub: DataHub, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"s": "ok"}\n{"s": "caf\xe9"}\n')
    _refused(ehub, path, "column 's' holds text that is not valid UTF-8 (line 2, byte 22)")


def test_json_lines_names_are_checked_at_any_depth(ehub: DataHub, tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"s": {"k": 1, "K": 2}}\n')
    _refused(ehub, path, "'s.k' and 's.K' differ only in case")


def test_parquet_and_python_tables_are_checked_too(ehub: DataHub, tmp_path: Path) -> None:
    duplicated = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    _refused(ehub, duplicated, "the Table: duplicate column name 'a'")
    path = tmp_path / "t.parquet"
    pq.write_table(duplicated, path)
    _refused(ehub, path, f"{path}: duplicate column name 'a'")
    nested = pa.table({"s": pa.array([{"x": 1, "": 2}])})
    _refused(ehub, nested, "field 2 of column 's' has an empty name")
    frame = pa.table({"a": [1], "b": [2]}).to_pandas()
    frame.columns = ["a", "a"]
    _refused(ehub, frame, "the DataFrame: duplicate column name 'a'")


def test_nul_in_parquet_strings_reads_back(ehub: DataHub, tmp_path: Path) -> None:
    """Parquet strings carry their length: a NUL reads back everywhere, so it is kept."""
    table = pa.table({"s": ["a\x00b", None]})
    info = ehub.commit("demo/t", table).version
    assert ehub.read_table(info.key).equals(table)


def test_invalid_utf8_in_a_later_part_of_a_multi_file_csv(ehub: DataHub, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "a.csv", "id,v\n1,x\n")
    (folder / "b.csv").write_bytes(b"id,v\n2,caf\xe9\n")
    _refused(ehub, folder, "b.csv: column 'v' is not valid UTF-8")


def test_a_description_from_the_hash_cache_is_checked_too(ehub: DataHub, tmp_path: Path) -> None:
    """A description cached before these rules (``a,a``; a Latin-1 column) is refused."""
    cache = ehub.hash_cache
    assert cache is not None
    for name, content, columns, words in [
        ("dup.csv", b"a,a\n1,2\n", [("a", "int64"), ("a", "int64")], "duplicate column name"),
        ("l1.csv", b"s\ncaf\xe9\n", [("s", "binary")], "column 's' is not valid UTF-8 text"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        old = path.stat().st_mtime - 3600
        os.utime(path, (old, old))
        digest = _b3_file(path)
        cache.remember(path, path.stat(), digest)
        cache.flush()
        described = [{"name": n, "type": t, "nullable": True} for n, t in columns]
        cache.remember_table(digest, "csv", {"columns": described, "rows": 1})
        assert cache.lookup(path, path.stat()) == digest
        _refused(ehub, path, words)
