"""Keeps the search index (catalog/models/search.py) in step with the catalog.

The index has one part per source table (projects, datasets with their newest columns,
models, services, aliases). Each part remembers a fingerprint of its source (row count,
newest id, newest change); :func:`refresh` compares fingerprints in a few aggregate
queries and updates only the parts whose source changed, so writers need not know about
search and a search after a write sees it. The datasets part, the large one, is updated
per dataset (its entries are stamped with the dataset's newest seq); the small parts are
rebuilt. An update holds the part's row lock: concurrent searches never index it twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select

from digitalhub_airflow.catalog.models import (
    Alias,
    Dataset,
    ModelEntity,
    Project,
    SearchEntry,
    SearchSource,
    SearchTerm,
    ServiceEntity,
    Version,
    utcnow,
)
from digitalhub_airflow.keys import Key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from digitalhub_airflow.hub import DataHub

#: What one entry holds: its source row and stamp (parts kept per row, else None), kind,
#: project, name, the text its words come from, detail.
Row = tuple[int | None, int | None, str, str, str, str, dict[str, Any]]

_WORD = re.compile(r"[^\W_]+")
TERM_LENGTH = 255
#: Source rows named in one statement (more: read them all and keep those wanted).
MAX_LISTED = 500


def words_of(text: str) -> list[str]:
    """The lowercase words of a name (``wine-clf_v2`` → wine, clf, v2), as both the
    PostgreSQL ``simple`` parser and the SQLite terms see them."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Part:
    """One part of the index: how to fingerprint its source and list its entries."""

    fingerprint: Callable[[Session], Any]
    #: The part's entries; only those of the source rows in the set, when one is given.
    rows: Callable[[Session, set[int] | None], Iterator[Row]]
    #: Each source row's stamp, for a part kept per row (None: rebuilt whole).
    stamps: Callable[[Session], dict[int, int]] | None = None


def _projects(session: Session, _only: set[int] | None) -> Iterator[Row]:
    for (name,) in session.execute(select(Project.name)):
        yield None, None, "project", name, name, name, {}


def _datasets(session: Session, only: set[int] | None) -> Iterator[Row]:
    """Datasets, and the columns of each one's newest version."""
    query = (
        select(
            Dataset.id,
            Dataset.latest_seq,
            Project.name,
            Dataset.name,
            Dataset.kind,
            Version.schema_json,
        )
        .join(Project, Project.id == Dataset.project_id)
        .outerjoin(
            Version, (Version.dataset_id == Dataset.id) & (Version.seq == Dataset.latest_seq)
        )
    )
    if only is not None and len(only) <= MAX_LISTED:
        query = query.where(Dataset.id.in_(sorted(only)))
    for pk, seq, project, name, kind, schema in session.execute(query):
        if only is not None and pk not in only:
            continue
        key = str(Key(project, "dataitem", kind, name))
        yield pk, seq, "dataset", project, name, name, {"key": key}
        for column in schema or []:
            column_name = str(column.get("name", ""))
            detail = {"dataset": name, "key": key, "column_type": column.get("type")}
            yield pk, seq, "column", project, column_name, column_name, detail


def _dataset_stamps(session: Session) -> dict[int, int]:
    return {pk: seq for pk, seq in session.execute(select(Dataset.id, Dataset.latest_seq))}


def _models(session: Session, _only: set[int] | None) -> Iterator[Row]:
    for project, name in session.execute(select(ModelEntity.project, ModelEntity.name).distinct()):
        yield None, None, "model", project, name, name, {}


def _services(session: Session, _only: set[int] | None) -> Iterator[Row]:
    for project, target, name, state in session.execute(
        select(ServiceEntity.project, ServiceEntity.target, ServiceEntity.name, ServiceEntity.state)
    ):
        yield None, None, "service", project, name, name, {"target": target, "state": state}


