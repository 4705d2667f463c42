"""Blob store on any S3 API (MinIO, Ceph RGW, AWS): ``s3://bucket/prefix``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from digitalhub_airflow.errors import InvalidSourceError, NotFoundError, StoreError
from digitalhub_airflow.hashing import hash_bytes, hash_file, new_hasher
from digitalhub_airflow.store.base import DIGEST_RE, BlobInfo, BlobStore, blob_key

_KNOWN_CODES = ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
#: Blobs up to this size are read once, verified and sent in one conditional PUT.
IN_MEMORY = 16 * 1024 * 1024
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 32 * 1024 * 1024
MAX_CONCURRENCY = 8


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    if not url.startswith("s3://"):
        raise StoreError(f"{url!r} is not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise StoreError(f"{url!r} names no bucket")
    return bucket, prefix.strip("/")


class _VerifyingReader:
    """A forward-only reader that hashes what is uploaded and fails at EOF on a mismatch,
    so a file changed after hashing aborts the multipart upload instead of storing bytes
    under the wrong name. It has no ``seek``: s3transfer then reads it in order."""

    def __init__(self, raw: BinaryIO, digest: str, source: Path) -> None:
        self.raw, self.digest, self.source = raw, digest, source
        self.hasher = new_hasher()

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        if chunk:
            self.hasher.update(chunk)
        elif self.hasher.hexdigest() != self.digest:
            raise InvalidSourceError(f"{self.source} changed while it was being committed")
        return chunk


class S3BlobStore(BlobStore):
    hashes_before_write = True
    ingest_threads = 16

    def __init__(self, url: str, client: Any) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.client = client

    def _key(self, digest: str) -> str:
        key = blob_key(digest)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, exc: Exception, action: str) -> StoreError:
        from botocore.exceptions import ClientError

        code = ""
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
        else:  # boto3 wraps upload errors in S3UploadFailedError("... (Code) ...")
            code = next((c for c in _KNOWN_CODES if f"({c})" in str(exc)), "")
        if code:
            if code == "NoSuchBucket" or (code == "404" and action == "access"):
                return StoreError(f"bucket {self.bucket!r} of store {self.url} does not exist")
            if code in ("AccessDenied", "403"):
                return StoreError(f"access denied to store {self.url} ({action})")
            return StoreError(f"store {self.url}: {action} failed: {code or exc}")
        return StoreError(f"store {self.url} is unreachable: {exc}")

    def _errors(self) -> tuple[type[Exception], ...]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError, S3UploadFailedError)

    def has(self, digest: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(exc, "access") from exc
        except self._errors() as exc:
            raise self._fail(exc, "access") from exc
        return True

    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        from boto3.s3.transfer import TransferConfig

        digest = digest or hash_file(source)
        if source.stat().st_size <= IN_MEMORY:
            data = source.read_bytes()  # the bytes hashed are the bytes sent
            if hash_bytes(data) != digest:
                raise InvalidSourceError(f"{source} changed while it was being committed")
            return digest, self._put_if_absent(data, digest)
        if self.has(digest):
            return digest, False
        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            max_concurrency=MAX_CONCURRENCY,
            use_threads=True,
        )
        try:
            with source.open("rb") as raw:
                reader = _VerifyingReader(raw, digest, source)
                self.client.upload_fileobj(reader, self.bucket, self._key(digest), Config=config)
        except self._errors() as exc:
            raise self._fail(exc, "write") from exc
        return digest, True

    def sync(self) -> None:
        """Nothing to do: S3 acknowledges a PUT or a multipart completion once durable."""

    def _put_if_absent(self, data: bytes, digest: str) -> bool:
        """One conditional PUT (``If-None-Match: *``): the existence check and the upload
        in a single round trip. A store that ignores the condition rewrites the same bytes."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(digest), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412"):
                return False
            if code in ("ConditionalRequestConflict", "409") and self.has(digest):
                return False  # a concurrent writer of the same content won
            raise self._fail(exc, "write") from exc
        except self._errors() as exc:
            raise self._fail(exc, "write") from exc
        return True

    def open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError(f"blob {digest} is missing from store {self.url}") from exc
            raise self._fail(exc, "read") from exc
        except self._errors() as exc:
            raise self._fail(exc, "read") from exc
        return closing(response["Body"])

    def iter_blobs(self) -> Iterator[BlobInfo]:
        prefix = f"{self.prefix}/blobs/" if self.prefix else "blobs/"
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = os.path.basename(obj["Key"])
                    if DIGEST_RE.fullmatch(name):
                        yield BlobInfo(name, int(obj["Size"]), obj["LastModified"])
        except self._errors() as exc:
            raise self._fail(exc, "list") from exc

    def sweep_partial(self, older_than: datetime, dry_run: bool = False) -> int:
        """Abort multipart uploads of blobs that an interrupted commit left open."""
        prefix = f"{self.prefix}/blobs/" if self.prefix else "blobs/"
        removed = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < older_than:
                        if not dry_run:
                            self.client.abort_multipart_upload(
                                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                            )
                        removed += 1
        except self._errors() as exc:
            raise self._fail(exc, "list") from exc
        return removed

    def delete(self, digest: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(digest))
        except self._errors() as exc:
            raise self._fail(exc, "delete") from exc

    def location(self, digest: str) -> str:
        return f"s3://{self.bucket}/{self._key(digest)}"
