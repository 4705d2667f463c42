"""BLAKE3 digests computed while streaming: no file is ever held whole in memory."""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

import blake3

CHUNK_SIZE = 8 * 1024 * 1024
#: Files at least this large are hashed with BLAKE3's multithreaded tree mode.
PARALLEL_THRESHOLD = 32 * 1024 * 1024


def new_hasher() -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def hash_file(path: str | os.PathLike[str]) -> str:
    """Hex digest of a file; memory-mapped and multithreaded for large files."""
    path = Path(path)
    hasher = new_hasher()
    if path.stat().st_size >= PARALLEL_THRESHOLD:
        hasher.update_mmap(path)
    else:
        with path.open("rb") as handle:
            for chunk in iter_chunks(handle):
                hasher.update(chunk)
    return hasher.hexdigest()


def hash_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def iter_chunks(handle: BinaryIO, size: int = CHUNK_SIZE) -> Iterable[bytes]:
    while True:
        chunk = handle.read(size)
        if not chunk:
            return
        yield chunk


#: A run of stored bytes: (file, offset, length).
Run = tuple[Path, int, int]


def copy_hashing(runs: Sequence[Run], out_fd: int) -> tuple[str, int]:
    """Append the runs' bytes to ``out_fd`` and return (BLAKE3 hex digest, size).

    The kernel copies (``copy_file_range``: no pass through Python) while a second
    thread hashes the same bytes, mapped: the two overlap, so a verified copy costs
    about what ``cp`` does, not a copy plus a hash.
    """
    hasher = new_hasher()
    failure: list[BaseException] = []

    def hash_runs() -> None:
        try:
            for path, offset, length in runs:
                if length == 0:
                    continue
                if offset == 0 and length == path.stat().st_size:
                    hasher.update_mmap(path)  # the binding's own mapping: the fastest here
                    continue
                with (
                    path.open("rb") as handle,
                    mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
                ):
                    view = memoryview(mapped)
                    try:
                        hasher.update(view[offset : offset + length])
                    finally:
                        view.release()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=hash_runs, name="dhub-hash", daemon=True)
    worker.start()
    size = 0
    try:
        for path, offset, length in runs:
            with path.open("rb") as src:
                size += _copy_range(src.fileno(), out_fd, offset, length)
    finally:
        worker.join()
    if failure:
        raise failure[0]
    return hasher.hexdigest(), size


def _copy_range(src: int, dst: int, offset: int, length: int) -> int:
    """Copy ``length`` bytes from ``src`` at ``offset`` to ``dst``'s position; the
    kernel does it where it can, a read/write loop otherwise."""
    done = 0
    while done < length:
        want = min(length - done, 1 << 30)
        try:
            moved = os.copy_file_range(src, dst, want, offset + done)
        except OSError:  # e.g. another filesystem on an old kernel: copy by hand
            data = os.pread(src, min(want, CHUNK_SIZE), offset + done)
            moved = os.write(dst, data) if data else 0
        if moved == 0:
            raise EOFError(f"stored file ended {length - done} bytes early")
        done += moved
    return done
