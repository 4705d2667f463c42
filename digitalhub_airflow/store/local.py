"""Blob store on a local (or mounted) folder: the embedded default.

Scheme ``file``; a URL without a scheme is a folder path too. Options: ``fsync``
(default true: blobs are made durable before the catalog references them).
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from digitalhub_airflow.errors import IntegrityError, InvalidOptionError, NotFoundError, StoreError
from digitalhub_airflow.hashing import copy_hashing, hash_bytes, hash_file
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
from digitalhub_airflow.store.chunks import CHUNKED, ChunkManifest, chunked_key

FILE_PREFIX = "file://"


def local_root(url: str) -> str:
    """The folder a ``file://`` URL or a plain path names."""
    return url[len(FILE_PREFIX) :] if url.startswith(FILE_PREFIX) else url


#: Files up to this size are read once into memory, hashed and written in one go.
SMALL_FILE = 1 << 20
#: Up to this many files written, ``sync`` fsyncs each; more, one ``syncfs``.
FSYNC_EACH_MAX = 40


@functools.cache
def _libc() -> Any:
    """The C library (for Linux calls ``os`` lacks), or ``None``."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


#: ``sync_file_range`` flag: start writing the dirty pages, do not wait.
SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int) -> None:
    """Start writing a file's dirty pages to disk without waiting (Linux
    ``sync_file_range``). The ``fsync`` of :meth:`LocalBlobStore.sync` then finds them
    written, and one journal commit covers every such file instead of one each: an
    fsync per 32 MiB pack made a 1 GiB commit several times slower on a busy disk."""
    start = getattr(_libc(), "sync_file_range", None)
    if start is not None:
        import ctypes

        start(fd, ctypes.c_int64(0), ctypes.c_int64(0), ctypes.c_uint(SYNC_FILE_RANGE_WRITE))


def _syncfs(folder: Path) -> bool:
    """Flush the whole filesystem holding ``folder`` (Linux ``syncfs``); ``False`` if absent."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
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


def _scan(base: Path) -> Iterator[BlobInfo]:
    """The digest-named files of a sharded folder (``blobs/`` or ``chunked/``)."""
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


class LocalBlobStore(BlobStore):
    shared: ClassVar[bool] = False
    chunked_files: ClassVar[bool] = True

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
        except FileNotFoundError:
            return super().verify(digest)  # a chunked file, or NotFoundError

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        if digest is not None and self.has(digest):
            return digest, False
        fd, tmp = self._temp("ingest-")
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
            return actual, self._publish(tmp, actual)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOSPC):
                raise StoreError(f"cannot write to store {self.url}: {exc.strerror}") from exc
            raise
        finally:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    def _publish(self, tmp: Path, digest: str) -> bool:
        """Move a written temporary file to the blob ``digest``; ``False`` when that blob
        was already there (it is left as it is)."""
        final = self._path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, final)  # atomic and never replaces: one writer wins
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            if final.exists():  # no hard links here: rename, last writer wins
                return False
            os.replace(tmp, final)
        with self._lock:
            self._unsynced.append(final)
        return True

    def _temp(self, prefix: str) -> tuple[int, Path]:
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=prefix)
        except OSError as exc:
            raise StoreError(f"store {self.url} is not writable: {exc.strerror or exc}") from exc
        return fd, Path(tmp_name)

    # -- chunked files ------------------------------------------------------------------
    def put_bytes(self, data: bytes | bytearray | memoryview, digest: str) -> bool:
        if self.has(digest):
            return False
        fd, tmp = self._temp("pack-")
        try:
            with os.fdopen(fd, "wb") as out:  # write() loops until all is written
                out.write(data)
                if self.fsync:  # to disk now, overlapping the next pack's cut
                    out.flush()
                    _start_writeback(out.fileno())
            return self._publish(tmp, digest)
        except OSError as exc:
            raise StoreError(f"cannot write to store {self.url}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        try:
            fd = os.open(self._path(digest), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}") from exc
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise IntegrityError(f"blob {digest} at {self.location(digest)} is too short", [digest])
        return data

    def _manifest_path(self, digest: str) -> Path:
        return self.root / chunked_key(digest)

    def put_chunk_manifest(self, manifest: ChunkManifest) -> None:
        self.sync()  # its packs are durable before anything names them
        final = self._manifest_path(manifest.digest)
        fd, tmp = self._temp("chunked-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(manifest.to_bytes())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # atomic: readers see the old manifest or the new one
        except OSError as exc:
            raise StoreError(f"cannot write to store {self.url}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            self._unsynced.append(final)

    def chunk_manifest(self, digest: str) -> ChunkManifest | None:
        path = self._manifest_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return ChunkManifest.from_bytes(data, digest, path.as_uri())

    def iter_chunk_manifests(self) -> Iterator[BlobInfo]:
        yield from _scan(self.root / CHUNKED)

    def delete_chunk_manifest(self, digest: str) -> None:
        self._manifest_path(digest).unlink(missing_ok=True)

    def read_to(self, digest: str, dest: Path) -> int:
        """Copy a file (a blob, or a chunked file's pack runs) with the kernel's
        ``copy_file_range`` while another thread hashes the same stored bytes (mapped):
        the copy costs about a ``cp``, and nothing is left at ``dest`` unless the bytes
        hash to ``digest``."""
        blob = self._path(digest)
        if blob.is_file():
            runs = [(blob, 0, blob.stat().st_size)]
        else:
            manifest = self.chunk_manifest(digest)
            if manifest is None:
                raise NotFoundError(f"blob {digest} is missing from store {self.url}")
            runs = [(self._path(p), off, n) for p, off, n in manifest.segments()]
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                actual, size = copy_hashing(runs, out.fileno())
            if actual != digest:
                raise IntegrityError(
                    f"blob {digest} at {self.location(digest)} is corrupt: content hashes to "
                    f"{actual}",
                    [digest],
                )
            os.replace(tmp, dest)
        except FileNotFoundError as exc:
            raise NotFoundError(f"a pack of {digest} is missing from store {self.url}") from exc
        except EOFError as exc:
            raise IntegrityError(f"blob {digest} in store {self.url}: {exc}", [digest]) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def sync(self) -> None:
        """Make every blob written so far durable: an fsync of each file and folder when
        they are few (a large file's packs, mostly flushed as written), else one
        ``syncfs`` on Linux, which also flushes what other processes wrote there."""
        with self._lock:
            written, self._unsynced = self._unsynced, []
        if not written or not self.fsync:
            return
        if len(written) > FSYNC_EACH_MAX and _syncfs(self.root):
            return
        for path in written:
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        for shard in {p.parent for p in written}:
            _fsync_dir(shard)

    def open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError:
            return self.open_chunked(digest)  # or NotFoundError

    def iter_blobs(self) -> Iterator[BlobInfo]:
        yield from _scan(self.root / "blobs")

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
        fd, tmp = self._temp("repair-")
        os.close(fd)
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
