"""The catalog as the web UI and REST API read it: projects, datasets, pages of versions.

Plain data for JSON and HTML alike, built with few queries per page: a dataset with
10,000 versions is read one page at a time through the ``(dataset_id, seq)`` index,
and each page is one query (parents joined, aliases in one more). No Airflow here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, literal, select
from sqlalchemy.orm import aliased

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import Alias, Dataset, Project, Version, VersionQuality
from digitalhub_airflow.datasets.manifest import short_id
from digitalhub_airflow.datasets.versions import (
    LATEST,
    QUARANTINED,
    aliases_by_version,
    find_dataset,
    usable_latest,
)
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError
from digitalhub_airflow.keys import Key, validate_name
from digitalhub_airflow.quality.profiles import stored_profile
from digitalhub_airflow.quality.results import stored_results

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

MAX_PAGE = 500
QUALITY_FILTERS = ("passed", "warned", "failed", "quarantined", "released", "none")
PREVIEW_MAX_ROWS = 100
#: Files up to this size are read whole and verified for a preview; larger CSV/JSON
#: files are previewed from their first bytes only (marked unverified).
PREVIEW_VERIFIED_BYTES = 32 * 1024 * 1024
PREVIEW_PREFIX_BYTES = 1024 * 1024
PREVIEW_CELL_CHARS = 200


@dataclass(frozen=True)
class VersionFilter:
    """Which versions of a dataset to list; every field optional."""

    alias: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    before_seq: int | None = None  # cursor: versions older than this sequence number
    quality: str | None = None  # a quality state, or "none": never validated

    def __post_init__(self) -> None:
        if self.quality is not None and self.quality not in QUALITY_FILTERS:
            raise InvalidKeyError(f"quality must be one of {QUALITY_FILTERS}, not {self.quality!r}")
        if self.alias is not None:
            validate_name(self.alias, "alias")
        for moment in (self.created_after, self.created_before):
            if moment is not None and moment.tzinfo is None:
                raise InvalidKeyError("created_after/created_before need a timezone (e.g. Z)")


@dataclass
class Page:
    """One page of a listing; ``next_before_seq`` continues it (None: the last page)."""

    items: list[dict[str, Any]]
    total: int
    next_before_seq: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "total": self.total,
            "next_before_seq": self.next_before_seq,
            **self.extra,
        }


def scrub_url(url: str) -> str:
    """A URL without user, password, query or fragment: safe to show anyone."""
    parts = urlsplit(url)
    if not parts.netloc:  # runs:/..., sqlite:///...: nothing to hide but a query
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def list_projects(hub: DataHub) -> list[dict[str, Any]]:
    require_current(hub.catalog)
    query = (
        select(Project.name, Project.created_at, func.count(Dataset.id))
        .outerjoin(Dataset, Dataset.project_id == Project.id)
        .group_by(Project.id, Project.name, Project.created_at)
        .order_by(Project.name)
    )
    with hub.catalog.session() as session:
        return [
            {"name": name, "key": f"store://{name}", "created_at": at.isoformat(), "datasets": n}
            for name, at, n in session.execute(query)
        ]


def list_datasets(hub: DataHub, project: str) -> list[dict[str, Any]]:
    """The project's datasets with their latest version's headline figures."""
    require_current(hub.catalog)
    validate_name(project, "project")
    latest = aliased(Version)
    query = (
        select(
            Dataset,
            *_version_columns(latest),
            literal(None).label("parent_seq"),
            VersionQuality.state.label("quality"),
        )
        .join(Project, Project.id == Dataset.project_id)
        .outerjoin(Alias, (Alias.dataset_id == Dataset.id) & (Alias.name == "latest"))
        .outerjoin(latest, latest.id == Alias.version_pk)
        .outerjoin(VersionQuality, VersionQuality.version_pk == latest.id)
        .where(Project.name == project)
        .order_by(Dataset.name)
    )
    with hub.catalog.session() as session:
        if session.scalar(select(Project.id).where(Project.name == project)) is None:
            raise NotFoundError(f"project {project} does not exist")
        items = []
        for found in session.execute(query):
            dataset = found.Dataset
            key = Key(project, "dataitem", dataset.kind, dataset.name)
            row = found
            if found.quality == QUARANTINED:  # latest means the newest usable version
                row = _usable_latest_row(session, dataset, found)
            items.append(
                {
                    "key": str(key),
                    "project": project,
                    "name": dataset.name,
                    "kind": dataset.kind,
                    "versions": dataset.latest_seq,
                    "created_at": dataset.created_at.isoformat(),
                    "latest": _row(key, row, []) if row.id is not None else None,
                }
            )
        return items


def _usable_latest_row(session: Any, dataset: Dataset, pointed: Any) -> Any:
    """The list row of what ``latest`` resolves to when the alias' version is quarantined."""
    usable = usable_latest(session, dataset.id)
    if usable is None:
        return pointed._replace(id=None)
    parent = aliased(Version)
    return session.execute(_rows_query(parent).where(Version.id == usable.id)).one()


