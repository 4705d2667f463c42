"""The content-addressed blob store: one object per distinct content, named by digest.

Blobs live at ``blobs/<2 hex>/<digest>`` under the store root. Writes are atomic (temp
then rename, or a single S3 PUT / multipart completion), so a crash leaves at most an
unreferenced blob; reads always re-hash and compare.

A damaged blob (its bytes no longer hash to its name, or it is gone) is healed by
:meth:`BlobStore.replace_blob`, which writes the good bytes atomically and never
overwrites a blob that still verifies. ``verify`` flags the damaged blobs it finds
(:meth:`BlobStore.mark_damaged`: an empty ``damaged/<digest>`` entry beside ``blobs/``),
so a later commit of the same bytes knows to heal them without re-hashing every blob
it reuses (the rule and its cost: :mod:`digitalhub_airflow.datasets.commit`).

A backend is a :class:`BlobStore` subclass registered for its URI scheme
(:mod:`digitalhub_airflow.store.registry`). Besides the blob operations, its class
methods say everything the rest of the suite needs to know about it: how a
:class:`StoreConfig` opens it, which settings it reads from the environment, how an
Airflow connection's fields map to it, what a workload on another machine needs to reach
it, and how a commit reads a source URL of its scheme.
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, cast

from digitalhub_airflow.errors import (
    IntegrityError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
    StoreError,
)
from digitalhub_airflow.hashing import hash_file, iter_chunks, new_hasher

if TYPE_CHECKING:
    from digitalhub_airflow.store.chunks import ChunkManifest

DIGEST_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobInfo:
    digest: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class StoreConfig:
    """Where a store is and how to reach it: its URL and its backend's options.

    ``options`` are the backend's own (e.g. the S3 endpoint and credentials);
    ``from_connection`` is true when they came from an Airflow connection, whose
    credentials a workload elsewhere must then be handed (from the environment, a
    workload is expected to have its own).
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    from_connection: bool = False


@dataclass(frozen=True)
class ConnectionFields:
    """An Airflow connection as plain values: what a backend maps to a :class:`StoreConfig`
    (the hook fills it; the core never sees an Airflow object)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteFile:
    """One file a source URL names: its path relative to the URL and how to copy it here.

    ``download(dest)`` writes the file to the local path ``dest``; it raises
    :class:`InvalidSourceError` when the file cannot be read.
    """

    relpath: str
    download: Callable[[Path], None]


def blob_key(digest: str) -> str:
    """Relative key of a blob; refuses anything that is not a digest (no traversal)."""
    if not DIGEST_RE.fullmatch(digest):
        raise InvalidKeyError(f"{digest!r} is not a BLAKE3 hex digest")
    return f"blobs/{digest[:2]}/{digest}"


#: Where a store keeps its damage flags, beside ``blobs/``: one empty entry per digest.
DAMAGED = "damaged"


def damaged_key(digest: str) -> str:
    """Relative key of a blob's damage flag (``damaged/<digest>``)."""
    blob_key(digest)  # validates the digest
    return f"{DAMAGED}/{digest}"


