"""Atomicity, isolation and durability of commits, with real processes on both backends.

Concurrent committers are separate ``dhub`` processes; crashes are real SIGKILLs at the
named failpoints of the commit protocol (``DHUB_FAILPOINT``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from digitalhub_airflow.datasets.failpoints import COMMIT_POINTS, FIRST_PACK_POINT
from digitalhub_airflow.errors import ConflictError, DhubError, IntegrityError
from digitalhub_airflow.hub import DataHub

from ._helpers import (
    b3_file,
    blob_infos,
    blobs,
    files_key,
    lease_count,
    table_key,
    version_count,
    write_csv,
)

if TYPE_CHECKING:
    from conftest import Backend

    from .conftest import Dhub

WRITERS = 8
#: Killed commits leave their store lease; a gc that must run sets this short TTL.
SHORT_TTL_S = 2
#: Points reached before the catalog transaction commits.
BEFORE_COMMIT = [p for p in COMMIT_POINTS if p != "commit.after_transaction"]


def _source(tmp_path: Path, tag: str) -> Path:
    return write_csv(
        tmp_path / tag / "data.csv", "id,writer,payload", [f"{i},{tag},{tag}-{i}" for i in range(5)]
    )


def test_concurrent_committer_processes_get_one_gapless_chain(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    sources = [_source(tmp_path, f"w{i}") for i in range(WRITERS)]
    procs = [
        dhub.popen("commit", "acid/race", str(path), "--json", "-m", f"writer {i}")
        for i, path in enumerate(sources)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))

    assert all(r["created"] for r in reports)
    assert sorted(r["seq"] for r in reports) == list(range(1, WRITERS + 1)), "gap or duplicate"

    dataset = table_key("acid", "race")
    log = hub.log(dataset)
    assert len(log) == WRITERS
    by_seq = {v.seq: v for v in log}
    assert sorted(by_seq) == list(range(1, WRITERS + 1))
    for path, report in zip(sources, reports, strict=True):
        version = by_seq[report["seq"]]
        assert version.version_id == report["version_id"]
        assert version.message == report["message"]
        assert [f["digest"] for f in hub.files(version.key)] == [b3_file(path)]
    assert hub.resolve(dataset).seq == WRITERS, "latest must be the last version"
    assert by_seq[1].parent is None
    for seq in range(2, WRITERS + 1):
        assert by_seq[seq].parent == f"{dataset}:v{seq - 1}", "parents must form one chain"
    assert lease_count(hub) == 0, "finished commits must release their store leases"


@pytest.mark.parametrize("point", COMMIT_POINTS)
def test_commit_killed_at_failpoint_leaves_no_partial_version(
    hub: DataHub, dhub: Dhub, tmp_path: Path, point: str
) -> None:
    dataset = table_key("acid", "crash")
    v1 = hub.commit("acid/crash", _source(tmp_path, "base")).version
    new = _source(tmp_path, "new")

    killed = dhub.run("commit", "acid/crash", str(new), "--json", DHUB_FAILPOINT=point)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert killed.stdout == ""

    log = hub.log(dataset)
    if point in BEFORE_COMMIT:
        assert [v.version_id for v in log] == [v1.version_id], "no new version may be visible"
        assert hub.resolve(dataset).version_id == v1.version_id
    else:
        assert [v.seq for v in log] == [2, 1]
        v2 = log[0]
        assert hub.resolve(dataset).version_id == v2.version_id
        assert v2.parent == f"{dataset}:v1"
        files = hub.files(v2.key)
        assert [f["digest"] for f in files] == [b3_file(new)]
        assert {f["digest"] for f in files} <= blobs(hub), "a committed version lacks a blob"
        assert hub.verify(v2.key).ok
        assert hub.read_table(v2.key).num_rows == 5

    # The killed process's store lease names a dead process on this host: gc takes it
    # over at once (a live or remote holder keeps it: test_leases.py, the tests below).
    hub.gc(grace=timedelta(0))
    assert lease_count(hub) == 0

    rerun = hub.commit("acid/crash", new)
    assert rerun.version.seq == 2
    assert rerun.created == (point in BEFORE_COMMIT)
    assert rerun.version.parent == f"{dataset}:v1"
    assert version_count(hub, dataset) == 2
    assert hub.resolve(dataset).version_id == rerun.version.version_id
    assert [f["digest"] for f in hub.files(rerun.key)] == [b3_file(new)]

    verify = dhub.run("verify", "--json")
    assert verify.returncode == 0, verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] and report["corrupt"] == [] and report["missing"] == []
    assert report["checked"] == len(blobs(hub))


@pytest.mark.parametrize(
    "point", [FIRST_PACK_POINT, "commit.after_ingest", "commit.after_transaction"]
)
def test_chunked_commit_killed_at_failpoint_leaves_no_partial_version(
    hub: DataHub, dhub: Dhub, tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same protocol for a large file stored as chunks in packs (sizes scaled down)."""
    small = {"DHUB_CHUNKED_MIN_BYTES": str(256 << 10), "DHUB_CHUNK_AVG_BYTES": str(16 << 10)}
    for name, value in small.items():
        monkeypatch.setenv(name, value)
    dataset = files_key("acid", "chunked")
    big = tmp_path / "big" / "big.bin"
    big.parent.mkdir()
    data = bytearray(random.Random(7).randbytes(2 << 20))
    big.write_bytes(data)
    v1 = hub.commit("acid/chunked", big, kind="files").version
    data[1 << 20 : (1 << 20) + 4096] = bytes(4096)
    big.write_bytes(data)

    killed = dhub.run(
        "commit", "acid/chunked", str(big), "--kind", "files", DHUB_FAILPOINT=point, **small
    )
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    log = hub.log(dataset)
    if point != "commit.after_transaction":
        assert [v.version_id for v in log] == [v1.version_id], "no new version may be visible"
    else:
        assert [v.seq for v in log] == [2, 1] and hub.verify(log[0].key).ok

    gc = hub.gc(grace=timedelta(0))  # removes the killed commit's packs and manifest
    assert hub.verify().ok, "gc kept every pack a version uses"
    rerun = hub.commit("acid/chunked", big, kind="files")
    assert rerun.version.seq == 2 and rerun.created == (point != "commit.after_transaction")
    assert [f["digest"] for f in hub.files(rerun.key)] == [b3_file(big)]
    (got,) = hub.get(rerun.key, tmp_path / "out")
    assert got.read_bytes() == data
    assert hub.get(v1.key, tmp_path / "v1")[0].stat().st_size == len(data)
    if point == FIRST_PACK_POINT:
        assert gc.deleted, "the packs of the killed commit were unreferenced"


