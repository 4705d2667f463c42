"""One search box over the catalog: projects, datasets, models, services, columns, aliases.

Every word of the query must start a word of a thing's name (``WIN`` finds ``wine`` and
``wine-clf``, ``clf`` finds ``wine-clf``), looked up in the catalog's search index
(browse/search_index.py keeps it current): a ranked ``tsquery`` over a GIN index on
PostgreSQL, B-tree word-prefix ranges on SQLite. Each kind is bounded; ``projects``
limits the answer to what the asker may read (None: every project).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select

from digitalhub_airflow.browse.search_index import refresh, words_of
from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import SearchEntry, SearchTerm
from digitalhub_airflow.catalog.models.search import TS_CONFIG
from digitalhub_airflow.errors import InvalidKeyError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

    from digitalhub_airflow.hub import DataHub

MAX_PER_KIND = 25
MAX_QUERY = 100
#: Matching terms counted per word to find the rarest (enough to tell rare from common).
RARE_ENOUGH = 1000
KINDS = ("project", "dataset", "model", "service", "alias", "column")


def _postgres_match(query: Select[Any], words: list[str]) -> Select[Any]:
    """Entries whose tsvector holds every word as a prefix, best ranked first."""
    vector = func.to_tsvector(TS_CONFIG, SearchEntry.words)
    wanted = func.to_tsquery(TS_CONFIG, " & ".join(f"{word}:*" for word in words))
    return query.where(vector.op("@@")(wanted)).order_by(
        func.ts_rank(vector, wanted).desc(), func.length(SearchEntry.name), SearchEntry.name
    )


def _starts(word: str) -> Any:
    """Terms starting with ``word``: a range on the terms' primary key."""
    return (SearchTerm.term >= word) & (SearchTerm.term < word + "\U0010ffff")


def _prefix_match(query: Select[Any], words: list[str]) -> Select[Any]:
    """Entries with a term starting with each word, shortest names first: the first word
    (the rarest, see :func:`rarest_first`) picks the candidates, the others are checked
    per candidate on the (entry, term) index."""
    first, *others = words
    query = query.where(SearchEntry.id.in_(select(SearchTerm.entry_id).where(_starts(first))))
    for word in others:
        query = query.where(exists().where(SearchTerm.entry_id == SearchEntry.id, _starts(word)))
    return query.order_by(func.length(SearchEntry.name), SearchEntry.name)


def rarest_first(session: Session, words: list[str]) -> list[str]:
    """The distinct words, fewest matching terms first (each counted up to
    :data:`RARE_ENOUGH` on the index, so a common word costs a bounded scan)."""

    def matches(word: str) -> int:
        found = select(SearchTerm.entry_id).where(_starts(word)).limit(RARE_ENOUGH).subquery()
        return int(session.scalar(select(func.count()).select_from(found)) or 0)

    return sorted(dict.fromkeys(words), key=matches)


def search(hub: DataHub, text: str, projects: Collection[str] | None = None) -> dict[str, Any]:
    """Matches of ``text`` by kind: ``{"query", "items": [{"type", "project", "name", ...}]}``."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_QUERY:
        raise InvalidKeyError(f"a search needs 1 to {MAX_QUERY} characters")
    require_current(hub.catalog)
    words = words_of(text)
    items: list[dict[str, Any]] = []
    if not words:  # punctuation only: nothing is named by it
        return {"query": text, "items": items, "total": 0}
    refresh(hub)
    with hub.catalog.session() as session:
        dialect = session.get_bind().dialect.name
        if dialect != "postgresql":
            words = rarest_first(session, words)
        for kind in KINDS:
            for project, name, detail in session.execute(matching(dialect, kind, words, projects)):
                items.append({"type": kind, "project": project, "name": name, **detail})
    return {"query": text, "items": items, "total": len(items)}


def matching(
    dialect: str, kind: str, words: list[str], projects: Collection[str] | None
) -> Select[Any]:
    """The index query for one kind: the best :data:`MAX_PER_KIND` entries holding every
    word, in the readable ``projects``."""
    query = select(SearchEntry.project, SearchEntry.name, SearchEntry.detail).where(
        SearchEntry.kind == kind
    )
    if projects is not None:
        query = query.where(SearchEntry.project.in_(sorted(projects)))
    match = _postgres_match if dialect == "postgresql" else _prefix_match
    return match(query, words).limit(MAX_PER_KIND)