def list_models(hub: DataHub, project: str) -> list[dict[str, Any]]:
    """The project's trained models, newest first, with the exact versions they learnt from."""
    from digitalhub_airflow.catalog.models import ModelEntity

    require_current(hub.catalog)
    validate_name(project, "project")
    with hub.catalog.session() as session:
        rows = session.scalars(
            select(ModelEntity)
            .where(ModelEntity.project == project)
            .order_by(ModelEntity.created_at.desc(), ModelEntity.id.desc())
            .limit(MAX_PAGE)
        )
        return [
            {
                "key": m.key,
                "name": m.name,
                "kind": m.kind,
                "task": m.task,
                "target": m.target,
                "metrics": m.metrics,
                "params": m.params,
                "datasets": m.datasets,
                "model_uri": scrub_url(m.model_uri),
                "tracking_uri": scrub_url(m.tracking_uri),
                "producer": m.producer,
                "created_by": m.created_by,
                "created_at": m.created_at.isoformat(),
            }
            for m in rows
        ]


def dataset_summary(hub: DataHub, key: Key) -> dict[str, Any]:
    """A dataset: its key, kind, version count and where each alias points."""
    require_current(hub.catalog)
    key = key.unversioned()
    with hub.catalog.session() as session:
        dataset = find_dataset(session, key)
        rows = session.execute(
            select(Alias.name, Version.seq, Version.version_id, Alias.updated_by, Alias.updated_at)
            .join(Version, Version.id == Alias.version_pk)
            .where(Alias.dataset_id == dataset.id)
            .order_by(Alias.name)
        )
        aliases = []
        for name, seq, version_id, by, at in rows:
            entry = {
                "alias": name,
                "seq": seq,
                "key": str(key.with_version(version_id)),
                "updated_by": by,
                "updated_at": at.isoformat(),
            }
            if name == LATEST:  # where it resolves; the newest version may be held
                usable = usable_latest(session, dataset.id)
                entry["newest_seq"] = seq
                entry["seq"] = usable.seq if usable else None
                entry["key"] = str(key.with_version(usable.version_id)) if usable else None
            aliases.append(entry)
        return {
            "key": str(key),
            "project": key.project,
            "name": key.name,
            "kind": dataset.kind,
            "versions": dataset.latest_seq,
            "created_at": dataset.created_at.isoformat(),
            "aliases": aliases,
        }


