"""The commit protocol (DESIGN.md): upload missing blobs, then ONE catalog transaction.

1. Collect and check the source (a file that does not parse is refused here).
2. Under a shared store lease, upload every blob the store lacks (in parallel).
3. In one transaction, locked on the dataset row: return the existing version if the
   content is already there, else insert the version and its files with the next
   sequence number and move ``latest``; under a producing run
   (:mod:`digitalhub_airflow.lineage.producing`), the run and the version's
   ``produced_by`` edge are written in the same transaction.
A crash before step 3 commits leaves only unreferenced blobs, which ``gc`` removes.

Self-healing: a blob the store already has is reused after a cheap check only
(:meth:`BlobStore.looks_damaged`: a ``stat`` on a folder store) plus the damage flags
``verify`` left (:meth:`BlobStore.damaged`: one listing per commit, read only when a
blob is reused). A blob that fails either is re-hashed and, when its bytes are bad,
replaced atomically by the source's (:meth:`BlobStore.replace_blob`); a healthy blob is
never re-hashed nor rewritten. A same-size bit flip is therefore healed by a commit only
once ``verify`` has flagged it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import (
    Alias,
    AliasEvent,
    Dataset,
    Project,
    Version,
    VersionFile,
    utcnow,
)
from digitalhub_airflow.datasets.chunking import Chunker, chunker_for
from digitalhub_airflow.datasets.failpoints import PRODUCED_BY_POINT, failpoint
from digitalhub_airflow.datasets.hashcache import HashCache
from digitalhub_airflow.datasets.leases import Lease, commit_lease, hold
from digitalhub_airflow.datasets.manifest import ColumnSchema, FileEntry, Manifest, schema_to_json
from digitalhub_airflow.datasets.schema_diff import check_policy
from digitalhub_airflow.datasets.sources import SourceFile, check_unique, common_table_format
from digitalhub_airflow.datasets.tables import combine_files, inspect_table
from digitalhub_airflow.datasets.versions import (
    LATEST,
    VersionInfo,
    find_dataset,
    find_dataset_or_none,
    latest_version,
    to_info,
)
from digitalhub_airflow.errors import (
    ConflictError,
    InvalidSourceError,
    NotFoundError,
    StoreError,
)
from digitalhub_airflow.errors import IntegrityError as BlobIntegrityError
from digitalhub_airflow.hashing import hash_file
from digitalhub_airflow.keys import Key, validate_name, validate_version
from digitalhub_airflow.lineage.producing import ProducingRun, attach_output, current_run
from digitalhub_airflow.lineage.task_context import task_context_producer
from digitalhub_airflow.settings import current_user
from digitalhub_airflow.store.base import BlobStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30

#: Called with the number of bytes each time a file has been stored or skipped.
Progress = Callable[[int], None]


@dataclass
class CommitResult:
    version: VersionInfo
    created: bool
    blobs_written: int
    blobs_skipped: int
    #: Blobs the store had damaged (corrupt or flagged by ``verify``), replaced by the
    #: committed bytes; counted neither as written nor as skipped.
    blobs_repaired: int = 0

    @property
    def key(self) -> str:
        return self.version.key

    def to_json(self) -> dict[str, Any]:
        return {
            **self.version.to_json(),
            "created": self.created,
            "blobs_written": self.blobs_written,
            "blobs_skipped": self.blobs_skipped,
            "blobs_repaired": self.blobs_repaired,
        }


@dataclass(frozen=True)
class Description:
    """What a source is, known before anything is stored."""

    kind: str
    format: str
    schema: list[ColumnSchema] | None = None
    rows: int | None = None

    def manifest(self, entries: list[FileEntry]) -> Manifest:
        return Manifest(self.kind, self.format, entries, self.schema, self.rows)


@dataclass(frozen=True)
class CommitRequest:
    """Where a commit goes and what it records besides the content."""

    key: Key
    message: str = ""
    producer: dict[str, Any] | None = None
    schema_policy: str = "any"
    parent: str | None = None
    aliases: tuple[str, ...] = ()
    run: ProducingRun | None = None


def describe_source(
    files: list[SourceFile],
    kind: str | None,
    cache: HashCache | None,
    initial: dict[Path, os.stat_result],
) -> Description:
    """Decide kind and format and read the table schema, before anything is stored.

    A table file whose content is in the hash cache is described from the cache.
    """
    fmt = common_table_format(files)
    if kind is None:
        kind = "table" if fmt else "files"
    if kind == "files":
        return Description(kind, "files")
    if kind != "table":
        raise InvalidSourceError(f"kind must be 'table' or 'files', not {kind!r}")
    if fmt is None:
        names = ", ".join(sorted({f.path.suffix or f.relpath for f in files}))
        raise InvalidSourceError(
            f"a table must be CSV, Parquet or JSON lines files of one format; got {names}"
        )
    described = []
    for source in files:
        digest = (
            cache.lookup(source.path, initial[source.path]) if cache and source.cacheable else None
        )
        cached = cache.table(digest, fmt) if cache and digest else None
        if cached is not None:
            columns = [ColumnSchema(**c) for c in cached["columns"]]
            rows = int(cached["rows"])
        else:
            columns, rows = inspect_table(source.path, fmt)
        described.append((source.path, columns, rows))
    columns, rows = combine_files(described)
    return Description(kind, fmt, columns, rows)


class DamageFlags:
    """The store's damage flags (:meth:`BlobStore.damaged`), listed at most once per
    commit and only when asked: a commit that writes every blob never lists them."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._found: set[str] | None = None
        self._lock = threading.Lock()

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            if self._found is None:
                try:
                    self._found = self.store.damaged()
                except StoreError as exc:  # e.g. credentials that may not list: no healing
                    log.warning("cannot read the damage flags of %s: %s", self.store.url, exc)
                    self._found = set()
            return digest in self._found


