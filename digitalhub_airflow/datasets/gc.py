"""``gc``: delete blobs no version references, once they are older than a grace period.

A chunked file's packs are referenced through its chunk manifest: gc keeps the packs of
every manifest it keeps and deletes the manifests of files no version references.

It runs under the exclusive store lease, so no commit is between finding a blob present
and referencing it; the grace period additionally spares blobs of commits that crashed
recently, which a user may want to re-run.

After a crash, gc need not wait for the crashed commit's lease to expire when that
commit ran on this host: taking the lease releases leases whose holder is provably dead
(:func:`digitalhub_airflow.datasets.leases.holder_is_dead`). A lease held on another
host is released by its TTL only (``DHUB_LEASE_TTL``).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.catalog.models import VersionFile
from digitalhub_airflow.datasets.leases import Lease, LeaseLostError, gc_lease
from digitalhub_airflow.errors import IntegrityError
from digitalhub_airflow.store.base import BlobStore


@dataclass
class GcReport:
    scanned: int = 0
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    kept_young: int = 0
    partials_removed: int = 0
    #: Chunk manifests of files no version references (their packs go as blobs).
    manifests_deleted: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "deleted": self.deleted,
            "bytes_freed": self.bytes_freed,
            "kept_young": self.kept_young,
            "partials_removed": self.partials_removed,
            "manifests_deleted": self.manifests_deleted,
            "dry_run": self.dry_run,
        }


def collect_garbage(
    catalog: Catalog, store: BlobStore, grace: timedelta, dry_run: bool = False
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    cutoff = datetime.now(timezone.utc) - grace
    # A dry run deletes nothing, so it takes no lease and never holds commits up.
    with nullcontext() if dry_run else gc_lease(catalog) as lease:
        with catalog.session() as session:
            referenced = set(session.scalars(select(VersionFile.digest).distinct()))
        referenced |= _kept_packs(store, referenced, cutoff, report, lease)
        for blob in store.iter_blobs():
            report.scanned += 1
            if blob.digest in referenced:
                continue
            if blob.modified > cutoff:
                report.kept_young += 1
                continue
            if lease is not None:  # gc_lease's lease whenever this is no dry run
                _check(lease)
                store.delete(blob.digest)
            report.deleted.append(blob.digest)
            report.bytes_freed += blob.size
        report.partials_removed = store.sweep_partial(cutoff, dry_run)
    return report


def _check(lease: Lease) -> None:
    if not lease.held():
        raise LeaseLostError("gc's lease expired; nothing more was deleted")


def _kept_packs(
    store: BlobStore, referenced: set[str], cutoff: datetime, report: GcReport, lease: Lease | None
) -> set[str]:
    """The packs of every chunk manifest kept (its file referenced, or the manifest
    younger than the grace period); older manifests of unreferenced files are deleted
    (``lease`` is ``None`` on a dry run: only counted). A manifest that does not parse
    is kept for ``verify`` to report; its packs are not known."""
    packs: set[str] = set()
    for info in store.iter_chunk_manifests():
        if info.digest not in referenced and info.modified <= cutoff:
            if lease is not None:
                _check(lease)
                store.delete_chunk_manifest(info.digest)
            report.manifests_deleted.append(info.digest)
            continue
        try:
            manifest = store.chunk_manifest(info.digest)
        except IntegrityError:
            continue
        if manifest is not None:
            packs |= manifest.packs
    return packs
