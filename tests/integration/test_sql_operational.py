"""The operational store's PostgreSQL tables through the SQL endpoint and Flight: an
allow-listed table reads as ``ops.<name>`` beside the datasets; writes, tables off the
list, users without a grant and tables over the row cap are refused with PostgreSQL's
SQLSTATE; the store's password shows in no error and no log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow.flight as fl
import pytest

from digitalhub_airflow.access import grant, revoke
from digitalhub_airflow.endpoints.operational import ENV, OperationalTables, read_only
from digitalhub_airflow.errors import InvalidOptionError
from digitalhub_airflow.hub import DataHub
from tests.integration.endpoints_testlib import (
    Endpoints,
    find_psql,
    running_endpoints,
    sample_tables,
)

#: Only the embedded hub: the operational store is the real PostgreSQL either way.
EMBEDDED = pytest.mark.parametrize("backend", ["embedded"], indirect=True)
PASSWORD_MARK = "Zq8-not-the-password"


@pytest.fixture
def store(real_services: Any, pg_schema: str) -> Iterator[str]:
    """A scratch schema: ``orders`` (2 rows), ``big`` (6 rows), ``hidden`` (not allowed)
    and a function ``bump()`` that writes; its DSN is the real PostgreSQL's."""
    dsn = os.environ["DHUB_TEST_PG_DSN"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE SCHEMA {pg_schema};
            CREATE TABLE {pg_schema}.orders (
                id int, amount numeric(10, 2), note text, at timestamptz, meta jsonb);
            INSERT INTO {pg_schema}.orders VALUES
                (1, 9.50, 'first', '2026-01-02 03:04:05+00', '{{"a": 1}}'),
                (2, NULL, NULL, NULL, NULL);
            CREATE TABLE {pg_schema}.big AS SELECT generate_series(1, 6) AS n;
            CREATE TABLE {pg_schema}.hidden (pin int);
            CREATE FUNCTION {pg_schema}.bump() RETURNS int LANGUAGE sql AS
                'INSERT INTO {pg_schema}.orders (id) VALUES (99) RETURNING id';
            """
        )
    yield dsn


@pytest.fixture
def served(
    hub: DataHub, store: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoints]:
    allowed = {"tables": [f"{pg_schema}.orders", f"{pg_schema}.big"], "max_rows": 5}
    monkeypatch.setenv(ENV, json.dumps({"demo": {"url_env": "DEMO_OPS_URL", **allowed}}))
    monkeypatch.setenv("DEMO_OPS_URL", store)
    sample_tables(hub)
    grant(hub.catalog, "demo", "user:alice", "read", by="tests")
    with running_endpoints(hub) as endpoints:
        yield endpoints


def psql(endpoints: Endpoints, command: str) -> Any:
    binary = find_psql()
    if binary is None:
        pytest.fail("psql is not installed: scripts/services/postgres.sh installs it")
    return subprocess.run(
        [binary, endpoints.dsn("alice", "demo"), "-X", "-A", "-t", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@EMBEDDED
def test_operational_tables_read_fresh_beside_datasets(
    served: Endpoints, store: str, pg_schema: str
) -> None:
    listed = psql(served, "SELECT table_name, kind FROM dhub.tables ORDER BY 1")
    assert listed.stdout.split() == [
        "ops.big|operational",
        "ops.orders|operational",
        "wine|dataset",
    ]
    joined = psql(served, "SELECT count(*) FROM ops.orders o JOIN wine w ON o.id = w.id")
    assert (joined.returncode, joined.stdout.strip()) == (0, "2"), joined.stderr
    with psycopg.connect(served.dsn("alice", "demo"), autocommit=True) as conn:
        rows = conn.execute("SELECT id, amount, note, meta FROM ops.orders ORDER BY id")
        assert rows.fetchall() == [(1, Decimal("9.50"), "first", '{"a": 1}'), (2, None, None, None)]
        at = conn.execute('SELECT "at" FROM ops.orders WHERE id = 1').fetchone()
        assert at is not None and str(at[0]).startswith("2026-01-02 03:04:05")  # UTC
        with psycopg.connect(store, autocommit=True) as writer:  # the store changes...
            writer.execute(f"INSERT INTO {pg_schema}.orders (id) VALUES (3)")
        # ...and the next statement sees it
        assert conn.execute("SELECT count(*) FROM ops.orders").fetchone() == (3,)
    client, options = served.flight("alice")
    ticket = fl.Ticket(
        json.dumps({"project": "demo", "sql": "SELECT sum(id) AS s FROM ops.orders"})
    )
    assert client.do_get(ticket, options).read_all().to_pydict() == {"s": [6]}


@EMBEDDED
def test_writes_unlisted_and_oversized_tables_are_refused(
    served: Endpoints, store: str, pg_schema: str
) -> None:
    expected = {
        "INSERT INTO ops.orders (id) VALUES (7)": "25006",
        "UPDATE ops.orders SET note = 'x'": "25006",
        "WITH d AS (DELETE FROM ops.orders RETURNING *) SELECT * FROM d": "25006",
        "SELECT * FROM ops.hidden": "42P01",
        f"SELECT * FROM {pg_schema}.hidden": "42P01",
        "SELECT * FROM ops.big": "54000",
    }
    with psycopg.connect(served.dsn("alice", "demo"), autocommit=True) as conn:
        for statement, state in expected.items():
            with pytest.raises(psycopg.Error) as info:
                conn.execute(statement)
            assert info.value.sqlstate == state, (statement, info.value)
        with pytest.raises(psycopg.Error):  # PostgreSQL's functions are not reachable
            conn.execute(f"SELECT {pg_schema}.bump()")
    refused = psql(served, "WITH d AS (DELETE FROM ops.orders RETURNING *) SELECT * FROM d")
    assert "cannot execute DELETE in a read-only transaction" in refused.stderr, refused.stderr
    oversized = psql(served, "SELECT * FROM ops.big")
    assert "has more than 5 rows" in oversized.stderr, oversized.stderr
    # the endpoint's own connection is read-only: even a writing function is refused there
    with pytest.raises(Exception) as info, read_only(store) as cursor:
        cursor.execute(f"SELECT {pg_schema}.bump()")
    assert getattr(info.value, "pgcode", None) == "25006", info.value
    with psycopg.connect(store) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_schema}.orders").fetchone() == (2,)


@EMBEDDED
def test_grants_scope_operational_tables_and_the_password_stays_hidden(
    hub: DataHub,
    served: Endpoints,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, options = served.flight("bob")  # no grant on demo
    sql = fl.Ticket(json.dumps({"project": "demo", "sql": "SELECT * FROM ops.orders"}))
    with pytest.raises(fl.FlightUnauthorizedError, match=r"\[42501\]"):
        client.do_get(sql, options).read_all()
    with psycopg.connect(served.dsn("alice", "demo"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM ops.orders").fetchone() == (2,)
        revoke(hub.catalog, "demo", "user:alice")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT count(*) FROM ops.orders")
        assert info.value.sqlstate == "42501", info.value
    grant(hub.catalog, "demo", "user:alice", "read", by="tests")
    host = store.split("@", 1)[1]
    messages = []
    for url in (
        f"postgresql://dhub:{PASSWORD_MARK}@{host}",  # refused login
        f"postgresql://dhub:{PASSWORD_MARK}@127.0.0.1:notaport/db",  # malformed
        f"postgresql+psycopg2://dhub:{PASSWORD_MARK}@{host}",  # SQLAlchemy's form
        f"dhub:{PASSWORD_MARK}@{host}",  # no scheme: libpq quotes it back in its error
    ):
        monkeypatch.setenv("DEMO_OPS_URL", url)
        with psycopg.connect(served.dsn("alice", "demo"), autocommit=True) as conn:
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT * FROM ops.orders")
            messages.append(f"{info.value.sqlstate} {info.value}")
    # 08001: the endpoint could not connect to the store, and says why
    assert all(message.startswith("08001 ") for message in messages), messages
    assert "password authentication failed" in messages[0] and "notaport" in messages[1]
    assert "password authentication failed" in messages[2] and "invalid dsn" in messages[3]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PASSWORD_MARK not in "\n".join(messages) + logged


def test_an_allow_list_is_checked_when_the_server_starts() -> None:
    tables = OperationalTables.parse(
        '{"demo": {"url_env": "U", "tables": {"o": "sales.orders", "items": "items"}}}'
    )
    assert tables.names("demo") == {"ops.items": "public.items", "ops.o": "sales.orders"}
    assert tables.names("other") == {}
    bad = {
        "[1]": "must map project names",
        '{"demo": {"tables": ["a.b"]}}': '"url_env"',
        '{"demo": {"url_env": "U", "tables": ["a.b; DROP"]}}': "not a lower-case schema.table",
        '{"demo": {"url_env": "U", "tables": ["a.t", "b.t"]}}': "two tables are named 't'",
        '{"demo": {"url_env": "U", "max_rows": 0}}': "positive integer",
        "{oops": "is not JSON",
    }
    for text, message in bad.items():
        with pytest.raises(InvalidOptionError, match=message):
            OperationalTables.parse(text)
