"""Content-addressed blob stores: a local folder or an S3 bucket/prefix."""

from __future__ import annotations

import os
from typing import Any

from digitalhub_airflow.store.base import BlobInfo, BlobStore, blob_key
from digitalhub_airflow.store.local import LocalBlobStore

__all__ = ["BlobInfo", "BlobStore", "LocalBlobStore", "blob_key", "open_store", "s3_client"]


def s3_client(
    endpoint_url: str | None = None, session: Any | None = None, max_pool_connections: int = 64
) -> Any:
    """A boto3 S3 client with path-style addressing and a pool big enough for parallel I/O.

    ``session`` is a boto3 Session (e.g. from the amazon provider's hook); without one,
    the standard AWS environment variables and files are used.
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


def open_store(url: str, endpoint_url: str | None = None, client: Any | None = None) -> BlobStore:
    """The store for ``url``: ``s3://bucket/prefix``, ``file:///path`` or a plain path."""
    if url.startswith("s3://"):
        from digitalhub_airflow.store.s3 import S3BlobStore

        return S3BlobStore(url, client or s3_client(endpoint_url))
    if url.startswith("file://"):
        url = url[len("file://") :]
    return LocalBlobStore(url)
