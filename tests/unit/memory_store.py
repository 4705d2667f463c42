"""A third-party store backend in one module, as ``docs/extending.md`` describes it:
``memory://<name>`` keeps blobs in this process's memory. Registered by the tests
through an entry point (``memory = "tests.unit.memory_store:MemoryBlobStore"``)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hashing import hash_bytes
from digitalhub_airflow.store import BlobInfo, BlobStore, ConnectionFields, StoreConfig, blob_key

#: Every memory store's blobs, by store name: what a real backend keeps remotely.
_STORES: dict[str, dict[str, tuple[bytes, datetime]]] = {}
_LOCK = threading.Lock()


class MemoryBlobStore(BlobStore):
    connection_types: ClassVar[tuple[str, ...]] = ("memory_store",)
    shared: ClassVar[bool] = False  # another machine has another memory

    def __init__(self, url: str, label: str = "") -> None:
        self.name = url.removeprefix("memory://").strip("/")
        self.url = f"memory://{self.name}"
        self.label = label
        with _LOCK:
            self.blobs = _STORES.setdefault(self.name, {})

    @classmethod
    def environment_options(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        label = environ.get("MEMORY_STORE_LABEL")
        return {"label": label} if label else {}

    @classmethod
    def config_from_connection(cls, conn: ConnectionFields) -> StoreConfig:
        return StoreConfig(
            f"memory://{conn.host}", {"label": conn.login or ""}, from_connection=True
        )

    @classmethod
    def workload_environment(cls, config: StoreConfig) -> tuple[dict[str, str], dict[str, str]]:
        env = {"DHUB_STORE_URL": config.url}
        if config.options.get("label"):
            env["MEMORY_STORE_LABEL"] = str(config.options["label"])
        return env, {}

    def has(self, digest: str) -> bool:
        return digest in self.blobs

    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        data = source.read_bytes()
        actual = hash_bytes(data)
        blob_key(actual)
        with _LOCK:
            if actual in self.blobs:
                return actual, False
            self.blobs[actual] = (data, datetime.now(timezone.utc))
        return actual, True

    def sync(self) -> None:
        """Nothing to make durable."""

    def open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        blob_key(digest)
        if digest not in self.blobs:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}")
        return io.BytesIO(self.blobs[digest][0])

    def iter_blobs(self) -> Iterator[BlobInfo]:
        for digest, (data, modified) in sorted(self.blobs.items()):
            yield BlobInfo(digest, len(data), modified)

    def delete(self, digest: str) -> None:
        with _LOCK:
            self.blobs.pop(digest, None)

    def location(self, digest: str) -> str:
        return f"{self.url}/{blob_key(digest)}"

    def sweep_partial(self, older_than: datetime, dry_run: bool = False) -> int:
        return 0
