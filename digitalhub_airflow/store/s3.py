"""Blob store on any S3 API (MinIO, Ceph RGW, AWS): ``s3://bucket/prefix``.

Everything the suite knows about S3 is here:

- options (:class:`StoreConfig`): ``endpoint_url``, ``region_name``,
  ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``,
  ``profile_name``, or ``client`` (a ready boto3 client); without credentials boto3's own
  chain (``AWS_*`` variables, files, instance roles) applies;
- the environment: the endpoint from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
  (boto3's names), retries from ``AWS_MAX_ATTEMPTS``;
- Airflow connections of type ``aws``: extra ``store_url`` (``s3://bucket/prefix``),
  login/password (or extras ``aws_access_key_id``/``aws_secret_access_key``), extras
  ``aws_session_token``, ``region_name``, ``profile_name``, ``endpoint_url`` (or
  ``service_config: {s3: {endpoint_url}}``);
- a workload elsewhere gets ``DHUB_STORE_URL``, ``AWS_ENDPOINT_URL_S3`` and
  ``AWS_DEFAULT_REGION``, and, for a connection, the credentials as secrets;
- ``s3://`` commit sources are listed and downloaded with the same client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, closing
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from digitalhub_airflow.errors import (
    IntegrityError,
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
    StoreError,
)
from digitalhub_airflow.hashing import hash_bytes, hash_file, new_hasher
from digitalhub_airflow.store.base import (
    DAMAGED,
    DIGEST_RE,
    BlobInfo,
    BlobStore,
    ConnectionFields,
    RemoteFile,
    StoreConfig,
    blob_key,
    damaged_key,
)
from digitalhub_airflow.store.chunks import CHUNKED, ChunkManifest, chunked_key

_KNOWN_CODES = ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
#: Blobs up to this size are read once, verified and sent in one conditional PUT.
IN_MEMORY = 16 * 1024 * 1024
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 32 * 1024 * 1024
MAX_CONCURRENCY = 8


#: Options that go to ``boto3.session.Session``.
SESSION_OPTIONS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region_name",
    "profile_name",
)
OPTIONS = (*SESSION_OPTIONS, "endpoint_url", "client")
#: Extras of an aws connection this backend cannot honour: refused, never ignored.
UNSUPPORTED_EXTRAS = ("role_arn", "assume_role_method", "assume_role_kwargs")


def s3_client(
    endpoint_url: str | None = None, session: Any | None = None, max_pool_connections: int = 64
) -> Any:
    """A boto3 S3 client with path-style addressing and a pool big enough for parallel I/O.

    ``session`` is a boto3 Session; without one, the standard AWS environment variables
    and files are used.
    """
    import boto3
    from botocore.config import Config

    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
    config = Config(
        max_pool_connections=max_pool_connections,
        retries={"max_attempts": attempts, "mode": "standard"},
        s3={"addressing_style": "path"},
        connect_timeout=10,
        read_timeout=120,
    )
    session = session or boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _session(options: Mapping[str, Any]) -> Any:
    import boto3

    return boto3.session.Session(
        **{k: options[k] for k in SESSION_OPTIONS if options.get(k) is not None}
    )


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
    chunked_files: ClassVar[bool] = True
    ingest_threads = 16
    connection_types: ClassVar[tuple[str, ...]] = ("aws",)

    def __init__(self, url: str, client: Any) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.client = client

    # -- the backend contract -----------------------------------------------------------
    @classmethod
    def from_config(cls, config: StoreConfig) -> S3BlobStore:
        return cls(config.url, cls.client_for(config.options, config.url))

    @staticmethod
    def client_for(options: Mapping[str, Any], url: str = "s3://") -> Any:
        """The boto3 client the options describe (``client`` itself when given)."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidOptionError(
                f"store {url!r}: the s3 store backend takes no option {', '.join(unknown)} "
                f"(it accepts: {', '.join(OPTIONS)})"
            )
        if options.get("client") is not None:
            return options["client"]
        session = _session(options) if any(options.get(k) for k in SESSION_OPTIONS) else None
        return s3_client(options.get("endpoint_url") or None, session=session)

    @classmethod
    def environment_options(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
        return {"endpoint_url": endpoint} if endpoint else {}

    @classmethod
    def config_from_connection(cls, conn: ConnectionFields) -> StoreConfig:
        extra = conn.extra
        url = str(extra.get("store_url") or "")
        if not url.startswith("s3://") and (conn.host or "").startswith("s3://"):
            url = str(conn.host)  # a generic connection naming the bucket as its host
        if not url.startswith("s3://"):
            raise InvalidOptionError(
                f"connection {conn.conn_id!r} is an aws connection without an "
                "extra 'store_url' naming the store (s3://bucket/prefix)"
            )
        refused = [name for name in UNSUPPORTED_EXTRAS if extra.get(name)]
        if refused:
            raise InvalidOptionError(
                f"connection {conn.conn_id!r} sets {', '.join(refused)}: the s3 store backend "
                "does not assume roles; give keys (login/password) or leave them out for "
                "boto3's own credential chain (environment, instance or pod role)"
            )
        service = extra.get("service_config") or {}
        s3_service = service.get("s3") if isinstance(service, Mapping) else None
        options: dict[str, Any] = {
            "aws_access_key_id": conn.login or extra.get("aws_access_key_id"),
            "aws_secret_access_key": conn.password or extra.get("aws_secret_access_key"),
            "aws_session_token": extra.get("aws_session_token"),
            "region_name": extra.get("region_name"),
            "profile_name": extra.get("profile_name"),
            "endpoint_url": (s3_service or {}).get("endpoint_url") or extra.get("endpoint_url"),
        }
        options = {k: v for k, v in options.items() if v}
        if "endpoint_url" not in options:
            options.update(cls.environment_options(os.environ))
        return StoreConfig(url, options, from_connection=True)

    @classmethod
    def workload_environment(cls, config: StoreConfig) -> tuple[dict[str, str], dict[str, str]]:
        env = {"DHUB_STORE_URL": config.url}
        options = config.options
        if options.get("endpoint_url"):
            env["AWS_ENDPOINT_URL_S3"] = str(options["endpoint_url"])
        if options.get("region_name"):
            env["AWS_DEFAULT_REGION"] = str(options["region_name"])
        secrets: dict[str, str] = {}
        if config.from_connection:
            credentials = _session(options).get_credentials()
            if credentials is not None:
                frozen = credentials.get_frozen_credentials()
                secrets["AWS_ACCESS_KEY_ID"] = frozen.access_key
                secrets["AWS_SECRET_ACCESS_KEY"] = frozen.secret_key
                if frozen.token:
                    secrets["AWS_SESSION_TOKEN"] = frozen.token
        return env, secrets

    @classmethod
    def list_source(
        cls, url: str, lender: BlobStore | None = None, client: Any | None = None
    ) -> list[RemoteFile]:
        """An ``s3://bucket/key`` object, or every object under a prefix, read with
        ``client``, else the hub's S3 store's client, else one from the environment."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = parse_s3_url(url)
        if client is None:
            client = lender.client if isinstance(lender, S3BlobStore) else None
        client = client or s3_client(cls.environment_options(os.environ).get("endpoint_url"))
        try:
            paginator = client.get_paginator("list_objects_v2")
            keys = [
                obj["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
                if not obj["Key"].endswith("/")
            ]
        except (BotoCoreError, ClientError) as exc:
            raise InvalidSourceError(f"cannot read {url}: {exc}") from exc
        exact = [k for k in keys if k == prefix]
        keys = exact or [k for k in keys if k.startswith(prefix.rstrip("/") + "/") or not prefix]
        if not keys:
            raise InvalidSourceError(f"{url} matches no object")
        base = prefix if not exact else prefix.rpartition("/")[0]

        def copier(key: str) -> Callable[[Path], None]:
            def download(dest: Path) -> None:
                try:
                    client.download_file(bucket, key, str(dest))
                except (BotoCoreError, ClientError) as exc:
                    raise InvalidSourceError(f"cannot read {url}: {exc}") from exc

            return download

        return [RemoteFile(key[len(base) :].lstrip("/"), copier(key)) for key in sorted(keys)]

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

    def _get(self, key: str, digest: str, **extra: Any) -> Any | None:
        """A GET of ``key``; ``None`` when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail(exc, "read") from exc
        except self._errors() as exc:
            raise self._fail(exc, "read") from exc

    def open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        response = self._get(self._key(digest), digest)
        if response is None:
            return self.open_chunked(digest)  # or NotFoundError
        return closing(response["Body"])

    def _list(self, prefix: str) -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = os.path.basename(obj["Key"])
                    if DIGEST_RE.fullmatch(name):
                        yield BlobInfo(name, int(obj["Size"]), obj["LastModified"])
        except self._errors() as exc:
            raise self._fail(exc, "list") from exc

    def iter_blobs(self) -> Iterator[BlobInfo]:
        yield from self._list(self._under("blobs/"))

    # -- chunked files: packs are blobs; a manifest is one small object ------------------
    def put_bytes(self, data: bytes | bytearray | memoryview, digest: str) -> bool:
        return self._put_if_absent(bytes(data), digest)

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        end = offset + length - 1
        response = self._get(self._key(digest), digest, Range=f"bytes={offset}-{end}")
        if response is None:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}")
        try:
            data = bytes(response["Body"].read())
        except self._errors() as exc:
            raise self._fail(exc, "read") from exc
        if len(data) != length:
            raise IntegrityError(f"blob {digest} at {self.location(digest)} is too short", [digest])
        return data

    def put_chunk_manifest(self, manifest: ChunkManifest) -> None:
        """One PUT: S3 replaces an object atomically, after the packs' PUTs returned."""
        key = self._under(chunked_key(manifest.digest))
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=manifest.to_bytes())
        except self._errors() as exc:
            raise self._fail(exc, "write") from exc

    def chunk_manifest(self, digest: str) -> ChunkManifest | None:
        key = self._under(chunked_key(digest))
        response = self._get(key, digest)
        if response is None:
            return None
        try:
            data = response["Body"].read()
        except self._errors() as exc:
            raise self._fail(exc, "read") from exc
        return ChunkManifest.from_bytes(data, digest, f"s3://{self.bucket}/{key}")

    def iter_chunk_manifests(self) -> Iterator[BlobInfo]:
        yield from self._list(self._under(f"{CHUNKED}/"))

    def delete_chunk_manifest(self, digest: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._under(chunked_key(digest)))
        except self._errors() as exc:
            raise self._fail(exc, "delete") from exc

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

    # -- healing ------------------------------------------------------------------------
    def _under(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def looks_damaged(self, digest: str, size: int) -> bool:
        """A blob up to ``IN_MEMORY`` is reused on a ``412`` that says nothing of its size,
        and a HEAD per reused blob would double a commit's round trips: only the flags
        of ``verify`` (:meth:`damaged`) mark it. A larger blob costs one HEAD, next to
        hashing at least 16 MiB."""
        if size <= IN_MEMORY:
            return False
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return True
            raise self._fail(exc, "access") from exc
        except self._errors() as exc:
            raise self._fail(exc, "access") from exc
        return int(head.get("ContentLength", -1)) != size

    def damaged(self) -> set[str]:
        return {info.digest for info in self._list(self._under(f"{DAMAGED}/"))}

    def mark_damaged(self, digest: str) -> None:
        try:
            key = self._under(damaged_key(digest))
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
        except self._errors() as exc:
            raise self._fail(exc, "write") from exc

    def clear_damaged(self, digest: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._under(damaged_key(digest)))
        except self._errors() as exc:
            raise self._fail(exc, "delete") from exc

    def replace_blob(self, source: Path, digest: str) -> bool:
        """An unconditional PUT (or multipart completion) to the blob's own key: S3
        replaces an object atomically, so a reader gets the damaged bytes or the good
        ones. The source is hashed first and the stored blob re-checked right before."""
        from boto3.s3.transfer import TransferConfig

        size = source.stat().st_size
        data = source.read_bytes() if size <= IN_MEMORY else None
        actual = hash_bytes(data) if data is not None else hash_file(source)
        if actual != digest:
            raise IntegrityError(
                f"{source} hashes to {actual}, not {digest}: refused as blob {digest}", [digest]
            )
        if self.intact(digest):  # re-checked right before: never write over good bytes
            return False
        try:
            if data is not None:
                self.client.put_object(Bucket=self.bucket, Key=self._key(digest), Body=data)
                return True
            config = TransferConfig(
                multipart_threshold=MULTIPART_THRESHOLD,
                multipart_chunksize=MULTIPART_CHUNKSIZE,
                max_concurrency=MAX_CONCURRENCY,
                use_threads=True,
            )
            with source.open("rb") as raw:
                # Hashed again as it is sent: a source changed since aborts the upload.
                reader = _VerifyingReader(raw, digest, source)
                self.client.upload_fileobj(reader, self.bucket, self._key(digest), Config=config)
        except self._errors() as exc:
            raise self._fail(exc, "write") from exc
        return True
