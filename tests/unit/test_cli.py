"""The installed ``dhub`` console script, run as a real subprocess on an embedded home."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import blake3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from digitalhub_airflow.catalog.migrate import head_revision
from digitalhub_airflow.datasets.versions import VersionInfo
from digitalhub_airflow.errors import IntegrityError
from tests.unit.dhub_testlib import Cli, assert_cli_error, blob_path, store_files, write

TABLE = "store://demo/dataitem/table/wine"


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _columns(schema: pa.Schema) -> list[dict[str, object]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def _files_of(cli: Cli, key: str) -> dict[str, str]:
    with cli.hub() as hub:
        return {f["path"]: f["digest"] for f in hub.files(key)}


def _plant_blob(store: Path, data: bytes, age_s: float) -> str:
    """A valid blob no version references, as a crashed commit leaves it."""
    digest = _b3(data)
    path = blob_path(store, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return digest


def test_init_twice_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    cli = Cli(home)
    first = cli.json("init")
    assert first["revision"] == head_revision() != ""
    assert (home / "catalog.sqlite").is_file()
    assert first["store"] == (home / "store").resolve().as_uri()
    second = cli.ok("init").stdout  # the catalog exists now: an upgrade that is a no-op
    assert f"at revision {first['revision']};" in second
    with cli.hub() as hub:
        assert hub.init() == first["revision"]


# -- commit from every kind of source --------------------------------------------------


def _check_committed(data: dict[str, object], kind: str, name: str) -> None:
    assert data["key"] == f"store://demo/dataitem/{kind}/{name}:{data['version_id']}"
    assert data["seq"] == 1
    assert data["created"] is True
    assert data["kind"] == kind
    assert data["aliases"] == ["latest"]


def test_commit_csv(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "wine.csv", "id,grape,score\n1,merlot,8.5\n2,syrah,\n3,rosé,7\n")
    data = cli.json("commit", "demo/wine", str(src), "-m", "first")
    _check_committed(data, "table", "wine")
    direct = pacsv.read_csv(src)
    assert data["row_count"] == direct.num_rows == 3
    assert data["schema"] == _columns(direct.schema)
    assert data["format"] == "csv"
    assert data["message"] == "first"
    assert data["blobs_written"] == 1
    assert _files_of(cli, data["key"]) == {"wine.csv": _b3(src.read_bytes())}


def test_commit_parquet(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "wine.parquet"
    table = pa.table({"id": pa.array(range(50), pa.int16()), "name": [f"n{i}é" for i in range(50)]})
    pq.write_table(table, src)
    data = cli.json("commit", "demo/wine", str(src))
    _check_committed(data, "table", "wine")
    assert data["format"] == "parquet"
    assert data["row_count"] == pq.ParquetFile(src).metadata.num_rows == 50
    assert data["schema"] == _columns(pq.read_schema(src))


def test_commit_json_lines(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "events.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    data = cli.json("commit", "demo/events", str(src))
    _check_committed(data, "table", "events")
    direct = pajson.read_json(src)
    assert data["format"] == "jsonl"
    assert data["row_count"] == direct.num_rows == 2
    assert data["schema"] == _columns(direct.schema)


def test_commit_folder_as_files(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder / "readme.md", "# hi\n")
    (folder / "img").mkdir()
    (folder / "img" / "x.bin").write_bytes(bytes(range(256)))
    data = cli.json("commit", "demo/docs", str(folder), "--kind", "files")
    _check_committed(data, "files", "docs")
    assert data["row_count"] is None
    assert data["schema"] is None
    assert data["file_count"] == 2
    assert data["size_bytes"] == 5 + 256
    assert _files_of(cli, data["key"]) == {
        "readme.md": _b3(b"# hi\n"),
        "img/x.bin": _b3(bytes(range(256))),
    }


def test_commit_glob(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "a.csv", "id,v\n1,x\n")
    write(folder / "b.csv", "id,v\n2,y\n3,z\n")
    write(folder / "sub" / "c.csv", "id,v\n4,w\n")
    write(folder / "notes.txt", "not a table")
    data = cli.json("commit", "demo/parts", str(folder / "*.csv"))
    deep = cli.json("commit", "demo/deep", str(folder / "**" / "*.csv"))
    _check_committed(data, "table", "parts")
    assert data["row_count"] == 3
    assert set(_files_of(cli, data["key"])) == {"a.csv", "b.csv"}
    assert deep["row_count"] == 4
    assert set(_files_of(cli, deep["key"])) == {"a.csv", "b.csv", "sub/c.csv"}


# -- log, show, diff, get, tag ---------------------------------------------------------


def _commit(cli: Cli, target: str, source: Path, message: str = "") -> VersionInfo:
    """Setup through the API (cheaper than a subprocess): the CLI reads it back."""
    with cli.hub() as hub:
        return hub.commit(target, source, message=message).version


def _two_versions(cli: Cli, tmp_path: Path) -> tuple[VersionInfo, VersionInfo]:
    v1 = _commit(
        cli, "demo/wine", write(tmp_path / "1" / "w.csv", "id,name,score\n1,a,0.5\n2,b,1.5\n")
    )
    v2 = _commit(
        cli,
        "demo/wine",
        write(tmp_path / "2" / "w.csv", "id,score,region\nx1,0.5,north\n"),
        "second",
    )
    return v1, v2


def test_log_show_and_diff(cli: Cli, tmp_path: Path) -> None:
    v1, v2 = _two_versions(cli, tmp_path)
    log, shown, diff = cli.json_all(
        ["log", TABLE], ["show", f"{TABLE}:v1"], ["diff", f"{TABLE}:v1", f"{TABLE}:v2"]
    )
    (diff_text,) = cli.run_all(["diff", f"{TABLE}:v1", TABLE])

    assert [v["seq"] for v in log] == [2, 1]
    assert [v["version_id"] for v in log] == [v2.version_id, v1.version_id]
    assert log[0]["aliases"] == ["latest"]
    assert log[1]["aliases"] == []
    assert log[0]["parent"] == f"{TABLE}:v1"
    assert log[0]["message"] == "second"

    assert shown["version_id"] == v1.version_id
    assert shown["row_count"] == 2
    assert shown["files"] == [
        {
            "path": "w.csv",
            "size": (tmp_path / "1" / "w.csv").stat().st_size,
            "digest": _b3((tmp_path / "1" / "w.csv").read_bytes()),
        }
    ]
    with cli.hub() as hub:  # prefixes and limits resolve the same way in-process
        assert hub.resolve(f"{TABLE}:{v2.version_id[:12]}").seq == 2
        assert [v.seq for v in hub.log(TABLE, limit=1)] == [2]

    assert diff["schema"]["added"] == [{"name": "region", "type": "string"}]
    assert diff["schema"]["removed"] == [{"name": "name", "type": "string"}]
    assert diff["schema"]["retyped"] == [{"name": "id", "from": "int64", "to": "string"}]
    assert diff["rows"] == {"a": 2, "b": 1}
    assert diff["files_changed"] == ["w.csv"]
    lines = diff_text.stdout.splitlines()
    assert "+ column region: string" in lines
    assert "- column name: string" in lines
    assert "~ column id: int64 -> string" in lines
    assert "rows: 2 -> 1" in lines


def test_get_materialises_byte_identical_files(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "src"
    contents = {
        "a.txt": b"alpha\n",
        "nested/deeper/b.bin": os.urandom(70_000),
        "unicodé.txt": "ünïcode ✓\n".encode(),
    }
    for rel, data in contents.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    key = _commit(cli, "demo/docs", folder).key
    dest = tmp_path / "out"
    got = cli.json("get", key, str(dest))
    assert got["key"] == key
    assert sorted(got["files"]) == sorted(str((dest / rel).resolve()) for rel in contents)
    for rel, data in contents.items():
        assert (dest / rel).read_bytes() == data
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == set(contents)


def test_tag_and_resolve_alias(cli: Cli, tmp_path: Path) -> None:
    v1, v2 = _two_versions(cli, tmp_path)
    tagged = cli.json("tag", f"{TABLE}:v1", "prod")
    assert tagged["version_id"] == v1.version_id
    assert "prod" in tagged["aliases"]
    dest = tmp_path / "out"
    shown, _got = cli.json_all(["show", f"{TABLE}@prod"], ["get", f"{TABLE}@prod", str(dest)])
    assert shown["seq"] == 1
    assert shown["version_id"] == v1.version_id
    assert sorted(shown["aliases"]) == ["prod"]
    assert (dest / "w.csv").read_bytes() == (tmp_path / "1" / "w.csv").read_bytes()
    # A later commit moves latest, never prod.
    _commit(cli, "demo/wine", write(tmp_path / "3" / "w.csv", "id\n9\n"))
    with cli.hub() as hub:
        assert hub.resolve(f"{TABLE}@prod").seq == 1
        assert hub.resolve(TABLE).seq == 3
        assert hub.resolve(f"{TABLE}:v2").version_id == v2.version_id


# -- verify and gc ---------------------------------------------------------------------


def test_verify_ok_then_corrupt_blob_is_named(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "w.csv", "id,name\n1,a\n2,b\n")
    key = _commit(cli, "demo/wine", src).key
    digest = _b3(src.read_bytes())
    report = cli.json("verify")
    assert report == {
        "ok": True,
        "checked": 1,
        "bytes_checked": src.stat().st_size,
        "corrupt": [],
        "missing": [],
    }

    blob = blob_path(cli.store, digest)
    data = bytearray(blob.read_bytes())
    data[-2] ^= 0x01  # same size, one bit flipped
    blob.write_bytes(bytes(data))

    dest = tmp_path / "out"
    whole, one_key, get = cli.run_all(
        ["verify"], ["verify", key, "--json"], ["get", key, str(dest)]
    )
    assert digest in assert_cli_error(whole, IntegrityError)
    assert f"corrupt blob {digest}" in whole.stdout
    assert digest in assert_cli_error(one_key, IntegrityError)
    assert json.loads(one_key.stdout)["corrupt"] == [digest]
    assert digest in assert_cli_error(get, IntegrityError)
    assert not (dest / "w.csv").exists()
    assert not [p for p in dest.rglob("*") if p.is_file()]


def test_gc_deletes_old_unreferenced_blobs_only(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "w.csv", "id\n1\n")
    _commit(cli, "demo/wine", src)
    referenced = _b3(src.read_bytes())
    two_hours = 7200.0
    old_ref = time.time() - two_hours
    os.utime(blob_path(cli.store, referenced), (old_ref, old_ref))  # old, but referenced
    crashed = _plant_blob(cli.store, b"left by a crashed commit", two_hours)
    young = _plant_blob(cli.store, b"a commit still running", 60)

    dry = cli.json("gc", "--grace", "1h", "--dry-run")
    assert dry["deleted"] == [crashed]
    assert dry["dry_run"] is True
    assert blob_path(cli.store, crashed).exists()

    report = cli.json("gc", "--grace", "1h")
    assert report["scanned"] == 3
    assert report["deleted"] == [crashed]
    assert report["bytes_freed"] == len(b"left by a crashed commit")
    assert report["kept_young"] == 1
    assert not blob_path(cli.store, crashed).exists()
    assert blob_path(cli.store, young).exists()
    assert blob_path(cli.store, referenced).exists()
    with cli.hub() as hub:
        assert hub.verify().ok

    with cli.hub() as hub:  # the young blob is past a shorter grace period
        assert hub.gc(timedelta(seconds=30)).deleted == [young]
    assert {p.rsplit("/", 1)[-1] for p in store_files(cli.store) if p.startswith("blobs/")} == {
        referenced
    }


def test_gc_and_verify_ignore_a_stray_file_in_the_blob_folder(cli: Cli, tmp_path: Path) -> None:
    _commit(cli, "demo/wine", write(tmp_path / "w.csv", "id\n1\n"))
    (cli.store / "blobs" / ".DS_Store").write_bytes(b"junk")
    with cli.hub() as hub:
        assert hub.verify().ok
        assert hub.gc().deleted == []


def test_verify_repair_heals_a_flipped_and_a_deleted_blob_from_a_folder(
    cli: Cli, tmp_path: Path
) -> None:
    good = tmp_path / "good"
    contents = {"a.txt": b"alpha\n" * 50, "b.txt": b"beta\n" * 70, "c.txt": b"gamma\n" * 90}
    for name, data in contents.items():
        (good / name).parent.mkdir(parents=True, exist_ok=True)
        (good / name).write_bytes(data)
    key = cli.json("commit", "demo/texts", str(good), "--kind", "files")["key"]
    flipped, deleted, healthy = (_b3(contents[n]) for n in ("a.txt", "b.txt", "c.txt"))
    blob = blob_path(cli.store, flipped)
    data = bytearray(blob.read_bytes())
    data[3] ^= 0x01
    blob.write_bytes(bytes(data))
    blob_path(cli.store, deleted).unlink()
    kept = blob_path(cli.store, healthy).stat()

    broken = cli.run("verify", key)
    assert assert_cli_error(broken, IntegrityError)
    report = cli.json("verify", key, "--repair", str(good))
    assert report["ok"] is True
    assert sorted(report["repaired"]) == sorted([flipped, deleted])
    assert (report["corrupt"], report["missing"], report["refused"]) == ([], [], [])
    assert report["not_found"] == []
    after = blob_path(cli.store, healthy).stat()
    assert (after.st_ino, after.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)
    text = cli.ok("verify", "--repair", str(good)).stdout
    assert "checked 3 blobs" in text and "repaired" not in text
    assert cli.json("verify")["ok"] is True


def test_verify_repair_reports_blobs_the_source_lacks(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "w.csv", "id\n1\n2\n")
    _commit(cli, "demo/wine", src)
    digest = _b3(src.read_bytes())
    blob_path(cli.store, digest).unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli.run("verify", "--repair", str(empty))
    assert digest in assert_cli_error(proc, IntegrityError)
    assert f"missing blob {digest} (not found in {empty})" in proc.stdout
    proc = cli.run("verify", "--repair", str(tmp_path / "nowhere"))
    assert proc.returncode == 2, proc.stderr