def test_recommitting_same_content_is_a_no_op(hub: DataHub, dhub: Dhub, tmp_path: Path) -> None:
    path = _source(tmp_path, "same")
    dataset = table_key("acid", "same")
    first = hub.commit("acid/same", path, message="first")
    assert first.created
    stored = blob_infos(hub)
    assert {b.digest for b in stored} == {b3_file(path)}

    again = hub.commit("acid/same", path, message="second try")
    assert not again.created
    assert again.version.version_id == first.version.version_id
    assert again.version.seq == 1
    assert again.version.message == "first", "an unchanged commit must not rewrite metadata"
    assert again.blobs_written == 0
    assert blob_infos(hub) == stored, "nothing may be rewritten"
    assert version_count(hub, dataset) == 1

    # Once more with the file old enough to be hash-cached, through the API and the CLI.
    old = time.time() - 3600
    os.utime(path, (old, old))
    for _ in range(2):
        cached = hub.commit("acid/same", path)
        assert (cached.created, cached.version.seq, cached.blobs_written) == (False, 1, 0)
    report = dhub.json("commit", "acid/same", str(path))
    assert (report["created"], report["seq"], report["blobs_written"]) == (False, 1, 0)

    assert blob_infos(hub) == stored
    assert version_count(hub, dataset) == 1
    assert hub.resolve(dataset).version_id == first.version.version_id


