"""Keeps the search index (catalog/models/search.py) in step with the catalog.

The index has one part per source table (projects, datasets with their newest columns,
models, services, aliases). Each part remembers a fingerprint of its source (row count,
newest id, newest change); :func:`refresh` compares fingerprints in a few aggregate
queries and rebuilds only the parts whose source changed, so writers need not know about
search and a search after a write sees it. Rebuilds hold the part's row lock, so
concurrent searches never index a part twice.
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

#: What one entry holds: kind, project, name, the text its words come from, detail.
Row = tuple[str, str, str, str, dict[str, Any]]

_WORD = re.compile(r"[^\W_]+")
TERM_LENGTH = 255


def words_of(text: str) -> list[str]:
    """The lowercase words of a name (``wine-clf_v2`` → wine, clf, v2), as both the
    PostgreSQL ``simple`` parser and the SQLite terms see them."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Part:
    """One part of the index: how to fingerprint its source and list its entries."""

    fingerprint: Callable[[Session], Any]
    rows: Callable[[Session], Iterator[Row]]


def _projects(session: Session) -> Iterator[Row]:
    for (name,) in session.execute(select(Project.name)):
        yield "project", name, name, name, {}


def _datasets(session: Session) -> Iterator[Row]:
    """Datasets, and the columns of each one's newest version."""
    for project, name, kind, schema in session.execute(
        select(Project.name, Dataset.name, Dataset.kind, Version.schema_json)
        .join(Project, Project.id == Dataset.project_id)
        .outerjoin(
            Version, (Version.dataset_id == Dataset.id) & (Version.seq == Dataset.latest_seq)
        )
    ):
        key = str(Key(project, "dataitem", kind, name))
        yield "dataset", project, name, name, {"key": key}
        for column in schema or []:
            column_name = str(column.get("name", ""))
            detail = {"dataset": name, "key": key, "column_type": column.get("type")}
            yield "column", project, column_name, column_name, detail


def _models(session: Session) -> Iterator[Row]:
    for project, name in session.execute(select(ModelEntity.project, ModelEntity.name).distinct()):
        yield "model", project, name, name, {}


def _services(session: Session) -> Iterator[Row]:
    for project, target, name, state in session.execute(
        select(ServiceEntity.project, ServiceEntity.target, ServiceEntity.name, ServiceEntity.state)
    ):
        yield "service", project, name, name, {"target": target, "state": state}


def _aliases(session: Session) -> Iterator[Row]:
    """Every alias but ``latest`` (which every dataset has)."""
    for project, name, kind, alias in session.execute(
        select(Project.name, Dataset.name, Dataset.kind, Alias.name)
        .join(Dataset, Dataset.id == Alias.dataset_id)
        .join(Project, Project.id == Dataset.project_id)
        .where(Alias.name != "latest")
    ):
        key = str(Key(project, "dataitem", kind, name, alias=alias))
        yield "alias", project, f"@{alias}", alias, {"key": key}


def _summary(*columns: Any) -> Callable[[Session], Any]:
    return lambda session: session.execute(select(*columns)).one()


PARTS: dict[str, Part] = {
    "projects": Part(_summary(func.count(Project.id), func.max(Project.id)), _projects),
    "datasets": Part(
        _summary(func.count(Dataset.id), func.max(Dataset.id), func.sum(Dataset.latest_seq)),
        _datasets,
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
    """Rebuild the parts of the index whose sources changed; return their names."""
    with hub.catalog.session() as session:
        stale = _stale(session)
    rebuilt: list[str] = []
    for part in stale:
        with hub.catalog.session() as session:
            if _rebuild(session, part):
                rebuilt.append(part)
    return rebuilt


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


def _rebuild(session: Session, part: str) -> bool:
    """Replace the part's entries, unless a concurrent search just did."""
    source = _claim(session, part)
    fingerprint = _fingerprint(session, part)
    if source.fingerprint == fingerprint:
        return False
    old = select(SearchEntry.id).where(SearchEntry.source == part)
    session.execute(delete(SearchTerm).where(SearchTerm.entry_id.in_(old)))
    session.execute(delete(SearchEntry).where(SearchEntry.source == part))
    entries: list[tuple[SearchEntry, list[str]]] = []
    for kind, project, name, text, detail in PARTS[part].rows(session):
        words = words_of(text)
        entry = SearchEntry(
            source=part,
            kind=kind,
            project=project,
            name=name[:255],
            words=" ".join(words),
            detail=detail,
        )
        entries.append((entry, words))
    session.add_all(entry for entry, _ in entries)
    session.flush()
    if session.get_bind().dialect.name != "postgresql":  # PostgreSQL matches the tsvector
        terms = [
            {"term": term, "entry_id": entry.id}
            for entry, words in entries
            for term in {word[:TERM_LENGTH] for word in words}
        ]
        if terms:
            session.execute(insert(SearchTerm), terms)
    source.fingerprint, source.built_at = fingerprint, utcnow()
    return True
