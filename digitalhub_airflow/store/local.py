"""Blob store on a local (or mounted) folder: the embedded default."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from digitalhub_airflow.errors import NotFoundError, StoreError
from digitalhub_airflow.hashing import hash_file
from digitalhub_airflow.store.base import DIGEST_RE, BlobInfo, BlobStore, blob_key


class LocalBlobStore(BlobStore):
    def __init__(self, root: str | os.PathLike[str], fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()
        self.fsync = fsync

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def check_writable(self) -> None:
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            probe = self.root / "tmp" / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"store {self.url} is not writable: {exc.strerror or exc}") from exc

    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        if digest is not None and self.has(digest):
            return digest, False
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="ingest-")
            os.close(fd)
        except OSError as exc:
            raise StoreError(f"store {self.url} is not writable: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)
            # Hash the copy, not the source: the digest names exactly what is stored.
            actual = hash_file(tmp)
            if self.fsync:
                with tmp.open("rb") as handle:
                    os.fsync(handle.fileno())
            final = self._path(actual)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, final)  # atomic and never replaces: one writer wins
            except FileExistsError:
                return actual, False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                    raise
                if final.exists():  # no hard links here: rename, last writer wins
                    return actual, False
                os.replace(tmp, final)
            return actual, True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOSPC):
                raise StoreError(f"cannot write to store {self.url}: {exc.strerror}") from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}") from exc

    def iter_blobs(self) -> Iterator[BlobInfo]:
        base = self.root / "blobs"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir():
                continue  # a stray file (e.g. .DS_Store) is not a shard
            for entry in os.scandir(shard):
                if DIGEST_RE.fullmatch(entry.name):
                    st = entry.stat()
                    yield BlobInfo(
                        entry.name, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc)
                    )

    def sweep_partial(self, older_than: datetime, dry_run: bool = False) -> int:
        removed = 0
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return 0
        for entry in os.scandir(tmp):
            modified = datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)
            if entry.is_file() and modified < older_than:
                if not dry_run:
                    Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed

    def delete(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)

    def location(self, digest: str) -> str:
        return self._path(digest).as_uri()
