"""The content-addressed blob store: one object per distinct content, named by digest.

Blobs live at ``blobs/<2 hex>/<digest>`` under the store root. Writes are atomic (temp
then rename, or a single S3 PUT / multipart completion), so a crash leaves at most an
unreferenced blob; reads always re-hash and compare.
"""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from digitalhub_airflow.errors import IntegrityError, InvalidKeyError
from digitalhub_airflow.hashing import iter_chunks, new_hasher

DIGEST_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: datetime


def blob_key(digest: str) -> str:
    """Relative key of a blob; refuses anything that is not a digest (no traversal)."""
    if not DIGEST_RE.fullmatch(digest):
        raise InvalidKeyError(f"{digest!r} is not a BLAKE3 hex digest")
    return f"blobs/{digest[:2]}/{digest}"


class BlobStore(ABC):
    """Where blobs live: a local folder or an S3 bucket/prefix."""

    #: A URL naming the store root, for messages and lineage (no credentials).
    url: str
    #: True when a blob's digest must be known before it is written (object stores).
    hashes_before_write: bool = False
    #: Parallel writers: many for network round trips, few for a local disk.
    ingest_threads: int = min(4, os.cpu_count() or 1)

    @abstractmethod
    def has(self, digest: str) -> bool: ...

    @abstractmethod
    def ingest(self, source: Path, digest: str | None) -> tuple[str, bool]:
        """Store the file at ``source``; return (digest, written).

        ``digest`` is the source's digest when already known (e.g. from the hash cache);
        an existing blob with that digest is then not written again.
        """

    @abstractmethod
    def sync(self) -> None:
        """Make the blobs written so far durable (before the catalog references them)."""

    @abstractmethod
    def open(self, digest: str) -> AbstractContextManager[BinaryIO]: ...

    @abstractmethod
    def iter_blobs(self) -> Iterator[BlobInfo]: ...

    @abstractmethod
    def delete(self, digest: str) -> None: ...

    @abstractmethod
    def location(self, digest: str) -> str:
        """The physical URI of a blob (``file://…`` or ``s3://…``)."""

    @abstractmethod
    def sweep_partial(self, older_than: datetime, dry_run: bool = False) -> int:
        """Remove (or, dry, count) leftovers of interrupted writes before ``older_than``."""

    def read_to(self, digest: str, dest: Path) -> int:
        """Copy a blob to ``dest``, verifying its digest; nothing is left on mismatch."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        hasher = new_hasher()
        size = 0
        try:
            with self.open(digest) as src, os.fdopen(fd, "wb") as out:
                for chunk in iter_chunks(src):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if hasher.hexdigest() != digest:
                raise IntegrityError(
                    f"blob {digest} at {self.location(digest)} is corrupt: content hashes to "
                    f"{hasher.hexdigest()}",
                    [digest],
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``True`` when it matches its name."""
        hasher = new_hasher()
        with self.open(digest) as src:
            for chunk in iter_chunks(src):
                hasher.update(chunk)
        return hasher.hexdigest() == digest