class BlobStore(ABC):
    """Where blobs live: a local folder, an S3 bucket/prefix, or any registered backend."""

    #: A URL naming the store root, for messages and lineage (no credentials).
    url: str
    #: Airflow connection types whose fields :meth:`config_from_connection` maps; a
    #: connection of another type names its store by URL (``host`` or extra ``path``).
    connection_types: ClassVar[tuple[str, ...]] = ()
    #: True when a process on another machine reaches the store with the same settings.
    shared: ClassVar[bool] = True
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

    # -- chunked files (:mod:`digitalhub_airflow.store.chunks`); off by default ---------
    #: True when the backend keeps chunk manifests, so large files are stored as chunks.
    chunked_files: ClassVar[bool] = False

    def put_bytes(self, data: bytes | bytearray | memoryview, digest: str) -> bool:
        """Store ``data``, which the caller hashed to ``digest``, unless that blob is
        there; ``True`` when written. The default goes through a temporary file."""
        with tempfile.TemporaryDirectory(prefix="dhub-put-") as tmp:
            path = Path(tmp) / "blob"
            path.write_bytes(data)
            stored, written = self.ingest(path, digest)
        if stored != digest:
            raise IntegrityError(f"bytes given as blob {digest} hash to {stored}", [digest])
        return written

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a blob from ``offset`` (unverified); the default reads
        from the start."""
        with self.open(digest) as src:
            src.read(offset)
            data = src.read(length)
        if len(data) != length:
            raise IntegrityError(f"blob {digest} at {self.location(digest)} is too short", [digest])
        return data

    def put_chunk_manifest(self, manifest: ChunkManifest) -> None:
        """Store (atomically replace) a file's chunk manifest, its packs already durable."""
        raise StoreError(f"store {self.url} does not keep chunked files")

    def chunk_manifest(self, digest: str) -> ChunkManifest | None:
        """The chunk manifest of the file ``digest``, or ``None`` (no chunked file)."""
        return None

    def iter_chunk_manifests(self) -> Iterator[BlobInfo]:
        """Every chunk manifest present: the file's digest, the manifest's size and time."""
        return iter(())

    def delete_chunk_manifest(self, digest: str) -> None:  # noqa: B027 - none by default
        """Remove a file's chunk manifest (gc; its packs are blobs, collected as such)."""

    def open_chunked(self, digest: str) -> AbstractContextManager[BinaryIO]:
        """A chunked file's bytes in order (unverified, like :meth:`open`);
        :class:`NotFoundError` when the store has no such file."""
        from contextlib import closing

        from digitalhub_airflow.store.chunks import ChunkedReader

        manifest = self.chunk_manifest(digest)
        if manifest is None:
            raise NotFoundError(f"blob {digest} is missing from store {self.url}")
        reader = ChunkedReader(manifest, self.read_range)
        return cast("AbstractContextManager[BinaryIO]", closing(reader))

    # -- the backend's class-level contract (defaults fit a simple backend) -------------
    @classmethod
    def from_config(cls, config: StoreConfig) -> BlobStore:
        """Open the store ``config`` names; by default ``cls(url, **options)``."""
        try:
            inspect.signature(cls).bind(config.url, **config.options)
        except TypeError as exc:
            raise InvalidOptionError(
                f"store {config.url!r}: options {sorted(config.options)} do not fit the "
                f"{cls.__name__} backend ({exc})"
            ) from exc
        factory: Callable[..., BlobStore] = cls
        return factory(config.url, **config.options)

    @classmethod
    def environment_options(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """The options this backend reads from the environment (its own variables)."""
        return {}

    @classmethod
    def config_from_connection(cls, conn: ConnectionFields) -> StoreConfig:
        """Map an Airflow connection's fields to a config; by default its ``host`` (or
        extra ``path``) is the store URL and the environment gives the options."""
        url = conn.host or str(conn.extra.get("path") or "")
        return StoreConfig(url, cls.environment_options(os.environ), from_connection=True)

    @classmethod
    def workload_environment(cls, config: StoreConfig) -> tuple[dict[str, str], dict[str, str]]:
        """``(settings, secrets)``: the environment a process elsewhere (a pod, a
        subprocess) needs to open the same store. ``secrets`` never go into a pod spec."""
        return {"DHUB_STORE_URL": config.url}, {}

    @classmethod
    def workload_problem(cls, url: str) -> str | None:
        """Why a process on another machine could not reach the store at ``url``, or None."""
        return None if cls.shared else f"the store {url} is only on this machine"

    @classmethod
    def list_source(
        cls, url: str, lender: BlobStore | None = None, client: Any | None = None
    ) -> list[RemoteFile]:
        """The files a commit source URL of this scheme names: one object, or every
        object under a prefix/folder, with paths relative to it.

        ``lender`` is the hub's store (a backend may reuse its connection when it is of
        the same kind); ``client`` a ready client of this backend's library. The default
        reads through fsspec, for any scheme fsspec (or one of its plugins) knows.
        """
        return _fsspec_listing(url)

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

    # -- healing (defaults fit a backend without flags; override for atomic writes) -----
    def intact(self, digest: str) -> bool:
        """``True`` when the blob is there and its bytes hash to its name (a full re-hash)."""
        try:
            return self.verify(digest)
        except NotFoundError:
            return False

    def looks_damaged(self, digest: str, size: int) -> bool:
        """A cheap check of a blob a commit is about to reuse: ``True`` when the backend
        sees without reading it that it cannot hold ``size`` bytes of that content (its
        stored size differs, or it is gone). No re-hash: a same-size flip passes here and
        is caught by ``verify``, whose flag (:meth:`damaged`) the commit also consults.
        The default knows nothing cheaply and says ``False``."""
        return False

    def damaged(self) -> set[str]:
        """The digests ``verify`` flagged as corrupt or missing and nothing healed since
        (one listing). A backend without flags has none."""
        return set()

    def mark_damaged(self, digest: str) -> None:  # noqa: B027 - optional, no flags
        """Flag a blob as damaged, so a commit of its bytes heals it. Default: no flags."""

    def clear_damaged(self, digest: str) -> None:  # noqa: B027 - optional, no flags
        """Remove a blob's damage flag (it has been healed or verifies again)."""

    def replace_blob(self, source: Path, digest: str) -> bool:
        """Heal the blob ``digest`` with the bytes of the local file ``source``.

        The source must hash to ``digest`` (else :class:`IntegrityError`, nothing
        written); the stored blob is re-checked right before it is replaced, and one
        whose bytes verify is never written over (``False``). Returns ``True`` when the
        blob was written. This default deletes the damaged blob and ingests the source:
        not atomic (a reader may meet the blob missing for a moment); the built-in
        backends override it with one atomic write (rename; a single PUT).
        """
        actual = hash_file(source)
        if actual != digest:
            raise IntegrityError(
                f"{source} hashes to {actual}, not {digest}: refused as blob {digest}", [digest]
            )
        if self.intact(digest):
            return False
        self.delete(digest)
        stored, _ = self.ingest(source, digest)
        if stored != digest:  # pragma: no cover - the source changed after it was hashed
            raise IntegrityError(f"{source} changed while it was being stored", [digest])
        self.sync()
        return True


def copy_verified(source: Path, dest: Path, digest: str, fsync: bool = False) -> int:
    """Copy ``source`` to ``dest`` while hashing it (``fsync``: then flush it to disk);
    :class:`IntegrityError`, and nothing left at ``dest``, when the bytes do not hash
    to ``digest``. Returns the size."""
    hasher = new_hasher()
    size = 0
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            for chunk in iter_chunks(src):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if hasher.hexdigest() != digest:
        dest.unlink(missing_ok=True)
        raise IntegrityError(
            f"{source} hashes to {hasher.hexdigest()}, not {digest}: refused as blob {digest}",
            [digest],
        )
    return size


def _fsspec_listing(url: str) -> list[RemoteFile]:
    """A source URL's files through fsspec: the object itself, or all files below it."""
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec comes with Airflow
        raise InvalidSourceError(f"cannot read {url}: fsspec is not installed") from exc

    try:
        fs, path = fsspec.core.url_to_fs(url)
        if fs.isfile(path):
            found = {path: path.rstrip("/").rpartition("/")[2]}
        else:
            base = path.rstrip("/")
            found = {
                name: name[len(base) :].lstrip("/")
                for name in sorted(fs.find(base))
                if not name.endswith("/")
            }
    except (ValueError, ImportError) as exc:
        raise InvalidSourceError(f"cannot read {url}: {exc}") from exc
    except OSError as exc:
        raise InvalidSourceError(f"cannot read {url}: {exc}") from exc
    if not found:
        raise InvalidSourceError(f"{url} matches no object")

    def copier(remote: str) -> Callable[[Path], None]:
        def download(dest: Path) -> None:
            try:
                fs.get_file(remote, str(dest))
            except OSError as exc:
                raise InvalidSourceError(f"cannot read {url}: {exc}") from exc

        return download

    return [RemoteFile(rel, copier(name)) for name, rel in found.items()]