def _aliases(session: Session, _only: set[int] | None) -> Iterator[Row]:
    """Every alias but ``latest`` (which every dataset has)."""
    for project, name, kind, alias in session.execute(
        select(Project.name, Dataset.name, Dataset.kind, Alias.name)
        .join(Dataset, Dataset.id == Alias.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(Alias.name != "latest")
    ):
        key = str(Key(project, "dataitem", kind, name, alias=alias))
        yield None, None, "alias", project, f"@{alias}", alias, {"key": key}


def _summary(*columns: Any) -> Callable[[Session], Any]:
    return lambda session: session.execute(select(*columns)).one()


PARTS: dict[str, Part] = {
    "projects": Part(_summary(func.count(Project.id), func.max(Project.id)), _projects),
    "datasets": Part(
        _summary(func.count(Dataset.id), func.max(Dataset.id), func.sum(Dataset.latest_seq)),
        _datasets,
        _dataset_stamps,
    ),
    "models": Part(_summary(func.count(ModelEntity.id), func.max(ModelEntity.id)), _models),
    "services": Part(
        _summary(
            func.count(ServiceEntity.id),
            func.max(ServiceEntity.id),
            func.max(ServiceEntity.updated_at),
        ),
        _services,
    ),
    "aliases": Part(
        _summary(func.count(Alias.name), func.max(Alias.updated_at), func.sum(Alias.version_pk)),
        _aliases,
    ),
}


def _fingerprint(session: Session, part: str) -> str:
    return "|".join(str(value) for value in PARTS[part].fingerprint(session))[:255]


def _stale(session: Session) -> list[str]:
    built = dict(session.execute(select(SearchSource.source, SearchSource.fingerprint)).all())
    return [part for part in PARTS if built.get(part) != _fingerprint(session, part)]


def refresh(hub: DataHub) -> list[str]:
    """Update the parts of the index whose sources changed; return their names."""
    with hub.catalog.session() as session:
        stale = _stale(session)
    updated: list[str] = []
    for part in stale:
        with hub.catalog.session() as session:
            if _update(session, part):
                updated.append(part)
    return updated


def _claim(session: Session, part: str) -> SearchSource:
    """The part's bookkeeping row, created if missing and locked until commit."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(SearchSource)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(SearchSource)
    session.execute(
        statement.values(source=part, fingerprint="", built_at=utcnow()).on_conflict_do_nothing()
    )
    return session.execute(
        select(SearchSource).where(SearchSource.source == part).with_for_update()
    ).scalar_one()


def _update(session: Session, part: str) -> bool:
    """Bring the part's entries up to date, unless a concurrent search just did."""
    source = _claim(session, part)
    fingerprint = _fingerprint(session, part)
    if source.fingerprint == fingerprint:
        return False
    stamps = PARTS[part].stamps
    wanted: set[int] | None = None
    if stamps is None:
        _drop(session, part, None)
    else:
        current = stamps(session)
        indexed: dict[int, int] = {
            pk: stamp
            for pk, stamp in session.execute(
                select(SearchEntry.source_id, func.max(SearchEntry.stamp))
                .where(SearchEntry.source == part)
                .group_by(SearchEntry.source_id)
            )
            if pk is not None and stamp is not None
        }
        wanted = {pk for pk, stamp in current.items() if indexed.get(pk) != stamp}
        gone = (wanted | (indexed.keys() - current.keys())) & indexed.keys()
        _drop(session, part, sorted(gone))
    _add(session, part, PARTS[part].rows(session, wanted))
    source.fingerprint, source.built_at = fingerprint, utcnow()
    return True


def _drop(session: Session, part: str, source_ids: list[int] | None) -> None:
    """Delete the part's entries (of these source rows only, when given) and their terms."""
    if source_ids is None:
        batches: list[list[int] | None] = [None]
    else:
        batches = [source_ids[i : i + MAX_LISTED] for i in range(0, len(source_ids), MAX_LISTED)]
    for batch in batches:
        where = [SearchEntry.source == part]
        if batch is not None:
            where.append(SearchEntry.source_id.in_(batch))
        old = select(SearchEntry.id).where(*where)
        session.execute(delete(SearchTerm).where(SearchTerm.entry_id.in_(old)))
        session.execute(delete(SearchEntry).where(*where))


def _add(session: Session, part: str, rows: Iterator[Row]) -> None:
    """Insert entries (multi-row statements) and, on SQLite, their terms."""
    entries, words = [], []
    for source_id, stamp, kind, project, name, text, detail in rows:
        found = words_of(text)
        words.append(found)
        entries.append(
            {
                "source": part,
                "source_id": source_id,
                "stamp": stamp,
                "kind": kind,
                "project": project,
                "name": name[:255],
                "words": " ".join(found),
                "detail": detail,
            }
        )
    if not entries:
        return
    ids = session.scalars(
        insert(SearchEntry).returning(SearchEntry.id, sort_by_parameter_order=True), entries
    ).all()
    if session.get_bind().dialect.name != "postgresql":  # PostgreSQL matches the tsvector
        terms = [
            {"term": term, "entry_id": entry_id}
            for entry_id, found in zip(ids, words, strict=True)
            for term in {word[:TERM_LENGTH] for word in found}
        ]
        if terms:
            session.execute(insert(SearchTerm), terms)
