"""``verify``: re-hash stored blobs, for one version or the whole store.

What it finds damaged (corrupt, or missing though referenced) it flags in the store
(:meth:`BlobStore.mark_damaged`), and what verifies again it unflags: a commit of the
same bytes then knows to heal those blobs without re-hashing the ones it reuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.errors import NotFoundError, StoreError
from digitalhub_airflow.store.base import BlobStore

log = logging.getLogger(__name__)

VERIFY_THREADS = 4


@dataclass
class VerifyReport:
    checked: int = 0
    bytes_checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bytes_checked": self.bytes_checked,
            "corrupt": self.corrupt,
            "missing": self.missing,
        }


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
    return report


def flag_damage(store: BlobStore, report: VerifyReport, checked: Collection[str]) -> None:
    """Flag the report's corrupt and missing blobs in the store; unflag those of
    ``checked`` that verified. Best effort: a store this process may not write (a
    read-only mount, read-only credentials) is still verified, with a warning."""
    broken = set(report.corrupt) | set(report.missing)
    try:
        flagged = store.damaged()
        for digest in sorted(broken - flagged):
            store.mark_damaged(digest)
        for digest in sorted((flagged & set(checked)) - broken):
            store.clear_damaged(digest)
    except (StoreError, OSError) as exc:
        log.warning("verify could not record damaged blobs in %s: %s", store.url, exc)