def heal(store: BlobStore, source: Path, digest: str) -> bool:
    """Replace a damaged blob with the bytes of ``source`` (which a commit hashed to
    ``digest``); ``True`` when the blob was rewritten, ``False`` when it verified after
    all. Its damage flag is cleared either way."""
    try:
        replaced = store.replace_blob(source, digest)
    except BlobIntegrityError as exc:
        raise InvalidSourceError(f"{source} changed while it was being committed") from exc
    try:
        store.clear_damaged(digest)
    except StoreError as exc:  # the blob is good; a stale flag costs one re-hash later
        log.warning("%s", exc)
    return replaced


def store_blob(
    store: BlobStore, source: Path, known: str | None, flags: DamageFlags
) -> tuple[str, bool, bool]:
    """(digest, written, repaired) of a file stored as one blob: a blob already there
    is reused after the cheap checks, or healed when they fail."""
    digest, written = store.ingest(source, known)
    repaired = False
    if not written and (store.looks_damaged(digest, source.stat().st_size) or digest in flags):
        repaired = heal(store, source, digest)
    return digest, written, repaired


def ingest_all(
    store: BlobStore,
    files: list[SourceFile],
    initial: dict[Path, os.stat_result],
    cache: HashCache | None,
    progress: Progress | None,
    *,
    damaged: DamageFlags | None = None,
    chunker: Chunker | None = None,
) -> tuple[list[FileEntry], int, int]:
    """Store every distinct content the store lacks, in parallel; heal damaged ones.

    Large files go to ``chunker`` when there is one (:mod:`.chunking`).

    Returns the entries, the number of blobs written and the number repaired. A blob
    the store already has is checked cheaply (its size, ``damaged``'s flags) and, when
    it fails, re-hashed and replaced (:func:`heal`). A store that names blobs before
    writing them (S3) gets every digest first, so identical files are uploaded once.
    ``initial`` holds each file's stat from before it was described: a file that changes
    after that is refused, so schema, rows and content always describe the same bytes.
    """

    def cache_for(source: SourceFile) -> HashCache | None:
        return cache if cache is not None and source.cacheable else None

    def digest_of(source: SourceFile) -> tuple[os.stat_result, str | None]:
        stat = initial[source.path]
        use = cache_for(source)
        known = use.lookup(source.path, stat) if use else None
        # A file to be chunked is hashed while it is cut (no pass of its own).
        chunked = chunker is not None and chunker.wants(stat.st_size)
        if known is None and store.hashes_before_write and not chunked:
            known = hash_file(source.path)
            if use:
                use.remember(source.path, stat, known)
        return stat, known

    flags = damaged if damaged is not None else DamageFlags(store)

    def store_one(index: int) -> tuple[str, bool, bool]:
        source, (before, known) = files[index], described[index]
        chunked = chunker.ingest(source.path, before.st_size, known) if chunker else None
        digest, written, repaired = chunked or store_blob(store, source.path, known, flags)
        failpoint("commit.after_first_blob")
        after = source.path.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            # What was stored is consistent with its name; it is just not the file any
            # more. Nothing references it, so gc reclaims it: never delete here, another
            # version may share that blob.
            raise InvalidSourceError(f"{source.path} changed while it was being committed")
        use = cache_for(source)
        if use and known is None:
            use.remember(source.path, before, digest)
        if progress:
            progress(before.st_size)
        return digest, written, repaired

    threads = min(store.ingest_threads, max(1, len(files)))
    with ThreadPoolExecutor(threads, thread_name_prefix="dhub-ingest") as pool:
        described = list(pool.map(digest_of, files))
        first_of: dict[str, int] = {}
        todo = []
        for index, (_, known) in enumerate(described):
            if known is None or known not in first_of:
                todo.append(index)
                if known is not None:
                    first_of[known] = index
        stored = dict(zip(todo, pool.map(store_one, todo), strict=True))
    store.sync()
    if cache:
        cache.flush()
    entries, written, repaired = [], 0, 0
    for index, source in enumerate(files):
        stat, known = described[index]
        if index in stored:
            digest, was_written, was_repaired = stored[index]
            written += was_written
            repaired += was_repaired
        else:
            digest = str(known)  # a duplicate of content stored above
            if progress:
                progress(stat.st_size)
        entries.append(FileEntry(source.relpath, stat.st_size, digest))
    return entries, written, repaired