def list_versions(
    hub: DataHub, key: Key, limit: int = 50, where: VersionFilter | None = None
) -> Page:
    """Versions of a dataset, newest first, one page through the ``(dataset, seq)`` index."""
    require_current(hub.catalog)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidKeyError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    where = where or VersionFilter()
    key = key.unversioned()
    parent = aliased(Version)
    with hub.catalog.session() as session:
        dataset = find_dataset(session, key)
        conditions = [Version.dataset_id == dataset.id]
        if where.alias is not None:
            conditions.append(
                Version.id.in_(
                    select(Alias.version_pk).where(
                        Alias.dataset_id == dataset.id, Alias.name == where.alias
                    )
                )
            )
        if where.created_after is not None:
            conditions.append(Version.created_at >= where.created_after)
        if where.created_before is not None:
            conditions.append(Version.created_at < where.created_before)
        if where.quality == "none":
            conditions.append(Version.id.not_in(select(VersionQuality.version_pk)))
        elif where.quality is not None:
            conditions.append(
                Version.id.in_(
                    select(VersionQuality.version_pk).where(VersionQuality.state == where.quality)
                )
            )
        total = session.scalar(select(func.count()).select_from(Version).where(*conditions)) or 0
        if where.before_seq is not None:
            conditions.append(Version.seq < where.before_seq)
        rows = session.execute(
            _rows_query(parent).where(*conditions).order_by(Version.seq.desc()).limit(limit + 1)
        ).all()
        aliases = aliases_by_version(session, dataset.id)
        more = len(rows) > limit
        rows = rows[:limit]
        items = [_row(key, row, aliases.get(row.id, [])) for row in rows]
        next_cursor = rows[-1].seq if more and rows else None
        return Page(items, total, next_cursor, {"dataset": str(key)})


def _version_columns(version: Any) -> list[Any]:
    """The columns a list row shows (no schema: a page of rows stays cheap to decode)."""
    names = (
        "id", "seq", "version_id", "kind", "format", "row_count", "size_bytes",
        "file_count", "message", "producer", "created_by", "created_at",
    )  # fmt: skip
    return [getattr(version, n).label(n) for n in names]


def _rows_query(parent: Any) -> Any:
    """Versions with their parent's sequence number and quality state, in one query."""
    return (
        select(
            *_version_columns(Version),
            parent.seq.label("parent_seq"),
            VersionQuality.state.label("quality"),
        )
        .outerjoin(parent, parent.id == Version.parent_id)
        .outerjoin(VersionQuality, VersionQuality.version_pk == Version.id)
    )


def _row(dataset: Key, row: Any, aliases: list[str]) -> dict[str, Any]:
    """A version as a list row: what the versions table shows, no schema."""
    base = str(dataset)
    return {
        "key": f"{base}:{row.version_id}",
        "seq": row.seq,
        "version_id": row.version_id,
        "short_id": short_id(row.version_id),
        "kind": row.kind,
        "format": row.format,
        "row_count": row.row_count,
        "size_bytes": row.size_bytes,
        "file_count": row.file_count,
        "parent": f"{base}:v{row.parent_seq}" if row.parent_seq else None,
        "message": row.message,
        "producer": row.producer,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "aliases": aliases,
        "quality": row.quality,
    }


def version_detail(hub: DataHub, key: Key) -> dict[str, Any]:
    """A version with its schema, files, physical location and the diff to its parent."""
    info = hub.resolve(key)
    data = info.to_json()
    files = hub.files(info.key)
    data["files"] = [
        {**f, "location": scrub_url(hub.store.location(f["digest"]))} for f in files[:100]
    ]
    data["files_truncated"] = len(files) > 100
    data["store"] = scrub_url(hub.store.url)
    data["parent_diff"] = hub.diff(info.parent, info.key).to_json() if info.parent else None
    data["validation"] = stored_results(hub, info.key)
    data["profile"] = stored_profile(hub, info.key)
    return data


