"""``verify --repair FROM``: restore corrupt or missing blobs from good copies elsewhere.

``FROM`` is one of:

- a store URL (``s3://bucket/prefix``, ``file:///srv/other-store``, any registered
  scheme), opened through the store registry: the blob is read by its digest;
- a folder with a ``blobs/`` subfolder: a store's layout (a backup, a copy of a
  store), the blob read at ``blobs/<2 hex>/<digest>``;
- any other folder: its files are hashed to find the digests wanted, only the files
  whose size is one the catalog records for a damaged blob (all files when a damaged
  blob's size is unknown: an unreferenced blob seen by a whole-store verify).

Whatever ``FROM`` gives is hashed again before it is stored; bytes that do not hash to
the digest are refused and the blob stays reported. The blob itself is replaced
atomically by :meth:`BlobStore.replace_blob`, which never writes over a blob that
verifies. A chunked file is healed at the chunk level: its packs are blobs, restored like
any blob from a store that has them; failing that, a good copy of the file is cut again
and its damaged chunks written to a new pack (:mod:`digitalhub_airflow.datasets.chunking`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.datasets.chunking import Chunker, ChunkingPolicy
from digitalhub_airflow.datasets.verify import VerifyReport
from digitalhub_airflow.errors import (
    IntegrityError,
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
    StoreError,
)
from digitalhub_airflow.hashing import hash_file
from digitalhub_airflow.store import BlobStore, LocalBlobStore, local_path, open_store

log = logging.getLogger(__name__)


@dataclass
class RepairReport(VerifyReport):
    """A verify followed by a repair: ``corrupt`` and ``missing`` are what is still
    broken afterwards; ``not_found`` the damaged blobs ``FROM`` has no copy of,
    ``refused`` those whose copy in ``FROM`` does not hash to the digest."""

    source: str = ""
    repaired: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "source": self.source,
            "repaired": self.repaired,
            "not_found": self.not_found,
            "refused": self.refused,
        }


class RepairSource(ABC):
    """Where good copies of blobs may be."""

    #: What ``FROM`` was resolved to, for reports.
    description: str

    @abstractmethod
    def copy_of(self, digest: str) -> AbstractContextManager[Path]:
        """A local file that should hold the blob's bytes (checked by the caller);
        :class:`NotFoundError` when there is none, :class:`IntegrityError` when the
        source itself finds its copy bad."""


class StoreSource(RepairSource):
    """Another store, or a folder in a store's layout: the blob is read by its digest
    into a temporary file, verified on the way (bad bytes: :class:`IntegrityError`)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.description = store.url

    @contextmanager
    def copy_of(self, digest: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="dhub-repair-") as tmp:
            dest = Path(tmp) / digest
            self.store.read_to(digest, dest)  # NotFoundError, or IntegrityError on bad bytes
            yield dest


class HashedFolder(RepairSource):
    """Any folder: its files are hashed (once, only those of a wanted size) to find the
    digests wanted."""

    def __init__(self, root: Path, wanted: Mapping[str, int | None]) -> None:
        self.root = root
        self.description = str(root)
        self._wanted = dict(wanted)
        self._found: dict[str, Path] | None = None

    def _index(self) -> dict[str, Path]:
        if self._found is not None:
            return self._found
        found: dict[str, Path] = {}
        missing = set(self._wanted)
        sizes = set(self._wanted.values())
        any_size = None in sizes
        for folder, _dirs, names in os.walk(self.root):
            for name in sorted(names):
                path = Path(folder, name)
                try:
                    if not path.is_file() or (not any_size and path.stat().st_size not in sizes):
                        continue
                    digest = hash_file(path)
                except OSError as exc:
                    log.warning("repair: cannot read %s: %s", path, exc)
                    continue
                if digest in missing:
                    found[digest] = path
                    missing.discard(digest)
            if not missing:
                break
        self._found = found
        return found

    @contextmanager
    def copy_of(self, digest: str) -> Iterator[Path]:
        path = self._index().get(digest)
        if path is None:
            raise NotFoundError(f"no file under {self.root} hashes to {digest}")
        yield path


def open_repair_source(text: str, wanted: Mapping[str, int | None]) -> RepairSource:
    """``FROM`` as a source of blobs: a store URL, a store-layout folder or any folder."""
    folder = local_path(text)
    if folder is None:
        return StoreSource(open_store(text))
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise InvalidOptionError(f"repair source {text!r} is not a folder nor a store URL")
    if (root / "blobs").is_dir():
        return StoreSource(LocalBlobStore(root, fsync=False))
    return HashedFolder(root, wanted)


def repair_blobs(
    store: BlobStore,
    source: RepairSource,
    verified: VerifyReport,
) -> RepairReport:
    """Restore each corrupt or missing blob of ``verified`` from ``source``."""
    report = RepairReport(verified.checked, verified.bytes_checked, source=source.description)
    healed: set[str] = set()
    damaged = [*verified.corrupt, *verified.missing]
    chunked = [d for d in damaged if _is_chunked(store, d)]
    broken_packs = {c.pack for c in verified.chunks}
    # Blobs and packs first: a chunked file whose packs came back needs nothing more.
    for digest in [d for d in damaged if d not in chunked] + chunked:
        try:
            if digest in chunked and store.intact(digest):
                pass
            else:
                with source.copy_of(digest) as path:
                    if digest not in chunked or not _rechunk(store, path, digest, broken_packs):
                        store.replace_blob(path, digest)  # False: it verified after all
        except NotFoundError:
            report.not_found.append(digest)
            continue
        except IntegrityError as exc:  # reported as refused; the blob stays reported
            log.debug("repair: %s", exc)
            report.refused.append(digest)
            continue
        healed.add(digest)
        report.repaired.append(digest)
        try:
            store.clear_damaged(digest)
        except StoreError as exc:  # a stale flag costs a commit one re-hash
            log.warning("%s", exc)
    store.sync()
    # A damaged pack whose damaged chunks' files were all re-chunked is needed by none of
    # them any more: no longer reported (gc removes it once nothing references it).
    report.chunks = [c for c in verified.chunks if not set(c.files) <= healed]
    settled = broken_packs - {c.pack for c in report.chunks}
    report.corrupt = [d for d in verified.corrupt if d not in healed and d not in settled]
    report.missing = [d for d in verified.missing if d not in healed and d not in settled]
    report.not_found = [d for d in report.not_found if d not in settled]
    return report


def _is_chunked(store: BlobStore, digest: str) -> bool:
    """True when the store keeps ``digest`` as a chunked file (even a damaged manifest)."""
    if not store.chunked_files or store.has(digest):
        return False
    try:
        return store.chunk_manifest(digest) is not None
    except IntegrityError:
        return True


def _rechunk(store: BlobStore, path: Path, digest: str, broken_packs: set[str]) -> bool:
    """Heal a chunked file from a good copy: its chunks are cut again, those in damaged
    packs written to a new pack, and its manifest replaced. ``False`` when the file is
    now below the chunking size (the caller stores it whole)."""
    chunker = Chunker(store, {}, {digest, *broken_packs}, ChunkingPolicy.from_environment())
    try:
        return chunker.ingest(path, path.stat().st_size, digest) is not None
    except InvalidSourceError as exc:  # the copy is not the file: refused like bad bytes
        raise IntegrityError(f"{path} does not hash to {digest}", [digest]) from exc
