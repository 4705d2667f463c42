"""Content-addressed blob stores, one backend per URI scheme (``file``, ``s3``, plugins).

The rest of the suite talks to stores through these functions only: it names a store
by URL (and options), and the backend registered for the URL's scheme
(:mod:`digitalhub_airflow.store.registry`) does the rest. ``docs/extending.md`` shows
how to add a backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from digitalhub_airflow.store.base import (
    BlobInfo,
    BlobStore,
    ConnectionFields,
    RemoteFile,
    StoreConfig,
    blob_key,
)
from digitalhub_airflow.store.local import LocalBlobStore, local_root
from digitalhub_airflow.store.registry import (
    ENTRY_POINT_GROUP,
    StoreBackendError,
    StoreRegistry,
    UnknownStoreSchemeError,
    default_registry,
    url_scheme,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BlobInfo",
    "BlobStore",
    "ConnectionFields",
    "LocalBlobStore",
    "RemoteFile",
    "StoreBackendError",
    "StoreConfig",
    "StoreRegistry",
    "UnknownStoreSchemeError",
    "blob_key",
    "config_from_connection",
    "default_registry",
    "list_source",
    "local_path",
    "open_config",
    "open_store",
    "s3_client",
    "store_config",
    "url_scheme",
    "workload_environment",
    "workload_problem",
]


def s3_client(
    endpoint_url: str | None = None, session: Any | None = None, max_pool_connections: int = 64
) -> Any:
    """A boto3 S3 client as the s3 backend builds it (see :func:`store.s3.s3_client`)."""
    from digitalhub_airflow.store.s3 import s3_client as make

    return make(endpoint_url, session, max_pool_connections)


def store_config(
    url: str,
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> StoreConfig:
    """The config of the store at ``url``: its backend's options from the environment,
    overridden by ``options``."""
    backend = default_registry().for_url(url)
    found = backend.environment_options(os.environ if environ is None else environ)
    return StoreConfig(url, {**found, **(options or {})})


def open_config(config: StoreConfig) -> BlobStore:
    """Open the store a config names, with the backend of its URL's scheme."""
    return default_registry().for_url(config.url).from_config(config)


def open_store(
    url: str,
    endpoint_url: str | None = None,
    client: Any | None = None,
    *,
    options: Mapping[str, Any] | None = None,
) -> BlobStore:
    """The store for ``url`` (``file:///path``, a plain path, ``s3://bucket/prefix``, or
    any registered scheme). ``endpoint_url`` and ``client`` are the s3 backend's options
    of those names, kept as arguments for earlier callers."""
    given = dict(options or {})
    if endpoint_url is not None:
        given["endpoint_url"] = endpoint_url
    if client is not None:
        given["client"] = client
    return open_config(store_config(url, given))


def config_from_connection(conn: ConnectionFields, default_url: str) -> StoreConfig:
    """Map an Airflow connection (as plain fields) to a store config: the backend that
    claims its type maps it; otherwise its ``host`` (or extra ``path``, else
    ``default_url``) is a store URL whose backend maps it."""
    registry = default_registry()
    backend = registry.for_connection_type(conn.conn_type)
    if backend is not None:
        return backend.config_from_connection(conn)
    url = conn.host or str(conn.extra.get("path") or "") or default_url
    backend = registry.for_url(url)
    return backend.config_from_connection(replace(conn, host=url))


def workload_environment(config: StoreConfig) -> tuple[dict[str, str], dict[str, str]]:
    """``(settings, secrets)`` a process elsewhere needs to open the same store."""
    return default_registry().for_url(config.url).workload_environment(config)


def workload_problem(url: str) -> str | None:
    """Why a process on another machine could not reach the store at ``url``, or None."""
    return default_registry().for_url(url).workload_problem(url)


def local_path(url: str) -> str | None:
    """The local path a ``file://`` URL or a plain path names; None for another scheme."""
    return local_root(url) if url_scheme(url) == "file" else None


def list_source(
    url: str, lender: BlobStore | None = None, client: Any | None = None
) -> list[RemoteFile]:
    """The files a commit source URL names, listed by its scheme's backend (see
    :meth:`BlobStore.list_source`)."""
    return default_registry().for_url(url).list_source(url, lender, client)