def _get_or_create_dataset(session: Session, key: Key) -> Dataset:
    project = session.scalars(select(Project).where(Project.name == key.project)).first()
    if project is None:
        project = Project(name=key.project, created_at=utcnow())
        session.add(project)
        session.flush()
    dataset = session.scalars(
        select(Dataset).where(Dataset.project_id == project.id, Dataset.name == key.name)
    ).first()
    if dataset is None:
        session.add(
            Dataset(
                project_id=project.id,
                name=key.name,
                kind=key.kind,
                latest_seq=0,
                created_at=utcnow(),
            )
        )
        session.flush()
    return find_dataset(session, key, lock=True)


def move_alias(session: Session, dataset_id: int, alias: str, version_pk: int, actor: str) -> None:
    """Point ``alias`` at a version and record the move."""
    current = session.get(Alias, (dataset_id, alias), with_for_update=True)
    previous = current.version_pk if current is not None else None
    if previous == version_pk:
        return
    now = utcnow()
    if current is None:
        session.add(
            Alias(
                dataset_id=dataset_id,
                name=alias,
                version_pk=version_pk,
                updated_by=actor,
                updated_at=now,
            )
        )
    else:
        current.version_pk, current.updated_by, current.updated_at = version_pk, actor, now
    session.add(
        AliasEvent(
            dataset_id=dataset_id,
            alias=alias,
            version_pk=version_pk,
            previous_version_pk=previous,
            actor=actor,
            at=now,
        )
    )


def remove_alias(session: Session, dataset: Key, dataset_id: int, alias: str, actor: str) -> int:
    """Remove ``alias`` and record it (an event to no version); the version it named."""
    current = session.get(Alias, (dataset_id, alias), with_for_update=True)
    if current is None:
        raise NotFoundError(f"alias @{alias} of {dataset.unversioned()} does not exist")
    previous = current.version_pk
    session.delete(current)
    session.add(
        AliasEvent(
            dataset_id=dataset_id,
            alias=alias,
            version_pk=None,
            previous_version_pk=previous,
            actor=actor,
            at=utcnow(),
        )
    )
    return previous


