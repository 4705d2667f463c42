"""Content-defined chunking of large files at commit: FastCDC cuts, BLAKE3 names, packs.

A file of at least ``min_file`` bytes (64 MiB) committed to a store that keeps chunked
files (:attr:`BlobStore.chunked_files`: the folder and S3 backends) is cut by FastCDC
(average 1 MiB, between 256 KiB and 4 MiB); each chunk is named by its BLAKE3 digest.
Chunks the dataset's latest version already stores are referenced where they are; the
new ones are appended to packs of about 32 MiB (blobs), so a 1 GiB file is ~32 objects
on S3, not ~800, and a 1 MiB edit in its middle stores one small pack (a few chunks
around the edit: FastCDC's cut points resynchronise right after it). The file's
whole-content digest (``b3sum``'s) is computed alongside, in another thread, and names
the file's chunk manifest (:mod:`digitalhub_airflow.store.chunks`), written once its
packs are durable. A crash before the catalog transaction leaves unreferenced packs and
perhaps a manifest, which ``gc`` removes.

Deduplication looks at the latest version of the same dataset (one query, one manifest
read per large file there), which is where an edited large file's previous content is.
``DHUB_CHUNKED_MIN_BYTES`` and ``DHUB_CHUNK_AVG_BYTES`` change the two sizes (tests use
small ones); chunks stay store layout, outside version ids, so changing them only
changes how new content is stored.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Container, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
from sqlalchemy import select

from digitalhub_airflow.catalog.models import VersionFile
from digitalhub_airflow.datasets.failpoints import FIRST_PACK_POINT, failpoint
from digitalhub_airflow.datasets.versions import find_dataset_or_none, latest_version
from digitalhub_airflow.errors import IntegrityError, InvalidSourceError, StoreError
from digitalhub_airflow.hashing import new_hasher
from digitalhub_airflow.keys import Key
from digitalhub_airflow.store.base import BlobStore
from digitalhub_airflow.store.chunks import ChunkManifest, ChunkRef

MIB = 1 << 20
#: Packs written at once per file: the store's ingest threads, at most 8 (as many parts
#: as boto3 uploads at once on S3); one more may wait, and one fills, so memory stays
#: under (writers + 2) pack buffers (:class:`_PackBuffers`).
MAX_PACK_WRITERS = 8


@dataclass(frozen=True)
class ChunkingPolicy:
    """Which files are chunked and how: files of ``min_file`` bytes or more, chunks of
    ``avg`` bytes on average (FastCDC: ``avg/4`` to ``4*avg``), packs of ``32*avg``."""

    min_file: int = 64 * MIB
    avg: int = MIB

    @property
    def pack(self) -> int:
        return 32 * self.avg

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ChunkingPolicy:
        env = os.environ if environ is None else environ
        try:
            return cls(
                int(env.get("DHUB_CHUNKED_MIN_BYTES") or cls.min_file),
                int(env.get("DHUB_CHUNK_AVG_BYTES") or cls.avg),
            )
        except ValueError as exc:
            raise InvalidSourceError(f"DHUB_CHUNKED_MIN_BYTES/DHUB_CHUNK_AVG_BYTES: {exc}") from exc

    @property
    def cutter_max(self) -> int:
        """The largest chunk the cutter makes."""
        return 4 * self.avg

    def cutter(self) -> Any:
        from pyfastcdc import FastCDC

        return FastCDC(self.avg, min_size=self.avg // 4, max_size=self.cutter_max)


def _hash_fed(hasher: blake3.blake3, feed: queue.SimpleQueue[memoryview | None]) -> None:
    """Hash the pieces put on ``feed``, in order, until ``None``."""
    while (piece := feed.get()) is not None:
        hasher.update(piece)


class _PackBuffers:
    """Pack buffers of one file, reused: a fresh 32 MiB ``bytearray`` per pack costs a
    zeroed page per 4 KiB (about 1 s of system time for a 1 GiB file); a reused one
    is touched once. Each holds a full pack plus the largest chunk that may overrun it,
    and is handed out as a ``memoryview`` (slice assignment to one is a plain copy)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()

    def take(self) -> memoryview:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return memoryview(bytearray(self.capacity))

    def give(self, buffer: memoryview) -> None:
        self._free.put(buffer)


