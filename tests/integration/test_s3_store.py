"""The S3 blob store against a real S3 server (Ceph radosgw): uploads, dedup, integrity,
and every way the store can refuse a commit without leaving anything in the catalog."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import blake3
import pytest

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.errors import IntegrityError, StoreError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import s3_client
from digitalhub_airflow.store.s3 import S3BlobStore

from ._helpers import (
    b3_bytes,
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
    from conftest import Backend, RealServices

    from .conftest import Dhub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("backend", ["real"], indirect=True),
]

BIG_SIZE = 100 * 1000 * 1000 + 4099  # ~100 MB, not a multiple of any part size
ETAG_RE = re.compile(r'"?[0-9a-f]{32}-(\d+)"?')


def _bucket(backend: Backend) -> str:
    return backend.store_url.removeprefix("s3://").split("/", 1)[0]


def _object_key(backend: Backend, digest: str) -> str:
    """Where DESIGN.md says a blob lives: ``blobs/<2 hex>/<digest>`` under the store root."""
    prefix = backend.store_url.removeprefix("s3://").split("/", 1)[1]
    return f"{prefix}/blobs/{digest[:2]}/{digest}"


def _services(backend: Backend) -> RealServices:
    assert backend.services is not None
    return backend.services


def _hub_with_store(backend: Backend, store: S3BlobStore) -> DataHub:
    """A hub on the backend's catalog with another store in front of it."""
    return DataHub(Catalog(backend.catalog_url, backend.catalog_schema), store, None, store.client)


def _assert_nothing_committed(hub: DataHub, dataset: str) -> None:
    assert version_count(hub, dataset) == 0, "a failed commit must leave no version"
    assert lease_count(hub) == 0, "a failed commit must release its store lease"


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A ~100 MB file of pseudo-random bytes and its BLAKE3 digest, computed here."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    hasher = blake3.blake3()
    block = blake3.blake3(b"seed").digest(length=1 << 20)
    written = 0
    with path.open("wb") as out:
        while written < BIG_SIZE:
            chunk = block[: BIG_SIZE - written]
            chunk = bytes([written % 251]) + chunk[1:]  # every MiB differs
            out.write(chunk)
            hasher.update(chunk)
            written += len(chunk)
    return path, hasher.hexdigest()


def test_big_file_is_multipart_uploaded_and_deduplicated(
    hub: DataHub,
    backend: Backend,
    s3_bucket: str,
    big_file: tuple[Path, str],
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whole blobs, as before chunking (test_chunked.py covers chunked files): also what a
    # store written before then holds, which stays readable and deduplicated.
    monkeypatch.setenv("DHUB_CHUNKED_MIN_BYTES", str(1 << 40))
    path, digest = big_file
    assert _bucket(backend) == s3_bucket
    result = hub.commit("s3/big", path)
    assert result.blobs_written == 1
    assert [(f["path"], f["size"], f["digest"]) for f in hub.files(result.key)] == [
        ("big.bin", BIG_SIZE, digest)
    ]

    client = _services(backend).client()
    head = client.head_object(Bucket=s3_bucket, Key=_object_key(backend, digest))
    assert head["ContentLength"] == BIG_SIZE
    match = ETAG_RE.fullmatch(head["ETag"])
    assert match, f"ETag {head['ETag']} is not a multipart ETag"
    assert int(match.group(1)) >= 2

    # The same file in another dataset: the existing blob is not uploaded again.
    again = hub.commit("s3/big-copy", path)
    assert again.created
    assert (again.blobs_written, again.blobs_skipped) == (0, 1)
    assert again.version.version_id == result.version.version_id
    after = client.head_object(Bucket=s3_bucket, Key=_object_key(backend, digest))
    assert (after["ETag"], after["LastModified"]) == (head["ETag"], head["LastModified"])
    assert blobs(hub) == {digest}

    # Reading it back verifies and reproduces the bytes.
    out = tmp_path / "out"
    (got,) = hub.get(files_key("s3", "big-copy"), out)
    assert b3_file(got) == digest


def test_duplicate_files_in_one_commit_are_uploaded_once(hub: DataHub, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(40):
        (tree / f"__init__{i}.py").write_bytes(b"# package\n")
    result = hub.commit("s3/dups", tree)
    assert blobs(hub) == {b3_bytes(b"# package\n")}
    assert (result.blobs_written, result.blobs_skipped) == (1, 39)


def test_reads_verify_digests(
    hub: DataHub, backend: Backend, dhub: Dhub, s3_bucket: str, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "src" / "data.csv", "id,v", ["1,a", "2,b"])
    version = hub.commit("s3/tampered", source).version
    other = hub.commit("s3/intact", write_csv(tmp_path / "o" / "x.csv", "k", ["1"])).version
    digest = b3_file(source)
    assert [f["digest"] for f in hub.files(version.key)] == [digest]

    # Someone overwrites the object with other bytes of the same length.
    tampered = source.read_bytes().replace(b"1,a", b"1,A")
    _services(backend).client().put_object(
        Bucket=s3_bucket, Key=_object_key(backend, digest), Body=tampered
    )

    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError) as excinfo:
        hub.get(version.key, dest)
    assert excinfo.value.digests == [digest]
    assert digest in str(excinfo.value)
    assert not any(p.is_file() for p in dest.rglob("*")), "no unverified file may be left"
    with pytest.raises(IntegrityError):
        hub.read_table(version.key)
    assert not hub.verify(version.key).ok
    assert hub.verify(other.key).ok, "other versions are unaffected"

    for args in (("verify",), ("verify", version.key)):
        proc = dhub.run(*args)
        assert proc.returncode != 0
        assert proc.returncode == IntegrityError.exit_code
        assert digest in proc.stderr + proc.stdout
    proc = dhub.run("verify", "--json", version.key)
    assert json.loads(proc.stdout)["corrupt"] == [digest]


def test_unreachable_endpoint_is_a_store_error(
    hub: DataHub, backend: Backend, dhub: Dhub, csv_file: Path
) -> None:
    store = S3BlobStore(backend.store_url, s3_client("http://127.0.0.1:9"))
    with _hub_with_store(backend, store) as broken:
        with pytest.raises(StoreError) as excinfo:
            broken.commit("s3/unreachable", csv_file)
        assert "127.0.0.1:9" in str(excinfo.value) or "unreachable" in str(excinfo.value)
    _assert_nothing_committed(hub, table_key("s3", "unreachable"))

    proc = dhub.run(
        "commit", "s3/unreachable", str(csv_file), AWS_ENDPOINT_URL_S3="http://127.0.0.1:9"
    )
    assert proc.returncode == StoreError.exit_code, proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_nothing_committed(hub, table_key("s3", "unreachable"))


@pytest.fixture
def deny_put(real_services: RealServices, s3_bucket: str) -> Iterator[None]:
    """A bucket policy that denies s3:PutObject to everyone, the owner included."""
    client = real_services.client()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{s3_bucket}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(policy))
    try:
        yield
    finally:
        client.delete_bucket_policy(Bucket=s3_bucket)


