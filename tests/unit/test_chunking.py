"""Content-defined chunking of large files on the folder store: what is stored again after
an edit, reassembly, verify naming damaged chunks, healing, gc, and versions stored whole
before chunking. Sizes are scaled down 64x (a 16 MiB file, 16 KiB chunks, 512 KiB packs:
the 1 GiB / 1 MiB / 32 MiB of the defaults) through the two settings."""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path

import blake3
import pytest

from digitalhub_airflow.datasets.chunking import Chunker, ChunkingPolicy
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store.chunks import ChunkManifest

KIB, MIB = 1 << 10, 1 << 20
FILE = 16 * MIB
EDIT = 16 * KIB  # 1/1024 of the file, as 1 MiB of 1 GiB


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHUB_CHUNKED_MIN_BYTES", str(256 * KIB))
    monkeypatch.setenv("DHUB_CHUNK_AVG_BYTES", str(16 * KIB))


def _random(size: int, seed: int) -> bytearray:
    return bytearray(random.Random(seed).randbytes(size))


def _write(path: Path, data: bytes | bytearray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _stored_bytes(hub: DataHub) -> int:
    return sum(b.size for b in hub.store.iter_blobs())


def _manifest(hub: DataHub, key: str) -> ChunkManifest:
    digest = hub.files(key)[0]["digest"]
    manifest = hub.store.chunk_manifest(digest)
    assert manifest is not None, "a large file must be stored chunked"
    return manifest


def _edit_middle(data: bytearray, seed: int) -> bytearray:
    edited = bytearray(data)
    edited[FILE // 2 : FILE // 2 + EDIT] = random.Random(seed).randbytes(EDIT)
    return edited


def test_an_edit_in_the_middle_stores_under_2_percent_again(ehub: DataHub, tmp_path: Path) -> None:
    data = _random(FILE, 1)
    path = _write(tmp_path / "src" / "big.bin", data)
    first = ehub.commit("p/big", path, kind="files")
    # The file's digest is the whole file's BLAKE3, as b3sum prints it.
    assert ehub.files(first.key)[0]["digest"] == blake3.blake3(data).hexdigest()
    packs = {b.digest for b in ehub.store.iter_blobs()}
    assert len(packs) <= FILE // (32 * 16 * KIB) + 1, "new chunks go to ~32-chunk packs"
    before = _stored_bytes(ehub)
    assert before == FILE, "a first commit stores each byte once"

    edited = _edit_middle(data, 2)
    _write(path, edited)
    second = ehub.commit("p/big", path, kind="files")
    assert second.created and second.version.seq == 2
    again = _stored_bytes(ehub) - before
    assert 0 < again <= 0.02 * FILE, f"{again} bytes stored again for a {EDIT}-byte edit"
    assert _manifest(ehub, second.key).packs & packs, "unchanged chunks are referenced"

    for version, content in ((first, data), (second, edited)):
        out = ehub.get(version.key, tmp_path / f"out{version.version.seq}")
        assert out[0].read_bytes() == content
        assert ehub.verify(version.key).ok
    with ehub.store.open(ehub.files(second.key)[0]["digest"]) as stream:
        assert stream.read(64 * KIB) == edited[: 64 * KIB], "open reads a chunked file too"


def test_versions_stored_whole_before_chunking_stay_readable(
    ehub: DataHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _random(FILE // 4, 3)
    path = _write(tmp_path / "src" / "big.bin", data)
    monkeypatch.setenv("DHUB_CHUNKED_MIN_BYTES", str(1 << 40))  # as before this change
    whole = ehub.commit("p/old", path, kind="files")
    digest = ehub.files(whole.key)[0]["digest"]
    assert ehub.store.has(digest) and ehub.store.chunk_manifest(digest) is None

    monkeypatch.delenv("DHUB_CHUNKED_MIN_BYTES")
    monkeypatch.setenv("DHUB_CHUNKED_MIN_BYTES", str(256 * KIB))
    again = ehub.commit("p/old", path, kind="files")
    assert (again.created, again.blobs_written) == (False, 0), "the whole blob is reused"
    _write(path, data + b"tail")
    chunked = ehub.commit("p/old", path, kind="files")
    assert ehub.store.chunk_manifest(ehub.files(chunked.key)[0]["digest"]) is not None
    assert ehub.get(whole.key, tmp_path / "a")[0].read_bytes() == data
    assert ehub.get(chunked.key, tmp_path / "b")[0].read_bytes() == data + b"tail"
    assert ehub.verify().ok


def _damage_a_chunk(hub: DataHub, key: str) -> tuple[str, str]:
    """Flip one byte of a chunk in its pack; (chunk digest, pack digest)."""
    chunk = _manifest(hub, key).chunks[3]
    pack = Path(hub.store.location(chunk.pack).removeprefix("file://"))
    raw = bytearray(pack.read_bytes())
    raw[chunk.offset + 5] ^= 0xFF
    pack.write_bytes(raw)
    return chunk.digest, chunk.pack


def test_verify_names_the_damaged_chunk_and_a_commit_heals_it(
    ehub: DataHub, tmp_path: Path
) -> None:
    data = _random(FILE // 4, 4)
    path = _write(tmp_path / "src" / "big.bin", data)
    version = ehub.commit("p/dmg", path, kind="files").version
    file_digest = ehub.files(version.key)[0]["digest"]
    chunk, pack = _damage_a_chunk(ehub, version.key)

    report = ehub.verify(version.key)
    assert not report.ok and report.corrupt == [file_digest]
    assert [(c.digest, c.pack, c.state) for c in report.chunks] == [(chunk, pack, "corrupt")]
    assert report.chunks[0].files == [file_digest]
    assert report.chunks[0].versions == ["store://p/dataitem/files/dmg:v1"]
    assert {file_digest, pack} <= ehub.store.damaged(), "verify flags the file and its pack"
    with pytest.raises(Exception, match="corrupt"):
        ehub.get(version.key, tmp_path / "bad")

    os.utime(path)  # the same bytes again, committed: the flagged chunk is rewritten
    healed = ehub.commit("p/dmg", path, kind="files")
    assert (healed.created, healed.blobs_repaired) == (False, 1)
    # The same chunks pack the same way: the damaged pack itself is rewritten.
    assert ehub.store.verify(pack) and pack not in ehub.store.damaged()
    assert ehub.get(version.key, tmp_path / "good")[0].read_bytes() == data
    assert ehub.verify(version.key).ok
    assert file_digest not in ehub.store.damaged()


def test_repair_from_a_folder_of_originals_heals_the_damaged_pack(
    ehub: DataHub, tmp_path: Path
) -> None:
    data = _random(FILE // 4, 5)
    path = _write(tmp_path / "src" / "big.bin", data)
    version = ehub.commit("p/rep", path, kind="files").version
    _chunk, pack = _damage_a_chunk(ehub, version.key)

    report = ehub.repair(str(path.parent))
    assert report.ok, report.to_json()
    assert report.repaired and report.chunks == []
    assert ehub.get(version.key, tmp_path / "out")[0].read_bytes() == data
    # The file is cut again; its chunks pack as before, so the pack itself is rewritten.
    assert ehub.store.verify(pack) and pack not in ehub.store.damaged()
    assert ehub.gc(grace=timedelta(0)).deleted == []
    assert ehub.verify().ok


def test_gc_keeps_referenced_packs_and_collects_an_unreferenced_chunked_file(
    ehub: DataHub, tmp_path: Path
) -> None:
    kept = _write(tmp_path / "src" / "kept.bin", _random(FILE // 4, 6))
    version = ehub.commit("p/gc", kept, kind="files").version
    referenced = {b.digest for b in ehub.store.iter_blobs()}
    # What a commit killed before its transaction leaves: packs and a chunk manifest.
    orphan = _write(tmp_path / "orphan" / "o.bin", _random(FILE // 4, 7))
    chunker = Chunker(ehub.store, {}, set(), ChunkingPolicy.from_environment())
    stored = chunker.ingest(orphan, orphan.stat().st_size, None)
    assert stored is not None and stored[1]
    orphan_packs = {b.digest for b in ehub.store.iter_blobs()} - referenced
    assert orphan_packs

    young = ehub.gc(grace=timedelta(hours=1))
    assert young.deleted == [] and young.manifests_deleted == []
    report = ehub.gc(grace=timedelta(0))
    assert report.manifests_deleted == [stored[0]]
    assert set(report.deleted) == orphan_packs
    assert {b.digest for b in ehub.store.iter_blobs()} == referenced
    assert ehub.verify(version.key).ok


def test_an_unreadable_chunk_manifest_is_reported_and_healed_by_a_commit(
    ehub: DataHub, tmp_path: Path
) -> None:
    data = _random(FILE // 8, 8)
    path = _write(tmp_path / "src" / "big.bin", data)
    version = ehub.commit("p/man", path, kind="files").version
    digest = ehub.files(version.key)[0]["digest"]
    manifest = Path(ehub.store.location(digest).removeprefix("file://")).parents[2]
    (manifest / "chunked" / digest[:2] / digest).write_bytes(b"{not json")

    report = ehub.verify(version.key)
    assert report.corrupt == [digest] and digest in ehub.store.damaged()
    with pytest.raises(Exception, match="unreadable"):
        ehub.get(version.key, tmp_path / "bad")
    healed = ehub.commit("p/man", path, kind="files")
    assert healed.blobs_repaired == 1
    assert ehub.get(version.key, tmp_path / "good")[0].read_bytes() == data
