"""Chunked files: a large file stored as content-defined chunks packed into blobs.

A chunked file keeps its whole-content digest (BLAKE3 of the file, so ``b3sum`` agrees);
what changes is how its bytes are kept. Its *chunk manifest*, at
``chunked/<2 hex>/<file digest>`` beside ``blobs/``, lists its chunks in file order, each
as (chunk digest, length, pack digest, offset in the pack). A *pack* is an ordinary blob
(named by the BLAKE3 of its bytes) holding the new chunks of one commit back to back, so
an object store sees one object per ~32 MiB instead of one per chunk, and everything
blobs have (verify, damage flags, atomic replace, repair from another store, gc) holds
for packs unchanged.

The manifest is location data, not version content: a version's id covers the file's
digest only, so the same bytes get the same version id stored whole or chunked, and a
damaged file is healed by writing its damaged chunks into a new pack and replacing the
manifest (every version with that file digest reads the new one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from digitalhub_airflow.errors import IntegrityError
from digitalhub_airflow.store.base import DIGEST_RE, blob_key

#: Where chunk manifests live, beside ``blobs/``.
CHUNKED = "chunked"
FORMAT = 1

#: Reads ``length`` bytes at ``offset`` of the blob ``digest``.
RangeReader = Callable[[str, int, int], bytes]


def chunked_key(digest: str) -> str:
    """Relative key of a file's chunk manifest (``chunked/<2 hex>/<digest>``)."""
    blob_key(digest)  # validates the digest
    return f"{CHUNKED}/{digest[:2]}/{digest}"


@dataclass(frozen=True)
class ChunkRef:
    """One chunk of a file: its digest and length, and where its bytes are."""

    digest: str
    size: int
    pack: str
    offset: int


@dataclass(frozen=True)
class ChunkManifest:
    """A chunked file: its whole-content digest and size, its chunks in file order."""

    digest: str
    size: int
    chunks: tuple[ChunkRef, ...]

    @property
    def packs(self) -> set[str]:
        return {c.pack for c in self.chunks}

    def segments(self) -> Iterator[tuple[str, int, int]]:
        """(pack, offset, length) runs: consecutive chunks stored back to back in one
        pack are read with one request."""
        run: list[int] | None = None
        pack = ""
        for chunk in self.chunks:
            if run is not None and chunk.pack == pack and chunk.offset == run[0] + run[1]:
                run[1] += chunk.size
                continue
            if run is not None:
                yield pack, run[0], run[1]
            pack, run = chunk.pack, [chunk.offset, chunk.size]
        if run is not None:
            yield pack, run[0], run[1]

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "digest": self.digest,
            "size": self.size,
            "chunks": [[c.digest, c.size, c.pack, c.offset] for c in self.chunks],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, digest: str, where: str) -> ChunkManifest:
        """Parse a stored manifest; :class:`IntegrityError` naming it when it is not one
        of ``digest`` (unreadable, another file's, or chunks that do not add up)."""
        try:
            body = json.loads(data)
            chunks = tuple(
                ChunkRef(str(d), int(n), str(p), int(o)) for d, n, p, o in body["chunks"]
            )
            manifest = cls(str(body["digest"]), int(body["size"]), chunks)
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"chunk manifest {where} is unreadable: {exc}", [digest]) from exc
        names_ok = all(
            DIGEST_RE.fullmatch(c.digest) and DIGEST_RE.fullmatch(c.pack) for c in chunks
        )
        if (
            manifest.digest != digest
            or not names_ok
            or sum(c.size for c in chunks) != manifest.size
        ):
            raise IntegrityError(f"chunk manifest {where} does not describe {digest}", [digest])
        return manifest


class ChunkedReader:
    """A file-like reader of a chunked file's bytes, in order, one pack run at a time
    (``read_range(pack, offset, length)`` reads a run); unverified, like ``open``."""

    def __init__(self, manifest: ChunkManifest, read_range: RangeReader) -> None:
        self._segments = manifest.segments()
        self._read_range = read_range
        self._buffer = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else None
        while wanted is None or wanted > 0:
            if not self._buffer:
                segment = next(self._segments, None)
                if segment is None:
                    break
                self._buffer = memoryview(self._read_range(*segment))
            take = len(self._buffer) if wanted is None else min(wanted, len(self._buffer))
            parts.append(bytes(self._buffer[:take]))
            self._buffer = self._buffer[take:]
            if wanted is not None:
                wanted -= take
        return b"".join(parts)

    def close(self) -> None:
        self._buffer = memoryview(b"")
