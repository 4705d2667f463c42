"""The catalog's engines: one per catalog URL per process, safe to close and to fork."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.catalog.models import Project
from digitalhub_airflow.errors import CatalogError


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def test_catalogs_of_one_url_share_compiled_statements(tmp_path: Path) -> None:
    """A task opens its own catalog; the next task in the process must not compile the
    same statements again."""
    first = Catalog(sqlite_url(tmp_path))
    Project.__table__.create(first.engine)
    query = select(Project.id).where(Project.name == "demo")
    with first.engine.connect() as connection:
        assert connection.execute(query).context.cache_hit == first.engine.dialect.CACHE_MISS
    first.dispose()
    second = Catalog(sqlite_url(tmp_path))
    with second.engine.connect() as connection:
        cached = connection.execute(query).context.cache_hit
    assert second.engine is first.engine
    assert cached == second.engine.dialect.CACHE_HIT


def test_closed_catalog_stays_usable_and_other_urls_are_separate(tmp_path: Path) -> None:
    catalog = Catalog(sqlite_url(tmp_path))
    Project.__table__.create(catalog.engine)
    catalog.dispose()
    with catalog.session() as session:  # disposing closed the pool, not the engine
        session.add(Project(name="demo"))
    other = Catalog(f"sqlite:///{tmp_path / 'other.db'}")
    assert other.engine is not catalog.engine
    assert Catalog("sqlite://").engine is not Catalog("sqlite://").engine  # private DBs


def test_postgres_schemas_share_one_engine_and_keep_their_own_schema() -> None:
    url = "postgresql+psycopg2://u:p@127.0.0.1:1/db"
    a, b = Catalog(url, "schema_a"), Catalog(url, "schema_b")
    assert a.engine.dialect is b.engine.dialect
    options = [c.engine.get_execution_options()["schema_translate_map"] for c in (a, b)]
    assert options == [{None: "schema_a"}, {None: "schema_b"}]
    with pytest.raises(CatalogError, match="schema 'Bad-Name' is invalid"):
        Catalog(url, "Bad-Name")


def test_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    """A child must not use (or close) the parent's pooled connections."""
    catalog = Catalog(sqlite_url(tmp_path))
    Project.__table__.create(catalog.engine)
    with catalog.session() as session:
        session.add(Project(name="parent"))
    pool_before = catalog.engine.pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            fresh = catalog.engine.pool is not pool_before
            with catalog.session() as session:
                session.add(Project(name="child"))
            code = 0 if fresh else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"\x00" and status == 0
    os.close(read)
    assert catalog.engine.pool is pool_before
    with catalog.session() as session:
        names = set(session.scalars(select(Project.name)))
    assert names == {"parent", "child"}


def test_catalog_urls_are_built_and_split_in_the_core() -> None:
    """``postgres_url``/``split_password`` build what the hook builds today from a
    connection, so the Airflow side needs no SQLAlchemy of its own."""
    from types import SimpleNamespace

    from digitalhub_airflow.catalog.engine import postgres_url, split_password
    from digitalhub_airflow.hooks.digitalhub import catalog_url_from_connection

    conn = SimpleNamespace(
        conn_id="dhub_catalog",
        conn_type="postgres",
        login="u@x",
        password="p/w:d",
        host="db",
        port=5433,
        schema="cat",
        extra_dejson={"sslmode": "require", "schema": "dhub2"},
    )
    url, schema = catalog_url_from_connection(conn)
    parts = {"host": "db", "port": 5433, "database": "cat", "query": {"sslmode": "require"}}
    assert postgres_url(username="u@x", password="p/w:d", **parts) == url
    assert schema == "dhub2"
    without, password = split_password(url)
    assert password == "p/w:d"
    assert without == postgres_url(username="u@x", **parts)
    assert split_password("sqlite:////tmp/c.sqlite") == ("sqlite:////tmp/c.sqlite", None)
    with pytest.raises(CatalogError):
        split_password("not a url")
