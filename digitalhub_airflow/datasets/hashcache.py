"""A local cache of file digests keyed by (path, size, mtime, ctime, inode).

Re-committing unchanged data should cost a ``stat`` per file, not a re-read: this is
the same idea as git's index. Entries whose mtime is too recent are not trusted (a
write within the same clock tick would keep the stamp), so they are never stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from digitalhub_airflow.hashing import hash_file

#: Files modified less than this many seconds ago are hashed but not cached.
RACY_WINDOW_S = 2.0


class HashCache:
    """Thread-safe; one SQLite file shared by every process of a user."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, int, int, int, int, str]] = []

    def _connect(self) -> sqlite3.Connection | None:
        if self._path is None:
            return None
        if self._db is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER,"
                    " mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, digest TEXT)"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS tables (digest TEXT, format TEXT,"
                    " description TEXT, PRIMARY KEY (digest, format))"
                )
            except (sqlite3.Error, OSError):
                self._path = None  # an unusable cache only costs speed
                return None
            self._db = db
        return self._db

    def lookup(self, path: Path, stat: os.stat_result) -> str | None:
        """The cached digest when the file's stamp is unchanged, else ``None``."""
        key = os.path.abspath(path)  # no syscalls; the inode in the stamp guards the rest
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            row = db.execute(
                "SELECT size, mtime_ns, ctime_ns, inode, digest FROM hashes WHERE path = ?",
                (key,),
            ).fetchone()
        if row is not None and tuple(row[:4]) == _stamp(stat):
            return str(row[4])
        return None

    def lookup_many(self, items: list[tuple[Path, os.stat_result]]) -> list[str | None]:
        """:meth:`lookup` for many files in a few queries (re-commits of big trees)."""
        keys = [os.path.abspath(path) for path, _ in items]
        rows: dict[str, tuple[Any, ...]] = {}
        with self._lock:
            db = self._connect()
            if db is None:
                return [None] * len(items)
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                marks = ",".join("?" * len(batch))
                query = (
                    "SELECT path, size, mtime_ns, ctime_ns, inode, digest FROM hashes "
                    f"WHERE path IN ({marks})"
                )
                rows.update((row[0], row[1:]) for row in db.execute(query, batch))
        found: list[str | None] = []
        for key, (_, stat) in zip(keys, items, strict=True):
            row = rows.get(key)
            found.append(str(row[4]) if row is not None and row[:4] == _stamp(stat) else None)
        return found

    def remember(self, path: Path, stat: os.stat_result, digest: str) -> None:
        """Queue a digest for :meth:`flush`, unless the file changed too recently."""
        if time.time() - stat.st_mtime_ns / 1e9 <= RACY_WINDOW_S:
            return
        entry = (os.path.abspath(path), *_stamp(stat), digest)
        with self._lock:
            self._pending.append(entry)

    def flush(self) -> None:
        """Write queued digests in one transaction."""
        with self._lock:
            pending, self._pending = self._pending, []
            db = self._connect()
            if db is None or not pending:
                return
            try:
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)", pending)
                db.commit()
            except sqlite3.Error:
                pass

    def table(self, digest: str, fmt: str) -> Any | None:
        """A table description (schema and rows) cached for this content, if any."""
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            row = db.execute(
                "SELECT description FROM tables WHERE digest = ? AND format = ?", (digest, fmt)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def remember_table(self, digest: str, fmt: str, description: Any) -> None:
        with self._lock:
            db = self._connect()
            if db is None:
                return
            try:
                db.execute(
                    "INSERT OR REPLACE INTO tables VALUES (?, ?, ?)",
                    (digest, fmt, json.dumps(description)),
                )
                db.commit()
            except sqlite3.Error:
                pass

    def digest(self, path: Path, stat: os.stat_result | None = None) -> str:
        """The file's digest, from the cache or by hashing it."""
        stat = stat or path.stat()
        cached = self.lookup(path, stat)
        if cached is not None:
            return cached
        digest = hash_file(path)
        self.remember(path, stat, digest)
        return digest

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None


def _stamp(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
