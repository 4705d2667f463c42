"""``DataHub``: the one entry point to the catalog and the store.

The CLI, the Airflow hooks and notebooks all use this class; it holds no Airflow
concept. Build it from the environment with :meth:`DataHub.from_settings`.

What only some methods need (committing, verifying, the store's backend) is imported by
those methods: ``dhub log`` pays for the catalog alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.catalog.migrate import migrate, require_current
from digitalhub_airflow.catalog.models import Version, VersionFile
from digitalhub_airflow.datasets.versions import (
    LATEST,
    VersionInfo,
    aliases_by_version,
    expand_short_key,
    find_dataset,
    quality_by_version,
    resolve,
    to_info,
)
from digitalhub_airflow.errors import InvalidKeyError, InvalidSourceError
from digitalhub_airflow.keys import Key, as_dataset_key, as_key
from digitalhub_airflow.settings import Settings, current_user, load_settings

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.commit import CommitResult, Progress
    from digitalhub_airflow.datasets.gc import GcReport
    from digitalhub_airflow.datasets.hashcache import HashCache
    from digitalhub_airflow.datasets.repair import RepairReport
    from digitalhub_airflow.datasets.verify import VerifyReport
    from digitalhub_airflow.store import BlobStore


@dataclass
class VersionDiff:
    a: VersionInfo
    b: VersionInfo
    schema: dict[str, Any]
    files_added: list[str]
    files_removed: list[str]
    files_changed: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a.key,
            "b": self.b.key,
            "schema": self.schema,
            "rows": {"a": self.a.row_count, "b": self.b.row_count},
            "size_bytes": {"a": self.a.size_bytes, "b": self.b.size_bytes},
            "files_added": self.files_added,
            "files_removed": self.files_removed,
            "files_changed": self.files_changed,
        }


class DataHub:
    """Versioned datasets on one catalog and one store."""

    def __init__(
        self,
        catalog: Catalog,
        store: BlobStore | Callable[[], BlobStore],
        hash_cache: HashCache | None = None,
        source_client: Any | None = None,
        *,
        s3_client: Any | None = None,
    ) -> None:
        """``store``: the blob store, or a function that opens it on first use (finding
        a backend reads every installed package's entry points; a remote backend imports
        its client library).
        ``source_client``: a ready client for the store backend that reads URL sources
        (the one of the URL's scheme); by default the hub's store lends its own for URLs
        of its scheme. ``s3_client`` is its earlier name, still accepted."""
        self.catalog = catalog
        self._store = store
        self.hash_cache = hash_cache
        self._source_client = source_client or s3_client

    @property
    def store(self) -> BlobStore:
        if callable(self._store):
            self._store = self._store()
        return self._store

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DataHub:
        """The hub the environment configures; its store opens when first used. A store
        URL of a scheme no built-in backend serves is looked up now: a plugin's loads, and
        one of no backend fails every command, not only those that use the store."""
        from digitalhub_airflow.datasets.hashcache import HashCache
        from digitalhub_airflow.store.registry import BUILTIN, default_registry, url_scheme

        settings = settings or load_settings()
        url, options = settings.store_url, settings.store_options
        if url_scheme(url) not in BUILTIN:
            default_registry().for_url(url)

        def open_configured_store() -> BlobStore:
            from digitalhub_airflow.store import open_store

            return open_store(url, options=options)

        return cls(
            Catalog(settings.catalog_url, settings.catalog_schema),
            open_configured_store,
            HashCache(settings.hash_cache_path),
        )

    def close(self) -> None:
        if self.hash_cache is not None:
            self.hash_cache.close()
        self.catalog.dispose()

    def __enter__(self) -> DataHub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- setup -----------------------------------------------------------------------
    def init(self) -> str:
        """Create or upgrade the catalog schema; safe to run any number of times."""
        return migrate(self.catalog)

    # -- writing ---------------------------------------------------------------------
    def commit(
        self,
        target: str | Key,
        source: Any,
        *,
        kind: str | None = None,
        message: str = "",
        schema_policy: str = "any",
        parent: str | None = None,
        aliases: Iterable[str] = (),
        producer: dict[str, Any] | None = None,
        progress: Progress | None = None,
        encoding: str | None = None,
    ) -> CommitResult:
        """Commit a file, folder, glob, store URL (``s3://…``), DataFrame or Arrow table.

        ``encoding``: the text encoding of CSV files that are not UTF-8; they are stored
        transcoded to UTF-8.
        """
        from digitalhub_airflow.datasets.commit import commit_files
        from digitalhub_airflow.datasets.sources import materialised

        require_current(self.catalog)
        key = as_dataset_key(target, kind)
        explicit = isinstance(target, Key) or target.startswith("store://")
        kind = kind or (key.kind if explicit else None)  # None: inferred from the source
        if source is None:
            raise InvalidSourceError("no source given")
        with materialised(source, self.store, self._source_client, encoding) as files:
            return commit_files(
                self.catalog,
                self.store,
                key,
                files,
                kind=kind,
                message=message,
                producer=producer,
                schema_policy=schema_policy,
                parent=parent,
                aliases=aliases,
                cache=self.hash_cache,
                progress=progress,
            )

    def tag(self, key: str | Key, alias: str, *, actor: str | None = None) -> VersionInfo:
        """Point ``alias`` at the version ``key`` names; who and when are recorded.

        ``actor``: who asked, when it is not this process's user (a web UI user).
        """
        from digitalhub_airflow.datasets.commit import move_alias

        require_current(self.catalog)
        key = self.key(key)
        if alias == LATEST:
            raise InvalidKeyError("alias 'latest' is moved by commits only")
        Key(key.project, key.entity_type, key.kind, key.name, alias=alias)  # validates alias
        with self.catalog.session() as session:
            version = resolve(session, key)
            find_dataset(session, key, lock=True)
            move_alias(session, version.dataset_id, alias, version.id, actor or current_user())
            session.flush()
            return to_info(session, version)

    def untag(self, key: str | Key, alias: str, *, actor: str | None = None) -> VersionInfo:
        """Remove ``alias`` from the dataset ``key`` names; returns the version it named.
        The removal is recorded like a move (who, when, from which version)."""
        from digitalhub_airflow.datasets.commit import remove_alias

        require_current(self.catalog)
        key = self.key(key)
        if alias == LATEST:
            raise InvalidKeyError("alias 'latest' is moved by commits only")
        Key(key.project, key.entity_type, key.kind, key.name, alias=alias)  # validates alias
        with self.catalog.session() as session:
            dataset = find_dataset(session, key, lock=True)
            previous = remove_alias(session, key, dataset.id, alias, actor or current_user())
            return to_info(session, session.get_one(Version, previous))

    # -- reading ---------------------------------------------------------------------
    def key(self, text: str | Key) -> Key:
        """A full key, also from the short ``<project>/<name>[:<version>|@<alias>]`` form."""
        if isinstance(text, Key) or text.startswith("store://"):
            return as_key(text)
        require_current(self.catalog)
        with self.catalog.session() as session:
            return expand_short_key(session, text)

    def resolve(self, key: str | Key) -> VersionInfo:
        require_current(self.catalog)
        key = self.key(key)
        with self.catalog.session() as session:
            return to_info(session, resolve(session, key))

    def log(self, key: str | Key, limit: int | None = None) -> list[VersionInfo]:
        """Versions of a dataset, newest first."""
        require_current(self.catalog)
        key = self.key(key).unversioned()
        with self.catalog.session() as session:
            dataset = find_dataset(session, key)
            query = (
                select(Version).where(Version.dataset_id == dataset.id).order_by(Version.seq.desc())
            )
            if limit:
                query = query.limit(limit)
            aliases = aliases_by_version(session, dataset.id)
            states = quality_by_version(session, dataset.id)
            return [
                to_info(session, v, aliases.get(v.id, []), states) for v in session.scalars(query)
            ]

    def files(self, key: str | Key) -> list[dict[str, Any]]:
        require_current(self.catalog)
        key = self.key(key)
        with self.catalog.session() as session:
            version = resolve(session, key)
            rows = session.scalars(
                select(VersionFile)
                .where(VersionFile.version_pk == version.id)
                .order_by(VersionFile.path)
            )
            return [{"path": f.path, "size": f.size, "digest": f.digest} for f in rows]

    def diff(self, a: str | Key, b: str | Key) -> VersionDiff:
        """Schema, rows and file differences going from ``a`` to ``b``."""
        from digitalhub_airflow.datasets.schema_diff import diff_schemas

        info_a, info_b = self.resolve(a), self.resolve(b)
        files_a = {f["path"]: f["digest"] for f in self.files(info_a.key)}
        files_b = {f["path"]: f["digest"] for f in self.files(info_b.key)}
        return VersionDiff(
            a=info_a,
            b=info_b,
            schema=diff_schemas(info_a.schema, info_b.schema).to_json(),
            files_added=sorted(files_b.keys() - files_a.keys()),
            files_removed=sorted(files_a.keys() - files_b.keys()),
            files_changed=sorted(
                p for p in files_a.keys() & files_b.keys() if files_a[p] != files_b[p]
            ),
        )

    def get(
        self, key: str | Key, dest: str | os.PathLike[str], progress: Progress | None = None
    ) -> list[Path]:
        """Materialise a version into the folder ``dest``; every file is verified."""
        from digitalhub_airflow.datasets.sources import safe_relpath

        root = Path(dest).expanduser().resolve()
        written = []
        for entry in self.files(key):
            target = (root / safe_relpath(entry["path"])).resolve()
            if root not in target.parents:
                raise InvalidSourceError(f"file path {entry['path']!r} escapes {root}")
            self.store.read_to(entry["digest"], target)
            written.append(target)
            if progress:
                progress(entry["size"])
        return written

    def read_table(self, key: str | Key, columns: list[str] | None = None) -> Any:
        """A table version as a ``pyarrow.Table``; ``.to_pandas()`` for a DataFrame."""
        from digitalhub_airflow.datasets.reading import read_table

        return read_table(self, str(key), columns)

    def verify(
        self, key: str | Key | None = None, progress: Progress | None = None
    ) -> VerifyReport:
        """Re-hash one version's blobs, or every blob in the store; flag in the store
        the damaged ones (a commit of their bytes then heals them) and unflag the
        ones that verify again."""
        return self._verified(key, progress)[0]

    def repair(
        self, source: str, key: str | Key | None = None, progress: Progress | None = None
    ) -> RepairReport:
        """Verify (one version, or the whole store), then restore each corrupt or missing
        blob from ``source``: a store URL, a store-layout folder or any folder
        (:mod:`digitalhub_airflow.datasets.repair`)."""
        from digitalhub_airflow.datasets.repair import open_repair_source, repair_blobs

        report, sizes = self._verified(key, progress)
        damaged = {d: sizes.get(d) for d in [*report.corrupt, *report.missing]}
        origin = open_repair_source(source, damaged)
        return repair_blobs(self.store, origin, report)

    def _verified(
        self, key: str | Key | None, progress: Progress | None
    ) -> tuple[VerifyReport, dict[str, int | None]]:
        """The verify report and each checked blob's size as the catalog records it
        (``None`` for a blob no version references)."""
        from digitalhub_airflow.datasets.verify import flag_damage, name_versions, verify_blobs

        sizes: dict[str, int | None]
        if key is not None:
            blobs = {f["digest"]: f["size"] for f in self.files(key)}
            report = verify_blobs(self.store, sorted(blobs.items()), progress)
            sizes = dict(blobs)
        else:
            # Every blob present, and every blob a version references (it may be lost).
            blobs = {b.digest: b.size for b in self.store.iter_blobs()}
            require_current(self.catalog)
            with self.catalog.session() as session:
                query = select(VersionFile.digest, VersionFile.size).distinct()
                referenced = {digest: size for digest, size in session.execute(query)}
            report = verify_blobs(self.store, sorted({**referenced, **blobs}.items()), progress)
            # gc may remove an unreferenced blob meanwhile: only a needed blob is "missing".
            report.missing = [d for d in report.missing if d in referenced]
            sizes = {**dict.fromkeys(blobs), **referenced}
        name_versions(self.catalog, report)
        flag_damage(self.store, report, sizes)
        return report, sizes

    def gc(self, grace: timedelta = timedelta(hours=1), dry_run: bool = False) -> GcReport:
        from digitalhub_airflow.datasets.gc import collect_garbage

        require_current(self.catalog)
        return collect_garbage(self.catalog, self.store, grace, dry_run)