def test_gc_removes_only_old_unreferenced_blobs(
    hub: DataHub, dhub: Dhub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = [hub.commit("acid/gc", _source(tmp_path, f"keep{i}")).version for i in range(2)]
    hub.commit("acid/gc-files", tmp_path / "keep0")  # the same blob referenced twice
    referenced = blobs(hub)
    orphan_source = _source(tmp_path, "orphan")
    orphan = b3_file(orphan_source)
    assert orphan not in referenced

    killed = dhub.run("commit", "acid/gc", str(orphan_source), DHUB_FAILPOINT="commit.after_ingest")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert blobs(hub) == referenced | {orphan}, "the killed commit stored exactly its blob"
    assert version_count(hub, table_key("acid", "gc")) == 2

    # The killed commit's lease names a dead process on this host: gc takes it over at
    # once, and the grace period alone keeps the young orphan.
    ttl = {"DHUB_LEASE_TTL": str(SHORT_TTL_S)}

    young = dhub.json("gc", "--grace", "1h", **ttl)
    assert young["deleted"] == [] and young["kept_young"] == 1
    assert young["scanned"] == len(referenced) + 1
    assert blobs(hub) == referenced | {orphan}

    dry = dhub.json("gc", "--grace", "0s", "--dry-run", **ttl)
    assert dry["dry_run"] and dry["deleted"] == [orphan]
    assert dry["bytes_freed"] == orphan_source.stat().st_size
    assert blobs(hub) == referenced | {orphan}, "a dry run deletes nothing"

    monkeypatch.setenv("DHUB_LEASE_TTL", str(SHORT_TTL_S))
    report = hub.gc(grace=timedelta(0))
    assert report.deleted == [orphan]
    assert report.bytes_freed == orphan_source.stat().st_size
    assert blobs(hub) == referenced, "referenced blobs are never deleted"
    assert lease_count(hub) == 0

    for dataset in (table_key("acid", "gc"), table_key("acid", "gc-files")):
        for version in hub.log(dataset):
            assert hub.verify(version.key).ok
    assert [v.version_id for v in reversed(hub.log(table_key("acid", "gc")))] == [
        v.version_id for v in kept
    ]
    assert hub.gc(grace=timedelta(0)).deleted == []

    # The orphan's content can still be committed afterwards: its blob is stored again.
    again = hub.commit("acid/gc", orphan_source)
    assert again.created and again.version.seq == 3 and again.blobs_written == 1
    assert orphan in blobs(hub)
    assert hub.verify().ok


def test_verify_reports_a_missing_blob(hub: DataHub, dhub: Dhub, tmp_path: Path) -> None:
    version = hub.commit("acid/lost", _source(tmp_path, "lost")).version
    digest = hub.files(version.key)[0]["digest"]
    hub.store.delete(digest)  # the store lost a blob behind the catalog's back
    report = hub.verify(version.key)
    assert not report.ok and report.missing == [digest]
    proc = dhub.run("verify", version.key)
    assert proc.returncode == IntegrityError.exit_code
    assert digest in proc.stderr


def test_gc_never_deletes_a_blob_a_running_commit_references(
    hub: DataHub, backend: Backend, dhub: Dhub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path, "slow")
    digest = b3_file(source)
    # An old orphan with the same content: left by a commit killed after uploading it.
    killed = dhub.run("commit", "acid/slow", str(source), DHUB_FAILPOINT="commit.after_ingest")
    assert killed.returncode == -signal.SIGKILL
    assert digest in blobs(hub)

    gc_reports = []

    def long_upload(_size: int) -> None:
        """The commit is still running (inside its lease) when the TTL has passed."""
        time.sleep(SHORT_TTL_S + 0.5)
        with backend.hub() as other, monkeypatch.context() as patch:
            patch.setenv("DHUB_LEASE_TTL", str(SHORT_TTL_S))
            with contextlib.suppress(ConflictError):  # refusing is a correct outcome
                gc_reports.append(other.gc(grace=timedelta(0)))

    try:
        result = hub.commit("acid/slow", source, progress=long_upload)
    except DhubError:
        return  # a commit that fails because it lost its lease is also correct
    assert hub.verify(result.key).ok, f"v{result.version.seq} references a deleted blob"
    assert digest in blobs(hub)


def test_store_verify_reports_blobs_versions_reference_but_store_lost(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    version = hub.commit("acid/lost-all", _source(tmp_path, "lost-all")).version
    digest = hub.files(version.key)[0]["digest"]
    hub.store.delete(digest)
    proc = dhub.run("verify", "--json")
    assert proc.returncode == IntegrityError.exit_code
    assert json.loads(proc.stdout)["missing"] == [digest]


def _partial_uploads(backend: Backend) -> list[str]:
    """What an interrupted upload leaves: temp files (folder) or multipart uploads (S3)."""
    if backend.services is None:
        tmp = Path(backend.store_url) / "tmp"
        return sorted(p.name for p in tmp.glob("ingest-*")) if tmp.is_dir() else []
    bucket = backend.store_url.removeprefix("s3://").split("/", 1)[0]
    listed = backend.services.client().list_multipart_uploads(Bucket=bucket)
    return sorted(u["Key"] for u in listed.get("Uploads", []))


def test_gc_cleans_up_after_a_commit_killed_mid_upload(
    hub: DataHub, backend: Backend, dhub: Dhub, tmp_path: Path
) -> None:
    """What a crash mid-upload leaves (a temp file, an open multipart upload) gc removes."""
    # Two files uploaded in parallel; the commit dies when the smaller one is stored,
    # while the larger one (a multipart upload on S3) is still being written.
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, mib in (("small.bin", 40), ("large.bin", 160)):
        with (tree / name).open("wb") as out:
            for _ in range(mib):
                out.write(os.urandom(1 << 20))
    # Whole blobs (chunked files are single PUTs of packs, nothing partial on S3).
    killed = dhub.run(
        "commit",
        "acid/killed-upload",
        str(tree),
        DHUB_FAILPOINT="commit.after_first_blob",
        DHUB_CHUNKED_MIN_BYTES=str(1 << 40),
    )
    killed_at = time.monotonic()  # its lease was taken before this
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if not _partial_uploads(backend):
        pytest.skip("the large upload finished before the kill")
    assert version_count(hub, "store://acid/dataitem/files/killed-upload") == 0

    time.sleep(max(0.0, killed_at + SHORT_TTL_S + 0.5 - time.monotonic()))
    dhub.json("gc", "--grace", "0s", DHUB_LEASE_TTL=str(SHORT_TTL_S))
    assert _partial_uploads(backend) == [], "gc left the interrupted upload behind"


def test_gc_takes_over_the_lease_of_a_commit_killed_on_this_host_at_once(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    """The holder is provably dead (this host, pid gone): no TTL to wait for."""
    hub.commit("acid/dead", _source(tmp_path, "kept"))
    referenced = blobs(hub)
    orphan_source = _source(tmp_path, "orphan")
    killed = dhub.run(
        "commit", "acid/dead", str(orphan_source), DHUB_FAILPOINT="commit.after_ingest"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert lease_count(hub) == 1
    assert "DHUB_LEASE_TTL" not in os.environ  # the default hour

    report = hub.gc(grace=timedelta(0))
    assert report.deleted == [b3_file(orphan_source)]
    assert blobs(hub) == referenced
    assert lease_count(hub) == 0
    assert hub.commit("acid/dead", orphan_source).version.seq == 2


def test_a_lease_of_another_host_is_kept_until_its_ttl(
    hub: DataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digitalhub_airflow.catalog.models import StoreLease, utcnow
    from digitalhub_airflow.datasets.leases import host_id

    other_host = "0" * 12 if host_id() != "0" * 12 else "1" * 12
    with hub.catalog.session() as session:  # a commit on another host, its pid unknown here
        session.add(
            StoreLease(owner=f"{'c' * 16}.{other_host}.1.1", mode="commit", acquired_at=utcnow())
        )
    with pytest.raises(ConflictError):
        hub.gc(grace=timedelta(0))
    assert lease_count(hub) == 1

    time.sleep(SHORT_TTL_S + 0.5)
    monkeypatch.setenv("DHUB_LEASE_TTL", str(SHORT_TTL_S))
    hub.gc(grace=timedelta(0))
    assert lease_count(hub) == 0