class Chunker:
    """Stores large files of one commit as chunks; reuses chunks of the parent version."""

    def __init__(
        self,
        store: BlobStore,
        known: Mapping[str, ChunkRef],
        damaged: Container[str],
        policy: ChunkingPolicy,
    ) -> None:
        self.store, self.policy, self.damaged = store, policy, damaged
        self._known = dict(known)
        self._lock = threading.Lock()

    def wants(self, size: int) -> bool:
        return size >= self.policy.min_file

    def ingest(self, source: Path, size: int, known: str | None) -> tuple[str, bool, bool] | None:
        """(digest, written, repaired) of a large file stored as chunks; ``None`` when the
        store holds it as a whole blob (the caller's blob path reuses or heals that)."""
        if not self.wants(size) or (known is not None and self.store.has(known)):
            return None
        present = self._present(known) if known is not None else None
        if present is True:
            return str(known), False, False
        digest, manifest = self._write_chunks(source, present or None)
        if known is not None and digest != known:
            raise InvalidSourceError(f"{source} changed while it was being committed")
        if known is None:
            if self.store.has(digest):
                return None  # stored whole before chunking existed; our packs go to gc
            present = self._present(digest)
            if present is True:
                return digest, False, False  # a concurrent or earlier commit stored it
        self.store.put_chunk_manifest(manifest)
        repaired = present is not None
        if repaired:
            with suppress(StoreError):  # a stale flag costs one more re-chunk later
                self.store.clear_damaged(digest)
        return digest, not repaired, repaired

    def _present(self, digest: str) -> bool | ChunkManifest | None:
        """``True`` when the store holds the chunked file intact as far as a commit
        checks (its manifest, nothing of it flagged by ``verify``); its manifest when
        that is damaged (to heal it); ``None`` when there is none. A manifest that does
        not parse is damaged too (an empty one stands for it)."""
        try:
            manifest = self.store.chunk_manifest(digest)
        except IntegrityError:
            return ChunkManifest(digest, 0, ())
        if manifest is None:
            return None
        if digest in self.damaged or any(p in self.damaged for p in manifest.packs):
            return manifest
        return True

    def _usable(self, healing: ChunkManifest | None) -> dict[str, ChunkRef]:
        """Chunks this file may reference: the parent's, and those of a manifest being
        healed, except any in a pack ``verify`` flagged."""
        with self._lock:
            usable = dict(self._known)
        if healing is not None:
            usable.update({c.digest: c for c in healing.chunks})
        return {d: c for d, c in usable.items() if c.pack not in self.damaged}

    def _write_chunks(
        self, source: Path, healing: ChunkManifest | None
    ) -> tuple[str, ChunkManifest]:
        """Cut, name and pack the new chunks of ``source``; its whole digest and manifest."""
        usable = self._usable(healing)
        whole = new_hasher()
        # The whole digest is computed in another thread from the chunks as cut: the
        # cutter's own mapping of the file, not a second one (its page faults again).
        feed: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        hashed = ThreadPoolExecutor(1, thread_name_prefix="dhub-whole")
        whole_done = hashed.submit(_hash_fed, whole, feed)
        writers = max(1, min(MAX_PACK_WRITERS, self.store.ingest_threads))
        writer = ThreadPoolExecutor(writers, thread_name_prefix="dhub-pack")
        packs: list[Future[str]] = []
        placed: list[tuple[str, int, int | str, int]] = []  # pack as its number until written
        mine: dict[str, tuple[int, int, int]] = {}  # chunk -> (size, pack number, offset)
        buffers = _PackBuffers(self.policy.pack + self.policy.cutter_max)
        buffer, filled = buffers.take(), 0
        try:
            for cut in self.policy.cutter().cut_file(str(source)):
                feed.put(cut.data)
                digest = blake3.blake3(cut.data).hexdigest()
                ref = usable.get(digest)
                if ref is not None:
                    placed.append((digest, ref.size, ref.pack, ref.offset))
                    continue
                if digest not in mine:
                    mine[digest] = (cut.length, len(packs), filled)
                    buffer[filled : filled + cut.length] = cut.data
                    filled += cut.length
                size, number, offset = mine[digest]
                placed.append((digest, size, number, offset))
                if filled >= self.policy.pack:
                    packs.append(writer.submit(self._write_pack, buffers, buffer, filled))
                    buffer, filled = buffers.take(), 0
                    if len(packs) > writers:
                        packs[-1 - writers].result()
            if filled:
                packs.append(writer.submit(self._write_pack, buffers, buffer, filled))
            names = [future.result() for future in packs]
        finally:
            feed.put(None)  # the end of the file, or of a cut that failed
            writer.shutdown(wait=True)
            hashed.shutdown(wait=True)
        whole_done.result()
        digest = whole.hexdigest()
        chunks = tuple(
            ChunkRef(d, n, names[p] if isinstance(p, int) else p, o) for d, n, p, o in placed
        )
        manifest = ChunkManifest(digest, sum(c.size for c in chunks), chunks)
        with self._lock:
            self._known.update({c.digest: c for c in chunks})
        return digest, manifest

    def _write_pack(self, buffers: _PackBuffers, buffer: memoryview, filled: int) -> str:
        """Name and store the first ``filled`` bytes of ``buffer``, then give it back."""
        try:
            with buffer[:filled] as data:
                return self._store_pack(data)
        finally:
            buffers.give(buffer)

    def _store_pack(self, data: memoryview) -> str:
        name = blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()
        if name in self.damaged:  # the same pack again, its stored copy flagged: heal it
            with tempfile.TemporaryDirectory(prefix="dhub-pack-") as tmp:
                path = Path(tmp) / name
                path.write_bytes(data)
                self.store.replace_blob(path, name)
            with suppress(StoreError):
                self.store.clear_damaged(name)
        else:
            self.store.put_bytes(data, name)
        failpoint(FIRST_PACK_POINT)
        return name


