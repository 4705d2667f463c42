"""BLAKE3 digests computed while streaming: no file is ever held whole in memory."""

from __future__ import annotations

import os
from collections.abc import Iterable
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
