"""Chunked large files on both backends (the folder store and S3): an edit stores little
again in few objects, every version reads back verified, a damaged chunk is named and
healed, gc keeps what versions use. Sizes scaled down 64x through the two settings."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from digitalhub_airflow.hub import DataHub

from ._helpers import b3_bytes, blobs

pytestmark = pytest.mark.integration

KIB, MIB = 1 << 10, 1 << 20
FILE = 8 * MIB
EDIT = 8 * KIB


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHUB_CHUNKED_MIN_BYTES", str(256 * KIB))
    monkeypatch.setenv("DHUB_CHUNK_AVG_BYTES", str(16 * KIB))


def test_an_edited_large_file_is_stored_again_in_a_few_chunks(hub: DataHub, tmp_path: Path) -> None:
    data = bytearray(random.Random(11).randbytes(FILE))
    path = tmp_path / "src" / "big.bin"
    path.parent.mkdir()
    path.write_bytes(data)
    first = hub.commit("chunks/big", path, kind="files")
    digest = hub.files(first.key)[0]["digest"]
    assert digest == b3_bytes(bytes(data)), "a file's digest is its whole content's BLAKE3"
    objects = sum(1 for _ in hub.store.iter_blobs())
    assert objects <= FILE // (512 * KIB) + 1, f"{objects} objects: chunks are packed"
    stored = sum(b.size for b in hub.store.iter_blobs())
    assert stored == FILE

    data[FILE // 2 : FILE // 2 + EDIT] = random.Random(12).randbytes(EDIT)
    path.write_bytes(data)
    second = hub.commit("chunks/big", path, kind="files")
    again = sum(b.size for b in hub.store.iter_blobs()) - stored
    assert 0 < again <= 0.02 * FILE, f"{again} bytes stored again for an {EDIT}-byte edit"
    assert sum(1 for _ in hub.store.iter_blobs()) == objects + 1, "one new pack"

    (got,) = hub.get(second.key, tmp_path / "out")
    assert got.read_bytes() == data
    assert hub.verify().ok
    assert hub.gc(grace=timedelta(0)).deleted == [], "every pack is referenced"

    # A damaged chunk is named with the versions using it; a commit of the bytes heals it.
    manifest = hub.store.chunk_manifest(hub.files(second.key)[0]["digest"])
    assert manifest is not None
    chunk = manifest.chunks[len(manifest.chunks) // 2]
    pack = bytearray(hub.store.read_range(chunk.pack, 0, _size(hub, chunk.pack)))
    pack[chunk.offset] ^= 0x01
    _overwrite(hub, chunk.pack, bytes(pack))
    report = hub.verify(second.key)
    assert [(c.digest, c.state) for c in report.chunks] == [(chunk.digest, "corrupt")]
    assert report.chunks[0].versions == ["store://chunks/dataitem/files/big:v2"]
    healed = hub.commit("chunks/big-copy", path, kind="files")
    assert healed.blobs_repaired == 1
    assert hub.verify(second.key).ok


def _size(hub: DataHub, digest: str) -> int:
    return next(b.size for b in hub.store.iter_blobs() if b.digest == digest)


def _overwrite(hub: DataHub, digest: str, data: bytes) -> None:
    """Damage a stored blob in place (bypassing the store's checks), on either backend."""
    location = hub.store.location(digest)
    if location.startswith("file://"):
        Path(location.removeprefix("file://")).write_bytes(data)
        return
    bucket, _, key = location.removeprefix("s3://").partition("/")
    hub.store.client.put_object(Bucket=bucket, Key=key, Body=data)  # type: ignore[attr-defined]
    assert digest in blobs(hub)