def _record(
    session: Session, request: CommitRequest, manifest: Manifest, lease: Lease
) -> tuple[Version, bool]:
    key = request.key
    dataset = _get_or_create_dataset(session, key)
    version_id = manifest.version_id
    existing = session.scalars(
        select(Version).where(Version.dataset_id == dataset.id, Version.version_id == version_id)
    ).first()
    actor = current_user()
    if existing is not None:
        # The content is already a version: point `latest` (and any requested alias) at
        # it, so going back to earlier content is seen downstream; nothing else changes
        # but the lineage of a run that produced it again.
        for alias in (LATEST, *request.aliases):
            move_alias(session, dataset.id, alias, existing.id, actor)
        if request.run is not None:
            attach_output(session, request.run, key.with_version(version_id), created=False)
        return existing, False
    hold(session, lease.owner)
    parent = latest_version(session, dataset.id)
    _check_parent(request, parent)
    schema = schema_to_json(manifest.schema)
    check_policy(request.schema_policy, parent.schema_json if parent else None, schema)
    seq = dataset.latest_seq + 1
    version = Version(
        dataset_id=dataset.id,
        seq=seq,
        version_id=version_id,
        kind=manifest.kind,
        format=manifest.format,
        schema_json=schema,
        schema_digest=manifest.schema_digest,
        row_count=manifest.row_count,
        size_bytes=manifest.size_bytes,
        file_count=len(manifest.files),
        parent_id=parent.id if parent else None,
        message=request.message,
        producer=_producer(request, key),
        created_by=actor,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    session.execute(
        insert(VersionFile),
        [
            {"version_pk": version.id, "path": f.path, "size": f.size, "digest": f.digest}
            for f in manifest.files
        ],
    )
    # An UPDATE statement's result is a CursorResult, which has the row count.
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset.id, Dataset.latest_seq == dataset.latest_seq)
            .values(latest_seq=seq)
        ),
    )
    if moved.rowcount != 1:
        raise _Retry()
    for alias in (LATEST, *request.aliases):
        move_alias(session, dataset.id, alias, version.id, actor)
    session.flush()
    if request.run is not None:
        failpoint(PRODUCED_BY_POINT)
        attach_output(session, request.run, key.with_version(version_id), created=True)
    failpoint("commit.in_transaction")
    return version, True


def _producer(request: CommitRequest, key: Key) -> dict[str, Any] | None:
    """The version's producer: the task, and the run key when a run produces it."""
    if request.run is None:
        return request.producer
    run_key = request.run.bind(key.project).key
    return {**request.run.producer(), **(request.producer or {}), "run": run_key}


class _Retry(Exception):
    """Another committer won the race for the dataset row; try again."""


def commit_files(
    catalog: Any,
    store: BlobStore,
    key: Key,
    files: list[SourceFile],
    *,
    kind: str | None = None,
    message: str = "",
    producer: dict[str, Any] | None = None,
    schema_policy: str = "any",
    parent: str | None = None,
    aliases: Iterable[str] = (),
    cache: HashCache | None = None,
    progress: Progress | None = None,
) -> CommitResult:
    """Commit local files as a new version of the dataset ``key``.

    ``kind`` is ``table`` or ``files``; ``None`` infers it from the files.
    """
    checked_aliases = tuple(validate_name(a, "alias") for a in aliases)
    if LATEST in checked_aliases:
        raise InvalidSourceError("alias 'latest' is moved by commits only")
    check_policy(schema_policy, None, None)  # validates the policy name early
    check_unique(files)
    initial = {f.path: f.path.stat() for f in files}
    description = describe_source(files, kind, cache, initial)
    request = CommitRequest(
        key=Key(key.project, "dataitem", description.kind, key.name),
        message=message,
        producer=producer if producer is not None else task_context_producer(),
        schema_policy=schema_policy,
        parent=parent,
        aliases=checked_aliases,
        run=current_run(),
    )
    _precheck(catalog, request, description)
    damaged = DamageFlags(store)
    unchanged = _existing_unchanged(
        catalog, request.key, files, description, cache, initial=initial, damaged=damaged
    )
    if unchanged is not None and LATEST in unchanged.aliases and not request.aliases:
        return CommitResult(unchanged, False, 0, len(files))
    with commit_lease(catalog) as lease:
        failpoint("commit.before_ingest")
        sizes = [stat.st_size for stat in initial.values()]
        chunker = chunker_for(catalog, store, request.key, sizes, damaged)
        entries, written, repaired = ingest_all(
            store, files, initial, cache, progress, damaged=damaged, chunker=chunker
        )
        failpoint("commit.after_ingest")
        manifest = description.manifest(entries)
        if cache is not None and description.schema is not None and len(entries) == 1:
            described = {"columns": schema_to_json(description.schema), "rows": description.rows}
            cache.remember_table(entries[0].digest, description.format, described)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with catalog.session() as session:
                    version, created = _record(session, request, manifest, lease)
                    info = to_info(session, version)
                failpoint("commit.after_transaction")
                return CommitResult(
                    info, created, written, len(entries) - written - repaired, repaired
                )
            except (_Retry, IntegrityError) as exc:
                if isinstance(exc, IntegrityError) and not _is_race(exc):
                    raise
            except DBAPIError as exc:
                if not _is_transient(exc):
                    raise
            time.sleep(min(0.02 * 2**attempt, 1.0) * random.random())
    raise ConflictError(
        f"could not commit to {request.key} after {MAX_ATTEMPTS} attempts under contention"
    )


