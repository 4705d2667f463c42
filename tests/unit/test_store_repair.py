"""The self-healing folder store: a commit of good bytes replaces a damaged blob, and
``verify --repair FROM`` restores damaged blobs from a folder or another store; a
healthy blob is never rewritten and bad repair bytes are refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import blake3
import pytest

from digitalhub_airflow.errors import IntegrityError
from digitalhub_airflow.hub import DataHub
from tests.unit.dhub_testlib import Cli, assert_cli_error, blob_path, store_root, write

CSV = "id,grape,score\n1,merlot,8.5\n2,syrah,7\n3,gamay,6\n"


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _flip(path: Path) -> None:
    """One bit flipped in place: same size, other bytes."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _identity(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def _flags(store: Path) -> set[str]:
    folder = store / "damaged"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_verify_flags_a_flip_and_a_recommit_of_the_same_source_heals_it(
    ehub: DataHub, tmp_path: Path
) -> None:
    src = write(tmp_path / "wine.csv", CSV)
    first = ehub.commit("demo/wine", src)
    digest = _b3(src.read_bytes())
    store = store_root(ehub)
    blob = blob_path(store, digest)
    _flip(blob)

    report = ehub.verify()
    assert report.corrupt == [digest]
    assert _flags(store) == {digest}, "verify flags what it found damaged"

    again = ehub.commit("demo/wine", src)
    assert (again.created, again.version.seq) == (False, first.version.seq)
    assert (again.blobs_written, again.blobs_skipped, again.blobs_repaired) == (0, 0, 1)
    assert again.to_json()["blobs_repaired"] == 1
    assert blob.read_bytes() == src.read_bytes()
    assert ehub.verify().ok
    assert _flags(store) == set(), "a healed blob is unflagged"
    assert not [p for p in (store / "tmp").iterdir()], "no temporary is left"


def test_a_same_size_flip_is_reused_until_verify_flags_it(ehub: DataHub, tmp_path: Path) -> None:
    """The documented trade-off: a commit does not re-hash the blobs it reuses."""
    src = write(tmp_path / "wine.csv", CSV)
    ehub.commit("demo/wine", src)
    digest = _b3(src.read_bytes())
    _flip(blob_path(store_root(ehub), digest))
    unflagged = ehub.commit("demo/other", src)  # a new version: the whole commit runs
    assert (unflagged.blobs_written, unflagged.blobs_skipped, unflagged.blobs_repaired) == (
        0,
        1,
        0,
    )
    assert not ehub.verify().ok
    healed = ehub.commit("demo/other", src)
    assert healed.blobs_repaired == 1
    assert ehub.verify().ok


def test_a_truncated_or_deleted_blob_is_healed_by_a_commit_without_verify(
    ehub: DataHub, tmp_path: Path
) -> None:
    """The size differs (one stat), or the blob is gone: no verify needed."""
    a = write(tmp_path / "a" / "wine.csv", CSV)
    b = write(tmp_path / "b" / "wine.csv", CSV + "4,pinot,9\n")
    ehub.commit("demo/a", a)
    ehub.commit("demo/b", b)
    store = store_root(ehub)
    truncated = blob_path(store, _b3(a.read_bytes()))
    truncated.write_bytes(a.read_bytes()[:-5])
    blob_path(store, _b3(b.read_bytes())).unlink()

    healed = ehub.commit("demo/c", a)  # same bytes, another dataset: the store is consulted
    assert (healed.blobs_written, healed.blobs_repaired) == (0, 1)
    restored = ehub.commit("demo/d", b)
    assert (restored.blobs_written, restored.blobs_repaired) == (1, 0)
    assert ehub.verify().ok


def test_a_healthy_blob_is_never_rewritten(ehub: DataHub, tmp_path: Path) -> None:
    src = write(tmp_path / "wine.csv", CSV)
    ehub.commit("demo/wine", src)
    digest = _b3(src.read_bytes())
    store = store_root(ehub)
    blob = blob_path(store, digest)
    before = _identity(blob)

    # A stale flag (the blob was healed elsewhere): re-checked, found good, left alone.
    ehub.store.mark_damaged(digest)
    again = ehub.commit("demo/wine", src)
    assert (again.blobs_repaired, again.blobs_skipped) == (0, 1)
    assert _identity(blob) == before
    assert _flags(store) == set()

    assert ehub.store.replace_blob(src, digest) is False
    report = ehub.repair(str(tmp_path))
    assert (report.ok, report.repaired) == (True, [])
    assert _identity(blob) == before


def test_replace_blob_refuses_bytes_that_do_not_hash_to_the_digest(
    ehub: DataHub, tmp_path: Path
) -> None:
    src = write(tmp_path / "wine.csv", CSV)
    ehub.commit("demo/wine", src)
    digest = _b3(src.read_bytes())
    blob = blob_path(store_root(ehub), digest)
    _flip(blob)
    damaged = blob.read_bytes()
    wrong = write(tmp_path / "wrong.csv", CSV.replace("merlot", "Merlot"))
    with pytest.raises(IntegrityError) as excinfo:
        ehub.store.replace_blob(wrong, digest)
    assert excinfo.value.digests == [digest]
    assert blob.read_bytes() == damaged