def test_read_only_store_refuses_commits_but_serves_reads(
    hub: DataHub,
    real_services: RealServices,
    s3_bucket: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    first = write_csv(tmp_path / "a" / "data.csv", "id", ["1", "2"])
    v1 = hub.commit("s3/readonly", first).version
    before = blob_infos(hub)

    request.getfixturevalue("deny_put")
    client = real_services.client()
    with pytest.raises(Exception) as probe:
        client.put_object(Bucket=s3_bucket, Key="probe", Body=b"x")
    assert "AccessDenied" in str(probe.value)

    second = write_csv(tmp_path / "b" / "data.csv", "id", ["3", "4"])
    with pytest.raises(StoreError) as excinfo:
        hub.commit("s3/readonly", second)
    assert s3_bucket in str(excinfo.value)
    assert version_count(hub, v1.dataset) == 1
    assert hub.resolve(v1.dataset).version_id == v1.version_id
    assert blob_infos(hub) == before
    assert lease_count(hub) == 0

    # Reads are still allowed and verified.
    (got,) = hub.get(v1.key, tmp_path / "out")
    assert got.read_bytes() == first.read_bytes()


def test_read_only_store_error_says_access_denied(
    hub: DataHub, tmp_path: Path, deny_put: None
) -> None:
    with pytest.raises(StoreError) as excinfo:
        hub.commit("s3/denied", write_csv(tmp_path / "d.csv", "id", ["1"]))
    message = str(excinfo.value)
    assert "denied" in message.lower()
    assert "unreachable" not in message


def test_missing_bucket_is_a_store_error_naming_it(
    hub: DataHub, backend: Backend, dhub: Dhub, csv_file: Path
) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = S3BlobStore(f"s3://{missing}/store", _services(backend).client())
    with _hub_with_store(backend, store) as broken, pytest.raises(StoreError) as excinfo:
        broken.commit("s3/nobucket", csv_file)
    assert missing in str(excinfo.value)
    _assert_nothing_committed(hub, table_key("s3", "nobucket"))

    proc = dhub.run("commit", "s3/nobucket", str(csv_file), DHUB_STORE_URL=f"s3://{missing}/x")
    assert proc.returncode == StoreError.exit_code, proc.stderr
    assert missing in proc.stderr
    _assert_nothing_committed(hub, table_key("s3", "nobucket"))


def test_missing_bucket_error_says_it_does_not_exist(
    hub: DataHub, backend: Backend, csv_file: Path
) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    store = S3BlobStore(f"s3://{missing}/store", _services(backend).client())
    with _hub_with_store(backend, store) as broken, pytest.raises(StoreError) as excinfo:
        broken.commit("s3/nobucket", csv_file)
    assert "does not exist" in str(excinfo.value)
