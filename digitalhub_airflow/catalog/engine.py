"""Engines and sessions for the catalog on SQLite (embedded) or PostgreSQL (real)."""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from digitalhub_airflow.errors import CatalogError

DEFAULT_PG_SCHEMA = "dhub"
#: Schema names are put into DDL (CREATE SCHEMA, LOCK TABLE): only plain identifiers.
SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


#: Engines kept per process, by URL; the least recently used beyond this is disposed.
MAX_SHARED_ENGINES = 16
_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()


def make_engine(url: str, schema: str | None = None) -> Engine:
    """An engine configured for safe concurrent commits.

    SQLite: WAL, a long busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` so writers
    serialise at transaction start instead of failing on lock upgrade. PostgreSQL: the
    catalog's tables live in their own schema (default ``dhub``), never beside Airflow's.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise CatalogError(f"catalog URL is invalid: {exc}") from exc
    if schema is not None and not SCHEMA_RE.fullmatch(schema):
        raise CatalogError(f"catalog schema {schema!r} is invalid: use [a-z_][a-z0-9_]{{0,62}}")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise CatalogError(
            f"catalog backend {backend!r} is not supported; use sqlite or postgresql"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        return _new_engine(parsed)  # a private database per engine: never shared
    engine = shared_engine(parsed)
    if backend == "postgresql":
        return engine.execution_options(schema_translate_map={None: schema or DEFAULT_PG_SCHEMA})
    return engine


def postgres_url(
    *,
    username: str | None = None,
    password: str | None = None,
    host: str | None = None,
    port: int | None = None,
    database: str | None = None,
    query: dict[str, str] | None = None,
) -> str:
    """A PostgreSQL catalog URL from its parts (an Airflow connection's fields), quoted
    as SQLAlchemy expects; the password is in it, so it is never logged."""
    url = URL.create(
        "postgresql+psycopg2",
        username=username or None,
        password=password or None,
        host=host or None,
        port=port or None,
        database=database or None,
        query=query or {},
    )
    return url.render_as_string(hide_password=False)


def split_password(url: str) -> tuple[str, str | None]:
    """``(url without its password, the password)``: how a catalog URL goes to another
    process, the URL in its settings and the password as a secret (``PGPASSWORD``)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise CatalogError(f"catalog URL is invalid: {exc}") from exc
    if not parsed.password:
        return url, None
    without = parsed._replace(password=None)  # URL.set() ignores None
    return without.render_as_string(hide_password=False), str(parsed.password)


def shared_engine(parsed: URL) -> Engine:
    """This process's engine for a catalog URL, created on first use.

    An engine holds SQLAlchemy's compiled-statement cache. One engine per ``DataHub``
    made every task of a process (``airflow dags test``, a triggerer, the API server)
    compile each statement again, some 50 ms a task. Closing a catalog disposes the
    engine's pool, not the engine; a forked child drops the pool it inherited.
    """
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _new_engine(parsed)
        _engines.move_to_end(key)
        evicted = [
            _engines.popitem(last=False)[1] for _ in range(len(_engines) - MAX_SHARED_ENGINES)
        ]
    for old in evicted:
        old.dispose()
    return engine


def _new_engine(parsed: URL) -> Engine:
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _forget_inherited_pools() -> None:
    """In a forked child: the parent's pooled connections are the parent's to close."""
    global _engines_lock
    _engines_lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_pools)


def catalog_schema(engine: Engine) -> str | None:
    """The schema the catalog's tables live in (``None`` on SQLite)."""
    mapping = engine.get_execution_options().get("schema_translate_map") or {}
    return mapping.get(None)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Catalog:
    """The catalog database: a session factory over one engine."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, schema)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Set once the schema is known to be at a usable revision.
        self.ready = False

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages and lineage."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