def _precheck(catalog: Any, request: CommitRequest, description: Description) -> None:
    """Refuse a commit that cannot succeed before uploading anything.

    Kind, optimistic parent and schema policy are checked against the dataset as it is
    now; ``_record`` checks them again inside the transaction.
    """
    with catalog.session() as session:
        dataset = find_dataset_or_none(session, request.key)
        if dataset is None:
            if request.parent is not None:
                raise ConflictError(f"{request.key} has no version yet, not {request.parent}")
            return
        latest = latest_version(session, dataset.id)
        _check_parent(request, latest)
        check_policy(
            request.schema_policy,
            latest.schema_json if latest else None,
            schema_to_json(description.schema),
        )


def _check_parent(request: CommitRequest, latest: Version | None) -> None:
    """The optimistic lock: ``parent`` (an id, a prefix or ``v<N>``) must be the latest."""
    if request.parent is None:
        return
    expected = validate_version(request.parent)
    matches = latest is not None and (
        latest.seq == int(expected[1:])
        if expected.startswith("v")
        else latest.version_id.startswith(expected)
    )
    if not matches:
        found = f"v{latest.seq} ({latest.version_id[:12]})" if latest else "no version"
        raise ConflictError(f"{request.key} moved on: latest is {found}, not {request.parent}")


def _existing_unchanged(
    catalog: Any,
    key: Key,
    files: list[SourceFile],
    description: Description,
    cache: HashCache | None,
    *,
    initial: dict[Path, os.stat_result],
    damaged: DamageFlags | None = None,
) -> VersionInfo | None:
    """The existing version when every digest is cached and the content is committed.

    Re-committing unchanged data then costs a ``stat`` per file, one query and, when
    the version exists, one listing of the store's damage flags: a version with a blob
    ``verify`` flagged goes through the whole commit, which heals it.
    """
    if cache is None or not all(f.cacheable for f in files):
        return None
    stats = [initial[source.path] for source in files]
    digests = cache.lookup_many(
        [(source.path, stat) for source, stat in zip(files, stats, strict=True)]
    )
    if any(digest is None for digest in digests):
        return None
    entries = [
        FileEntry(source.relpath, stat.st_size, str(digest))
        for source, stat, digest in zip(files, stats, digests, strict=True)
    ]
    manifest = description.manifest(entries)
    with catalog.session() as session:
        try:
            dataset = find_dataset(session, key)
        except NotFoundError:
            return None
        version = session.scalars(
            select(Version).where(
                Version.dataset_id == dataset.id, Version.version_id == manifest.version_id
            )
        ).first()
        if version is None:
            return None
        info = to_info(session, version)
    if damaged is not None and any(entry.digest in damaged for entry in entries):
        return None
    return info


def _is_race(exc: IntegrityError) -> bool:
    """A unique violation from a concurrent first commit is a race, not bad input."""
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text


def _is_transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("deadlock", "could not serialize", "database is locked"))
