"""The digest cache: right digests, re-hashing on any change, no trust in racy stamps."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from digitalhub_airflow.datasets.hashcache import RACY_WINDOW_S, HashCache
from digitalhub_airflow.hashing import PARALLEL_THRESHOLD, hash_file

OLD = time.time() - 3600  # well outside the racy window


def _age(path: Path, when: float = OLD) -> os.stat_result:
    os.utime(path, (when, when))
    return path.stat()


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[HashCache]:
    c = HashCache(tmp_path / "h.sqlite")
    yield c
    c.close()


@pytest.mark.parametrize(
    "data",
    [b"", b"x", b"hello\n" * 1000, bytes(range(256)) * 4097],
    ids=["empty", "one-byte", "text", "binary-1MiB"],
)
def test_digest_is_blake3_of_content(tmp_path: Path, cache: HashCache, data: bytes) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert cache.digest(path) == _b3(data)
    _age(path)
    assert cache.digest(path) == _b3(data)


def test_large_file_takes_the_parallel_path_and_still_matches(tmp_path: Path) -> None:
    data = os.urandom(1024) * (PARALLEL_THRESHOLD // 1024 + 3)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert path.stat().st_size >= PARALLEL_THRESHOLD
    assert hash_file(path) == _b3(data)


def test_unchanged_old_file_is_served_from_cache_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"stable content")
    stat = _age(path)
    first = HashCache(tmp_path / "h.sqlite")
    assert first.digest(path) == _b3(b"stable content")
    first.close()  # flushes
    second = HashCache(tmp_path / "h.sqlite")
    try:
        assert second.lookup(path, stat) == _b3(b"stable content")
    finally:
        second.close()


def test_modified_file_same_size_new_mtime_is_rehashed(tmp_path: Path, cache: HashCache) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"aaaa")
    _age(path, OLD)
    assert cache.digest(path) == _b3(b"aaaa")
    cache.flush()
    path.write_bytes(b"bbbb")  # same size
    stat = _age(path, OLD + 60)  # a different, still old, mtime
    assert cache.lookup(path, stat) is None
    assert cache.digest(path) == _b3(b"bbbb")
    cache.flush()
    assert cache.lookup(path, path.stat()) == _b3(b"bbbb")


def test_modified_file_with_mtime_restored_is_rehashed(tmp_path: Path, cache: HashCache) -> None:
    """Size and mtime put back as they were: the ctime still tells the change."""
    path = tmp_path / "f.txt"
    path.write_bytes(b"aaaa")
    _age(path, OLD)
    assert cache.digest(path) == _b3(b"aaaa")
    cache.flush()
    time.sleep(0.01)
    path.write_bytes(b"bbbb")
    _age(path, OLD)
    assert cache.digest(path) == _b3(b"bbbb")


def test_replaced_file_same_stamp_other_inode_is_rehashed(tmp_path: Path, cache: HashCache) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"aaaa")
    _age(path, OLD)
    assert cache.digest(path) == _b3(b"aaaa")
    cache.flush()
    other = tmp_path / "g.txt"
    other.write_bytes(b"cccc")
    _age(other, OLD)
    os.replace(other, path)
    assert cache.digest(path) == _b3(b"cccc")


def test_file_modified_just_now_is_not_cached(tmp_path: Path, cache: HashCache) -> None:
    path = tmp_path / "fresh.txt"
    path.write_bytes(b"just written")
    stat = path.stat()
    assert time.time() - stat.st_mtime < RACY_WINDOW_S
    assert cache.digest(path) == _b3(b"just written")
    cache.flush()
    assert cache.lookup(path, stat) is None
    reopened = HashCache(tmp_path / "h.sqlite")
    try:
        assert reopened.lookup(path, stat) is None
    finally:
        reopened.close()


def test_racy_write_within_the_same_tick_is_still_seen(tmp_path: Path, cache: HashCache) -> None:
    """Two writes inside the racy window with the mtime forced equal: no stale digest."""
    path = tmp_path / "fresh.txt"
    now = time.time()
    path.write_bytes(b"first")
    os.utime(path, (now, now))
    assert cache.digest(path) == _b3(b"first")
    cache.flush()
    path.write_bytes(b"secnd")  # same size
    os.utime(path, (now, now))
    assert cache.digest(path) == _b3(b"secnd")


def test_file_with_mtime_in_the_future_is_not_cached(tmp_path: Path, cache: HashCache) -> None:
    path = tmp_path / "future.txt"
    path.write_bytes(b"from a skewed clock")
    stat = _age(path, time.time() + 3600)
    assert cache.digest(path) == _b3(b"from a skewed clock")
    cache.flush()
    assert cache.lookup(path, stat) is None


def test_unusable_cache_path_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    path = tmp_path / "f.txt"
    path.write_bytes(b"content")
    _age(path)
    cache = HashCache(blocker / "h.sqlite")
    try:
        assert cache.digest(path) == _b3(b"content")
        cache.flush()
        assert cache.lookup(path, path.stat()) is None
    finally:
        cache.close()


def test_table_description_is_keyed_by_digest_and_format(cache: HashCache) -> None:
    digest = _b3(b"a,b\n1,2\n")
    description = {"columns": [{"name": "a", "type": "int64", "nullable": True}], "rows": 1}
    cache.remember_table(digest, "csv", description)
    assert cache.table(digest, "csv") == description
    assert cache.table(digest, "parquet") is None
    assert cache.table(_b3(b"other"), "csv") is None