def test_repair_from_any_folder_heals_a_flipped_and_a_deleted_blob(
    ehub: DataHub, tmp_path: Path
) -> None:
    good = tmp_path / "good"
    files = {f"f{i}.bin": os.urandom(1000 + i) for i in range(3)}
    for name, data in files.items():
        (good / "deep").mkdir(parents=True, exist_ok=True)
        (good / "deep" / name).write_bytes(data)
    write(good / "unrelated.txt", "not a blob of the store")
    ehub.commit("demo/bins", good / "deep", kind="files")
    store = store_root(ehub)
    flipped, deleted, healthy = (_b3(files[f"f{i}.bin"]) for i in range(3))
    _flip(blob_path(store, flipped))
    blob_path(store, deleted).unlink()
    untouched = _identity(blob_path(store, healthy))

    report = ehub.repair(str(good))
    assert report.ok
    assert sorted(report.repaired) == sorted([flipped, deleted])
    assert (report.corrupt, report.missing, report.not_found, report.refused) == ([], [], [], [])
    assert report.to_json()["source"] == str(good.resolve())
    assert _identity(blob_path(store, healthy)) == untouched
    for i in range(3):
        assert blob_path(store, _b3(files[f"f{i}.bin"])).read_bytes() == files[f"f{i}.bin"]
    assert ehub.verify().ok
    assert _flags(store) == set()


def test_repair_from_another_store_url(ehub: DataHub, tmp_path: Path) -> None:
    src = write(tmp_path / "wine.csv", CSV)
    ehub.commit("demo/wine", src)
    store = store_root(ehub)
    backup = tmp_path / "backup"
    shutil.copytree(store / "blobs", backup / "blobs")
    digest = _b3(src.read_bytes())
    _flip(blob_path(store, digest))

    report = ehub.repair(backup.as_uri(), "demo/wine")
    assert (report.ok, report.repaired, report.source) == (True, [digest], backup.as_uri())
    assert ehub.verify().ok


def test_repair_refuses_wrong_bytes_and_reports_what_it_cannot_find(
    ehub: DataHub, tmp_path: Path
) -> None:
    a = write(tmp_path / "a" / "wine.csv", CSV)
    b = write(tmp_path / "b" / "wine.csv", CSV + "4,pinot,9\n")
    ehub.commit("demo/a", a)
    ehub.commit("demo/b", b)
    store = store_root(ehub)
    da, db = _b3(a.read_bytes()), _b3(b.read_bytes())
    _flip(blob_path(store, da))
    blob_path(store, db).unlink()
    damaged = blob_path(store, da).read_bytes()

    # A store-layout folder whose copy of `da` is wrong and which lacks `db`.
    backup = tmp_path / "backup"
    wrong = blob_path(backup, da)
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(damaged)

    report = ehub.repair(str(backup))
    assert not report.ok
    assert (report.repaired, report.refused, report.not_found) == ([], [da], [db])
    assert (report.corrupt, report.missing) == ([da], [db])
    assert blob_path(store, da).read_bytes() == damaged, "a refused copy is not stored"
    assert _flags(store) == {da, db}
    assert ehub.verify().corrupt == [da]


def test_cli_verify_repair_refused_copy_fails_with_the_blob_still_corrupt(
    cli: Cli, tmp_path: Path
) -> None:
    src = write(tmp_path / "wine.csv", CSV)
    key = cli.json("commit", "demo/wine", str(src))["key"]
    digest = _b3(src.read_bytes())
    _flip(blob_path(cli.store, digest))
    backup = tmp_path / "backup"
    wrong = blob_path(backup, digest)
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"x" * src.stat().st_size)

    proc = cli.run("verify", key, "--repair", str(backup), "--json")
    assert digest in assert_cli_error(proc, IntegrityError)
    report = json.loads(proc.stdout)
    assert (report["ok"], report["refused"], report["corrupt"]) == (False, [digest], [digest])
    with cli.hub() as hub:
        assert hub.verify(key).corrupt == [digest]


def test_a_backend_without_its_own_healing_uses_the_default_replace(tmp_path: Path) -> None:
    """``BlobStore.replace_blob``'s default (delete, then ingest) on a third-party backend."""
    from tests.unit.memory_store import MemoryBlobStore

    store = MemoryBlobStore(f"memory://repair-{tmp_path.name}")
    src = write(tmp_path / "wine.csv", CSV)
    digest, written = store.ingest(src, None)
    assert written
    assert store.replace_blob(src, digest) is False, "a healthy blob is left alone"
    data, modified = store.blobs[digest]
    store.blobs[digest] = (data[:-1] + b"!", modified)
    assert not store.intact(digest)
    with pytest.raises(IntegrityError):
        store.replace_blob(write(tmp_path / "other.csv", "id\n1\n"), digest)
    assert store.replace_blob(src, digest) is True
    assert store.intact(digest)
    assert (store.damaged(), store.looks_damaged(digest, 1)) == (set(), False)
