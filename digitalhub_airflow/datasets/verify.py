"""``verify``: re-hash stored blobs, for one version or the whole store.

What it finds damaged (corrupt, or missing though referenced) it flags in the store
(:meth:`BlobStore.mark_damaged`), and what verifies again it unflags: a commit of the
same bytes then knows to heal those blobs without re-hashing the ones it reuses.

A chunked file (:mod:`digitalhub_airflow.store.chunks`) is verified by its whole digest,
read chunk by chunk; when it fails, each of its chunks is checked, and the report names
the damaged chunks, their packs (flagged too) and the files and versions using them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.errors import IntegrityError, NotFoundError, StoreError
from digitalhub_airflow.hashing import hash_bytes
from digitalhub_airflow.store.base import BlobStore
from digitalhub_airflow.store.chunks import ChunkManifest, ChunkRef

log = logging.getLogger(__name__)

VERIFY_THREADS = 4


@dataclass
class DamagedChunk:
    """A chunk of a damaged chunked file: where it is, and who uses it."""

    digest: str
    pack: str
    state: str  # corrupt | missing
    files: list[str] = field(default_factory=list)
    #: Keys of the versions holding one of ``files`` (filled from the catalog).
    versions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk": self.digest,
            "pack": self.pack,
            "state": self.state,
            "files": self.files,
            "versions": self.versions,
        }


@dataclass
class VerifyReport:
    checked: int = 0
    bytes_checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: The damaged chunks of corrupt or missing chunked files (their packs are flagged).
    chunks: list[DamagedChunk] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing)

    def to_json(self) -> dict[str, Any]:
        found = {
            "ok": self.ok,
            "checked": self.checked,
            "bytes_checked": self.bytes_checked,
            "corrupt": self.corrupt,
            "missing": self.missing,
        }
        if self.chunks:  # only chunked files have them
            found["chunks"] = [c.to_json() for c in self.chunks]
        return found


def verify_blobs(
    store: BlobStore,
    blobs: Iterable[tuple[str, int]],
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Re-hash each (digest, size); report every corrupt or missing blob."""
    report = VerifyReport()

    def one(blob: tuple[str, int]) -> tuple[str, int, str]:
        digest, size = blob
        try:
            state = "ok" if store.verify(digest) else "corrupt"
        except NotFoundError:
            state = "missing"
        except IntegrityError:  # a chunked file whose manifest or pack is unreadable
            state = "corrupt"
        if progress:
            progress(size)
        return digest, size, state

    with ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="dhub-verify") as pool:
        for digest, size, state in pool.map(one, blobs):
            report.checked += 1
            report.bytes_checked += size
            if state == "corrupt":
                report.corrupt.append(digest)
            elif state == "missing":
                report.missing.append(digest)
    if store.chunked_files:
        report.chunks = damaged_chunks(store, [*report.corrupt, *report.missing])
    return report


def damaged_chunks(store: BlobStore, digests: Iterable[str]) -> list[DamagedChunk]:
    """Each chunk of the chunked files among ``digests`` whose bytes are gone or do not
    hash to its name (one read per chunk: only damaged files get here)."""
    found: dict[str, DamagedChunk] = {}
    for digest in digests:
        try:
            manifest = store.chunk_manifest(digest)
        except IntegrityError:  # the file is reported; its chunks cannot be named
            continue
        for chunk, state in _chunk_states(store, manifest):
            entry = found.setdefault(chunk.digest, DamagedChunk(chunk.digest, chunk.pack, state))
            if digest not in entry.files:
                entry.files.append(digest)
    return sorted(found.values(), key=lambda c: c.digest)


def _chunk_states(
    store: BlobStore, manifest: ChunkManifest | None
) -> Iterator[tuple[ChunkRef, str]]:
    """The damaged chunks of a manifest and why; one read per pack run (S3: one GET)."""
    chunks = iter(manifest.chunks if manifest is not None else ())
    for pack, offset, length in manifest.segments() if manifest is not None else ():
        try:
            data, state = store.read_range(pack, offset, length), "ok"
        except NotFoundError:
            data, state = b"", "missing"
        except IntegrityError:  # the pack is too short
            data, state = b"", "corrupt"
        done = 0
        while done < length:
            chunk = next(chunks)
            start = chunk.offset - offset
            piece = data[start : start + chunk.size]
            if state != "ok":
                yield chunk, state
            elif hash_bytes(piece) != chunk.digest:
                yield chunk, "corrupt"
            done += chunk.size


def name_versions(catalog: Any, report: VerifyReport) -> None:
    """Fill each damaged chunk's ``versions``: the keys of the versions holding one of
    its files (one query)."""
    files = {f for chunk in report.chunks for f in chunk.files}
    if not files:
        return
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Dataset, Project, Version, VersionFile

    query = (
        select(VersionFile.digest, Project.name, Dataset.kind, Dataset.name, Version.seq)
        .join(Version, Version.id == VersionFile.version_pk)
        .join(Dataset, Dataset.id == Version.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(VersionFile.digest.in_(sorted(files)))
    )
    users: dict[str, set[str]] = {}
    with catalog.session() as session:
        for digest, project, kind, name, seq in session.execute(query):
            users.setdefault(digest, set()).add(f"store://{project}/dataitem/{kind}/{name}:v{seq}")
    for chunk in report.chunks:
        chunk.versions = sorted({key for f in chunk.files for key in users.get(f, ())})


def flag_damage(store: BlobStore, report: VerifyReport, checked: Collection[str]) -> None:
    """Flag the report's corrupt and missing blobs in the store; unflag those of
    ``checked`` that verified. Best effort: a store this process may not write (a
    read-only mount, read-only credentials) is still verified, with a warning."""
    broken = set(report.corrupt) | set(report.missing) | {c.pack for c in report.chunks}
    try:
        flagged = store.damaged()
        for digest in sorted(broken - flagged):
            store.mark_damaged(digest)
        for digest in sorted((flagged & set(checked)) - broken):
            store.clear_damaged(digest)
    except (StoreError, OSError) as exc:
        log.warning("verify could not record damaged blobs in %s: %s", store.url, exc)