def versions_produced_by(
    hub: DataHub, dag_id: str, run_id: str | None = None, task_id: str | None = None
) -> list[dict[str, Any]]:
    """Versions whose producer is this DAG (run, task): the link from Airflow's pages."""
    require_current(hub.catalog)
    if not dag_id:
        raise InvalidKeyError("dag_id is required")
    conditions = [Version.producer["dag_id"].as_string() == dag_id]
    if run_id:
        conditions.append(Version.producer["run_id"].as_string() == run_id)
    if task_id:
        conditions.append(Version.producer["task_id"].as_string() == task_id)
    parent = aliased(Version)
    with hub.catalog.session() as session:
        rows = session.execute(
            _rows_query(parent)
            .add_columns(Project.name.label("project"), Dataset.name.label("dataset"))
            .join(Dataset, Dataset.id == Version.dataset_id)
            .join(Project, Project.id == Dataset.project_id)
            .where(*conditions)
            .order_by(Version.created_at.desc(), Version.id.desc())
            .limit(MAX_PAGE)
        ).all()
        items = []
        for row in rows:
            key = Key(row.project, "dataitem", row.kind, row.dataset)
            items.append({"dataset": str(key), "project": row.project, **_row(key, row, [])})
        return items


def preview(hub: DataHub, key: Key, rows: int = 20) -> dict[str, Any]:
    """The first ``rows`` rows of a table version, cells as bounded strings.

    Only the first file is read: whole and verified when small, else (CSV and JSON
    lines) its first bytes, and the answer says so.
    """
    if not 1 <= rows <= PREVIEW_MAX_ROWS:
        raise InvalidKeyError(f"rows must be between 1 and {PREVIEW_MAX_ROWS}, not {rows}")
    info = hub.resolve(key)
    result: dict[str, Any] = {"key": info.key, "columns": [], "rows": [], "verified": True}
    if info.kind != "table":
        result["note"] = f"a {info.kind} dataset has no table preview"
        return result
    files = hub.files(info.key)
    if not files:
        result["note"] = "the version has no files"
        return result
    first = files[0]
    table = _read_head(hub, first, info.format, rows, result)
    if table is None:
        return result
    result["columns"] = list(table.column_names)
    result["rows"] = [[_cell(v) for v in row.values()] for row in table.slice(0, rows).to_pylist()]
    result["file"] = first["path"]
    return result


def _read_head(
    hub: DataHub, entry: dict[str, Any], fmt: str, rows: int, result: dict[str, Any]
) -> Any:
    import io
    import tempfile
    from pathlib import Path

    import pyarrow as pa

    if entry["size"] <= PREVIEW_VERIFIED_BYTES:
        with tempfile.TemporaryDirectory(prefix="dhub-preview-") as tmp:
            path = Path(tmp) / "head"
            hub.store.read_to(entry["digest"], path)
            return _head_of(pa.BufferReader(path.read_bytes()), fmt, rows)
    if fmt == "parquet":
        result["note"] = "the first file is too large to preview"
        return None
    with hub.store.open(entry["digest"]) as stream:
        prefix = stream.read(PREVIEW_PREFIX_BYTES)
    result["verified"] = False
    result["note"] = "preview of the first bytes of a large file, not verified"
    cut = prefix.rfind(b"\n")
    return _head_of(io.BytesIO(prefix[: cut + 1] if cut >= 0 else prefix), fmt, rows)


def _head_of(source: Any, fmt: str, rows: int) -> Any:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(source).iter_batches(batch_size=rows)
        return pa.Table.from_batches([next(batches)])
    if fmt == "csv":
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(source)
        return pa.Table.from_batches([reader.read_next_batch()]).slice(0, rows)
    import pyarrow.json as pjson

    return pjson.read_json(source).slice(0, rows)


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"


def version_key(project: str, kind: str, name: str, ref: str | None = None) -> Key:
    """The key URL segments name: ``ref`` is ``v<N>``, a version id, ``@alias`` or none."""
    if ref is None or ref == "latest":
        return Key(project, "dataitem", kind, name)
    if ref.startswith("@"):
        return Key(project, "dataitem", kind, name, alias=ref[1:])
    return Key(project, "dataitem", kind, name, version=ref)
