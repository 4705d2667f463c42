"""Projects as a security boundary through every entry point of this layer: ``dhub
query --as``, the SQL endpoint, Arrow Flight and the SDK. A user of project ``demo``
reaches nothing of project ``other`` until a grant says so; a query committing into
``demo`` reads ``other`` only with a ``project:demo`` grant, and that read is in lineage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow.flight as fl
import pytest

from digitalhub_airflow.access import Principal, grant
from digitalhub_airflow.access.tokens import issue
from digitalhub_airflow.errors import NotFoundError, PermissionDeniedError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.graph import lineage_graph
from digitalhub_airflow.sdk.client import Client
from tests.integration.conftest import Dhub
from tests.integration.endpoints_testlib import Endpoints, running_endpoints, sample_tables

SECRET = "ds('store://other/dataitem/table/secret')"
CROSS = f"SELECT pin FROM {SECRET}"


@pytest.fixture
def served(hub: DataHub) -> Iterator[tuple[Endpoints, dict[str, str]]]:
    keys = sample_tables(hub)
    grant(hub.catalog, "demo", "user:alice", "write", by="tests")
    with running_endpoints(hub) as endpoints:
        yield endpoints, keys


def reads_other(endpoints: Endpoints, hub: DataHub) -> dict[str, Any]:
    """What alice gets from ``other`` through each entry point: rows, or the error."""
    seen: dict[str, Any] = {}
    try:
        with psycopg.connect(endpoints.dsn("alice", "demo")) as conn:
            seen["sql"] = conn.execute('SELECT pin FROM "other/secret"').fetchall()
    except psycopg.Error as exc:
        seen["sql"] = exc.sqlstate
    client, options = endpoints.flight("alice")
    try:
        ticket = fl.Ticket(json.dumps({"project": "other", "table": "secret"}).encode())
        seen["flight"] = client.do_get(ticket, options).read_all().to_pydict()["pin"]
    except fl.FlightUnauthorizedError:
        seen["flight"] = "unauthorized"
    sdk = Client(hub=hub, principal=Principal("alice"))
    try:
        seen["sdk"] = sdk.get("other/secret").to_arrow().to_pydict()["pin"]
    except PermissionDeniedError:
        seen["sdk"] = "denied"
    return seen


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # grants on PG: test_sql_endpoint
def test_a_user_of_one_project_reaches_nothing_of_another(
    hub: DataHub, dhub: Dhub, served: Any
) -> None:
    endpoints, _keys = served
    assert reads_other(endpoints, hub) == {
        "sql": "42501",
        "flight": "unauthorized",
        "sdk": "denied",
    }
    with pytest.raises(psycopg.OperationalError, match="may not read project 'other'"):
        psycopg.connect(endpoints.dsn("alice", "other")).close()
    # the finding: a query committing into demo read other's rows
    proc = dhub.run("query", CROSS, "--target", "demo/stolen", "--as", "alice")
    assert proc.returncode == 30, proc.stderr
    assert "project 'demo' (user 'alice') may not read project 'other'" in proc.stderr
    preview = dhub.run("query", CROSS, "--as", "alice")
    assert preview.returncode == 30 and "'alice' may not read project 'other'" in preview.stderr
    with pytest.raises(NotFoundError):
        hub.log("demo/stolen")  # nothing was committed
    sdk = Client(hub=hub, principal=Principal("alice"))
    with pytest.raises(PermissionDeniedError):
        sdk.query(CROSS, target="demo/stolen")
    with pytest.raises(PermissionDeniedError, match="may not write project 'other'"):
        sdk.commit("other/secret", sdk.get("demo/wine").to_arrow())


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # as fast, same checks
def test_grants_open_exactly_what_they_name_and_the_read_is_in_lineage(
    hub: DataHub, dhub: Dhub, served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints, keys = served
    grant(hub.catalog, "other", "project:demo", "read", by="tests")
    committed = dhub.json("query", CROSS, "--target", "demo/derived", "--as", "alice")
    assert committed["created"] is True
    upstream = lineage_graph(hub, committed["output"]["key"], "upstream", 2).to_json()
    assert keys["secret"] in json.dumps(upstream)  # the cross-project read is recorded
    # the project grant is for demo's transforms, not for alice reading other herself
    assert reads_other(endpoints, hub) == {
        "sql": "42501",
        "flight": "unauthorized",
        "sdk": "denied",
    }
    grant(hub.catalog, "other", "role:Analyst", "read", by="tests")
    monkeypatch.setenv("DHUB_TOKEN_SECRET", "boundary-test-secret-0123456789")
    token = issue(
        Principal("alice", frozenset({"Analyst"})), b"boundary-test-secret-0123456789", 60
    )
    monkeypatch.setenv("DHUB_TOKEN", token)
    assert Client(hub=hub).get("other/secret").to_arrow().to_pydict() == {"pin": [1234]}
    grant(hub.catalog, "other", "user:alice", "read", by="tests")
    assert reads_other(endpoints, hub) == {"sql": [(1234,)], "flight": [1234], "sdk": [1234]}
    preview = dhub.json("query", CROSS, "--as", "alice")
    assert preview["rows"] == [{"pin": 1234}]
