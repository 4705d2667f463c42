"""The SQL endpoint as PostgreSQL clients see it: the real ``psql`` binary and psycopg
read a project's datasets by name, alias, version and key; everything else is refused
with PostgreSQL's SQLSTATE and a clear message."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from digitalhub_airflow.access import grant
from digitalhub_airflow.hub import DataHub
from tests.integration.endpoints_testlib import (
    Endpoints,
    find_psql,
    running_endpoints,
    sample_tables,
)


@pytest.fixture
def served(hub: DataHub) -> Iterator[tuple[Endpoints, dict[str, str]]]:
    keys = sample_tables(hub)
    grant(hub.catalog, "demo", "user:alice", "read", by="tests")
    with running_endpoints(hub) as endpoints:
        yield endpoints, keys


def psql(endpoints: Endpoints, command: str, *, project: str = "demo", token: str = "") -> Any:
    binary = find_psql()
    if binary is None:
        pytest.fail("psql is not installed: scripts/services/postgres.sh installs it")
    return subprocess.run(
        [binary, endpoints.dsn("alice", project, token or None), "-X", "-A", "-t", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_psql_reads_datasets_by_name_alias_version_and_key(served: Any) -> None:
    endpoints, keys = served
    queries = {
        "SELECT count(*) FROM wine": "2",  # latest = v2
        'SELECT count(*) FROM "wine@champion-data"': "3",
        'SELECT count(*) FROM "wine:v1"': "3",
        f'SELECT count(*) FROM "{keys["wine_v1"]}"': "3",
        "SELECT name FROM dhub.datasets ORDER BY name": "wine",  # other/secret is not listed
        "SELECT string_agg(column_name, ',') FROM dhub.columns": "id,quality,name",
    }
    for query, expected in queries.items():
        proc = psql(endpoints, query)
        assert (proc.returncode, proc.stdout.strip()) == (0, expected), (query, proc.stderr)
    copy = psql(endpoints, 'COPY (SELECT * FROM "wine:v1" ORDER BY id) TO STDOUT')
    assert copy.stdout == "1\t5.5\ta\n2\t6\tb\\tc\n3\t\\N\td\n", copy.stderr


#: What the endpoint refuses, and the message psql shows for it.
REFUSED = {
    "CREATE TABLE t (a int)": "cannot execute CREATE in a read-only transaction",
    "DELETE FROM wine": "cannot execute DELETE in a read-only transaction",
    "SELECT * FROM read_csv('/etc/passwd')": "permission denied",
    "SELECT * FROM read_parquet('http://127.0.0.1:1/x.parquet')": "permission denied",
    "INSTALL httpfs": "cannot execute",
    "SET enable_external_access = true; SELECT 1": "one statement at a time",
    "SELECT * FROM wine; DROP TABLE wine": "one statement at a time",
    "SELECT * FROM nosuch": 'relation "nosuch" does not exist',
    'SELECT * FROM "other/secret"': "permission denied for table other/secret",
    "ATTACH 'x.db'": "cannot execute ATTACH",
}
#: The backend makes no difference to what is refused: the embedded one is enough.
EMBEDDED = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@EMBEDDED
def test_psql_gets_a_clear_error_for_what_is_refused(served: Any) -> None:
    for command, message in REFUSED.items():
        proc = psql(served[0], command)
        assert proc.returncode != 0 and message in proc.stderr, (command, proc.stderr)


def test_psycopg_sees_postgresql_error_codes_and_binds_parameters(served: Any) -> None:
    endpoints, _keys = served
    with psycopg.connect(endpoints.dsn("alice", "demo"), autocommit=True) as conn:
        rows = conn.execute("SELECT id, name FROM wine WHERE id >= %s ORDER BY id", (2,))
        assert rows.fetchall() == [(2, "b\tc")]
        injected = "1; DROP TABLE wine"
        assert conn.execute(
            "SELECT count(*) FROM wine WHERE name = %s", (injected,)
        ).fetchone() == (0,)
        expected = {
            "DELETE FROM wine": "25006",
            "SELECT * FROM nosuch": "42P01",
            'SELECT * FROM "other/secret"': "42501",
            "SELEC 1": "42601",
        }
        for statement, state in expected.items():
            with pytest.raises(psycopg.Error) as info:
                conn.execute(statement)
            assert info.value.sqlstate == state, (statement, info.value)
        with conn.cursor().copy("COPY (SELECT id FROM wine ORDER BY id) TO STDOUT") as copy:
            assert [row for row in copy.rows()] == [("1",), ("2",)]
    # libpq reports a refused connection's message (its SQLSTATE stays on the server side)
    for dsn, message in [
        (endpoints.dsn("alice", "demo", "not-a-token"), "FATAL:  the access token is malformed"),
        (endpoints.dsn("mallory", "demo", endpoints.token("alice")), "another user's"),
        (endpoints.dsn("alice", "other"), "'alice' may not read project 'other'"),
    ]:
        with pytest.raises(psycopg.OperationalError, match=message):
            psycopg.connect(dsn).close()


@EMBEDDED
def test_psql_shows_the_sqlstate_of_a_refused_login(served: Any) -> None:
    endpoints, _keys = served
    proc = psql(endpoints, "SELECT 1", token="dhub1.forged.token")
    assert proc.returncode == 2 and "signature does not match" in proc.stderr, proc.stderr
    verbose = subprocess.run(
        [
            find_psql() or "psql",
            endpoints.dsn("alice", "demo"),
            "-X",
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "DELETE FROM wine",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "ERROR:  25006: cannot execute DELETE" in verbose.stderr, verbose.stderr


@EMBEDDED
def test_a_quarantined_version_is_served_only_when_named_exactly(hub: DataHub, served: Any) -> None:
    from digitalhub_airflow.catalog.models import Version
    from digitalhub_airflow.quality.state import set_state

    endpoints, keys = served
    hub.tag(keys["wine_v2"], "prod")
    version_id = keys["wine_v2"].rsplit(":", 1)[1]
    with hub.catalog.session() as session:
        pk = session.scalar(select(Version.id).where(Version.version_id == version_id))
        set_state(session, pk, "quarantined", "tests", "bad rows")
    assert psql(endpoints, "SELECT count(*) FROM wine").stdout.strip() == "3"  # back to v1
    refused = psql(endpoints, 'SELECT count(*) FROM "wine@prod"')
    assert "quarantined" in refused.stderr, refused.stderr
    assert psql(endpoints, 'SELECT count(*) FROM "wine:v2"').stdout.strip() == "2"


@EMBEDDED
def test_adbc_postgresql_driver_reads_arrow_and_is_refused_writes(served: Any) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    endpoints, _keys = served
    with adbc.connect(endpoints.dsn("alice", "demo")) as conn, conn.cursor() as cursor:
        cursor.execute('SELECT id, quality, name, id > 1 AS big FROM "wine:v1" ORDER BY id')
        table = cursor.fetch_arrow_table()
        assert table.to_pydict() == {
            "id": [1, 2, 3],
            "quality": [5.5, 6.0, None],
            "name": ["a", "b\tc", "d"],
            "big": [False, True, True],
        }
        cursor.execute("SELECT sum(id) AS total FROM wine")
        assert cursor.fetchall() == [("3",)]  # numeric, as PostgreSQL's ADBC driver gives it
        with pytest.raises(adbc.Error, match="cannot execute DELETE in a read-only transaction"):
            cursor.execute("DELETE FROM wine")
