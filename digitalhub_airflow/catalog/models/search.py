"""The catalog's search index: one row per searchable thing (project, dataset, model,
service, column, alias), its words, and where it came from.

PostgreSQL matches the words through a GIN index on their ``tsvector``; SQLite, which has
no such index, keeps one row per word in :class:`SearchTerm` and matches word prefixes
as B-tree ranges. :class:`SearchSource` remembers what each part of the index was built
from, so a search rebuilds only the parts whose sources changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import ColumnClause

from digitalhub_airflow.catalog.models.base import Base, UTCDateTime, utcnow

#: The text-search configuration: ``simple`` lowercases and never stems, as names want.
TS_CONFIG: ColumnClause[Any] = literal_column("'simple'")


class SearchEntry(Base):
    """One searchable thing; ``detail`` holds what a result shows besides its name."""

    __tablename__ = "dhub_search_entries"

    __table_args__ = (Index(None, "source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    #: The source row (a dataset) and its stamp (newest seq): a part kept per row.
    source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stamp: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(255))
    words: Mapped[str] = mapped_column(Text)
    detail: Mapped[Any] = mapped_column(JSON)


Index(
    "ix_dhub_search_entries_words_tsv",
    func.to_tsvector(TS_CONFIG, SearchEntry.words),
    postgresql_using="gin",
).ddl_if(dialect="postgresql")


class SearchTerm(Base):
    """One word of an entry (SQLite only): the primary key is the prefix index."""

    __tablename__ = "dhub_search_terms"
    __table_args__ = (Index(None, "entry_id", "term"),)  # an entry's other words

    term: Mapped[str] = mapped_column(String(255), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("dhub_search_entries.id", ondelete="CASCADE"), primary_key=True
    )


class SearchSource(Base):
    """What one part of the index was last built from (counts, newest ids and times)."""

    __tablename__ = "dhub_search_sources"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(255))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
