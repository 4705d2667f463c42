"""``verify``: re-hash stored blobs, for one version or the whole store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.store.base import BlobStore

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
