"""The self-healing S3 store against a real S3 server (Ceph radosgw): a commit of the
original bytes replaces a damaged object, ``dhub verify --repair FROM`` restores objects
from a folder or another store URL, and a healthy object is never rewritten."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from digitalhub_airflow.errors import IntegrityError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store.s3 import IN_MEMORY

from ._helpers import b3_bytes, b3_file, write_csv

if TYPE_CHECKING:
    from conftest import Backend, RealServices

    from .conftest import Dhub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("backend", ["real"], indirect=True),
]


def _prefix(backend: Backend) -> str:
    return backend.store_url.removeprefix("s3://").split("/", 1)[1]


def _key(backend: Backend, digest: str) -> str:
    return f"{_prefix(backend)}/blobs/{digest[:2]}/{digest}"


def _services(backend: Backend) -> RealServices:
    assert backend.services is not None
    return backend.services


def _head(backend: Backend, bucket: str, digest: str) -> tuple[Any, Any]:
    head = _services(backend).client().head_object(Bucket=bucket, Key=_key(backend, digest))
    return head["ETag"], head["LastModified"]


def _get(backend: Backend, bucket: str, digest: str) -> bytes:
    body = _services(backend).client().get_object(Bucket=bucket, Key=_key(backend, digest))
    return bytes(body["Body"].read())


def _put(backend: Backend, bucket: str, digest: str, data: bytes) -> None:
    _services(backend).client().put_object(Bucket=bucket, Key=_key(backend, digest), Body=data)


def _flags(backend: Backend, bucket: str) -> set[str]:
    client = _services(backend).client()
    found = client.list_objects_v2(Bucket=bucket, Prefix=f"{_prefix(backend)}/damaged/")
    return {obj["Key"].rsplit("/", 1)[1] for obj in found.get("Contents", [])}


def test_a_flip_flagged_by_verify_is_healed_by_recommitting_the_source(
    hub: DataHub, backend: Backend, dhub: Dhub, s3_bucket: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "src" / "data.csv", "id,v", ["1,a", "2,b"])
    other = write_csv(tmp_path / "o" / "x.csv", "k", ["1"])
    first = hub.commit("s3/heal", source)
    hub.commit("s3/intact", other)
    digest, intact = b3_file(source), b3_file(other)
    untouched = _head(backend, s3_bucket, intact)
    tampered = source.read_bytes().replace(b"1,a", b"1,A")  # same length
    _put(backend, s3_bucket, digest, tampered)

    proc = dhub.run("verify", "--json")
    assert proc.returncode == IntegrityError.exit_code, proc.stderr
    assert json.loads(proc.stdout)["corrupt"] == [digest]
    assert _flags(backend, s3_bucket) == {digest}

    again = hub.commit("s3/heal", source)  # the hash cache knows the source
    assert (again.created, again.version.seq) == (False, first.version.seq)
    assert (again.blobs_written, again.blobs_skipped, again.blobs_repaired) == (0, 0, 1)
    assert _get(backend, s3_bucket, digest) == source.read_bytes()
    assert _flags(backend, s3_bucket) == set()
    assert hub.verify().ok
    assert _head(backend, s3_bucket, intact) == untouched, "a healthy object is not rewritten"


def test_a_truncated_large_object_is_healed_by_a_commit_without_verify(
    hub: DataHub, backend: Backend, s3_bucket: str, tmp_path: Path
) -> None:
    """Above IN_MEMORY a reused blob costs one HEAD: a wrong size is seen at once."""
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(IN_MEMORY + 4099))
    hub.commit("s3/big", path, kind="files")
    digest = b3_file(path)
    _put(backend, s3_bucket, digest, path.read_bytes()[:1000])
    healed = hub.commit("s3/big-again", path, kind="files")
    assert (healed.blobs_written, healed.blobs_repaired) == (0, 1)
    assert hub.verify().ok


def test_verify_repair_from_a_folder_and_from_another_store(
    hub: DataHub, backend: Backend, dhub: Dhub, s3_bucket: str, tmp_path: Path
) -> None:
    good = tmp_path / "good"
    contents = {f"f{i}.bin": os.urandom(2000 + i) for i in range(3)}
    for name, data in contents.items():
        good.mkdir(exist_ok=True)
        (good / name).write_bytes(data)
    key = hub.commit("s3/bins", good, kind="files").key
    flipped, deleted, healthy = (b3_bytes(contents[f"f{i}.bin"]) for i in range(3))
    untouched = _head(backend, s3_bucket, healthy)

    # A copy of the store under another prefix of the bucket: a store URL to repair from.
    client = _services(backend).client()
    backup_url = f"s3://{s3_bucket}/backup"
    for digest in (flipped, deleted, healthy):
        client.copy_object(
            Bucket=s3_bucket,
            Key=f"backup/blobs/{digest[:2]}/{digest}",
            CopySource={"Bucket": s3_bucket, "Key": _key(backend, digest)},
        )

    def damage() -> None:
        data = bytearray(contents["f0.bin"])
        data[7] ^= 0x01
        _put(backend, s3_bucket, flipped, bytes(data))
        client.delete_object(Bucket=s3_bucket, Key=_key(backend, deleted))

    damage()
    report = dhub.json("verify", key, "--repair", str(good))
    assert report["ok"] is True
    assert sorted(report["repaired"]) == sorted([flipped, deleted])
    assert (report["corrupt"], report["missing"], report["refused"]) == ([], [], [])
    assert _head(backend, s3_bucket, healthy) == untouched
    assert hub.verify().ok

    damage()
    report = dhub.json("verify", "--repair", backup_url)
    assert (report["ok"], report["source"]) == (True, backup_url)
    assert sorted(report["repaired"]) == sorted([flipped, deleted])
    assert _get(backend, s3_bucket, flipped) == contents["f0.bin"]
    assert _get(backend, s3_bucket, deleted) == contents["f1.bin"]
    assert _head(backend, s3_bucket, healthy) == untouched
    assert _flags(backend, s3_bucket) == set()


def test_verify_repair_refuses_a_copy_with_wrong_bytes(
    hub: DataHub, backend: Backend, dhub: Dhub, s3_bucket: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "src" / "data.csv", "id,v", ["1,a", "2,b"])
    key = hub.commit("s3/refuse", source).key
    digest = b3_file(source)
    tampered = source.read_bytes().replace(b"2,b", b"2,B")
    _put(backend, s3_bucket, digest, tampered)
    backup = tmp_path / "backup" / "blobs" / digest[:2]
    backup.mkdir(parents=True)
    (backup / digest).write_bytes(tampered)  # a store-layout folder with bad bytes

    proc = dhub.run("verify", key, "--repair", str(tmp_path / "backup"), "--json")
    assert proc.returncode == IntegrityError.exit_code, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["ok"], report["refused"], report["corrupt"]) == (False, [digest], [digest])
    assert _get(backend, s3_bucket, digest) == tampered, "a refused copy is never stored"
    assert hub.verify(key).corrupt == [digest]
