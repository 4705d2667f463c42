"""Blob store on a local (or mounted) folder: the embedded default.

Scheme ``file``; a URL without a scheme is a folder path too. Options: ``fsync``
(default true: blobs are made durable before the catalog references them).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, ClassVar

from digitalhub_airflow.errors import InvalidOptionError, NotFoundError, StoreError
from digitalhub_airflow.hashing import hash_bytes, hash_file
from digitalhub_airflow.store.base import (
    DAMAGED,
    DIGEST_RE,
    BlobInfo,
    BlobStore,
    StoreConfig,
    blob_key,
    copy_verified,
    damaged_key,
)

FILE_PREFIX = "file://"


def local_root(url: str) -> str:
    """The folder a ``file://`` URL or a plain path names."""
    return url[len(FILE_PREFIX) :] if url.startswith(FILE_PREFIX) else url


#: Files up to this size are read once into memory, hashed and written in one go.
SMALL_FILE = 1 << 20


def _syncfs(folder: Path) -> bool:
    """Flush the whole filesystem holding ``folder`` (Linux ``syncfs``); ``False`` if absent."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore(BlobStore):
    shared: ClassVar[bool] = False

    def __init__(self, root: str | os.PathLike[str], fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()
        self.fsync = fsync
        self._lock = threading.Lock()
        self._unsynced: list[Path] = []

    @classmethod
    def from_config(cls, config: StoreConfig) -> LocalBlobStore:
        unknown = sorted(set(config.options) - {"fsync"})
        if unknown:
            raise InvalidOptionError(
                f"store {config.url!r}: the file store backend takes no option "
                f"{', '.join(unknown)} (it accepts: fsync)"
            )
        fsync = config.options.get("fsync", True)
        if not isinstance(fsync, bool):
            raise InvalidOptionError(f"store {config.url!r}: option fsync must be true or false")
        return cls(local_root(config.url), fsync=fsync)

    @classmethod
    def workload_problem(cls, url: str) -> str | None:
        return "the store is a local folder"

    def verify(self, digest: str) -> bool:
        try:
            return hash_file(self._path(digest)) == digest
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}") from exc

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        if digest is not None and self.has(digest):
            return digest, False
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="ingest-")
        except OSError as exc:
            raise StoreError(f"store {self.url} is not writable: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            # Hash what is written, not the source: the digest names exactly what is stored.
            if source.stat().st_size <= SMALL_FILE:
                data = source.read_bytes()
                with os.fdopen(fd, "wb") as out:  # write() loops until all is written
                    fd = -1
                    out.write(data)
                actual = hash_bytes(data)
            else:
                os.close(fd)
                fd = -1
                shutil.copyfile(source, tmp)
                actual = hash_file(tmp)
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
            with self._lock:
                self._unsynced.append(final)
            return actual, True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOSPC):
                raise StoreError(f"cannot write to store {self.url}: {exc.strerror}") from exc
            raise
        finally:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    def sync(self) -> None:
        """Make every blob written so far durable: one ``syncfs`` on Linux, else fsyncs."""
        with self._lock:
            written, self._unsynced = self._unsynced, []
        if not written or not self.fsync:
            return
        if _syncfs(self.root):
            return
        for path in written:
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        for shard in {p.parent for p in written}:
            _fsync_dir(shard)

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

    # -- healing ------------------------------------------------------------------------
    def looks_damaged(self, digest: str, size: int) -> bool:
        """One ``stat``: the blob is gone or its size is not ``size``."""
        try:
            return self._path(digest).stat().st_size != size
        except FileNotFoundError:
            return True

    def damaged(self) -> set[str]:
        try:
            return {e.name for e in os.scandir(self.root / DAMAGED) if DIGEST_RE.fullmatch(e.name)}
        except FileNotFoundError:
            return set()

    def mark_damaged(self, digest: str) -> None:
        flag = self.root / damaged_key(digest)
        try:
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.touch()
        except OSError as exc:
            raise StoreError(f"cannot flag blob {digest} in store {self.url}: {exc}") from exc

    def clear_damaged(self, digest: str) -> None:
        try:
            (self.root / damaged_key(digest)).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot unflag blob {digest} in store {self.url}: {exc}") from exc

    def replace_blob(self, source: Path, digest: str) -> bool:
        """Copy (hashing) to ``tmp/``, re-check the stored blob, then ``os.replace``: a
        reader sees the damaged blob or the good one, never a partial file; a blob whose
        bytes verify is left alone, inode and all."""
        final = self._path(digest)
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="repair-")
            os.close(fd)
        except OSError as exc:
            raise StoreError(f"store {self.url} is not writable: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            copy_verified(source, tmp, digest, fsync=self.fsync)
            if self.intact(digest):  # re-checked right before: never write over good bytes
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            if self.fsync:
                _fsync_dir(final.parent)
            return True
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOSPC):
                raise StoreError(f"cannot write to store {self.url}: {exc.strerror}") from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def location(self, digest: str) -> str:
        return self._path(digest).as_uri()