def parent_chunks(
    catalog: Any, store: BlobStore, key: Key, policy: ChunkingPolicy, damaged: Container[str]
) -> dict[str, ChunkRef]:
    """The chunks of the large files of ``key``'s latest version, by digest (none when
    the dataset is new). Read under the commit's store lease: gc cannot remove them."""
    with catalog.session() as session:
        dataset = find_dataset_or_none(session, key)
        latest = latest_version(session, dataset.id) if dataset is not None else None
        if latest is None:
            return {}
        digests = list(
            session.scalars(
                select(VersionFile.digest).where(
                    VersionFile.version_pk == latest.id, VersionFile.size >= policy.min_file
                )
            )
        )
    found: dict[str, ChunkRef] = {}
    for digest in digests:
        if digest in damaged:
            continue
        try:
            manifest = store.chunk_manifest(digest)
        except IntegrityError:
            continue
        if manifest is not None:
            found.update({c.digest: c for c in manifest.chunks})
    return found


def chunker_for(
    catalog: Any, store: BlobStore, key: Key, sizes: list[int], damaged: Container[str]
) -> Chunker | None:
    """A chunker for a commit of files of ``sizes`` to ``key``, or ``None`` when the
    store keeps no chunked files or no file is large enough."""
    policy = ChunkingPolicy.from_environment()
    if not store.chunked_files or not any(size >= policy.min_file for size in sizes):
        return None
    return Chunker(store, parent_chunks(catalog, store, key, policy, damaged), damaged, policy)
