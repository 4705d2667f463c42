"""Arrow Flight: a stock ``pyarrow.flight`` client reads a version or a query result as
record batches, authenticated like the SQL endpoint, and is refused the same things."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow.flight as fl
import pytest

from digitalhub_airflow.access import grant
from digitalhub_airflow.hub import DataHub
from tests.integration.endpoints_testlib import Endpoints, running_endpoints, sample_tables


@pytest.fixture
def served(hub: DataHub) -> Iterator[tuple[Endpoints, dict[str, str]]]:
    keys = sample_tables(hub)
    grant(hub.catalog, "demo", "user:alice", "read", by="tests")
    with running_endpoints(hub) as endpoints:
        yield endpoints, keys


def ticket(**fields: str) -> fl.Ticket:
    return fl.Ticket(json.dumps(fields).encode())


def test_a_version_and_a_query_result_come_as_arrow(hub: DataHub, served: Any) -> None:
    endpoints, keys = served
    client, options = endpoints.flight("alice")
    version = client.do_get(ticket(project="demo", table="wine:v1"), options).read_all()
    assert version.equals(hub.read_table(keys["wine_v1"]))
    by_key = client.do_get(ticket(project="demo", table=keys["wine_v1"]), options).read_all()
    assert by_key.num_rows == 3
    result = client.do_get(
        ticket(project="demo", sql="SELECT count(*) AS n FROM wine WHERE quality > 5.7"), options
    ).read_all()
    assert result.to_pydict() == {"n": [1]}
    descriptor = fl.FlightDescriptor.for_command(json.dumps({"project": "demo", "table": "wine"}))
    info = client.get_flight_info(descriptor, options)
    assert info.schema.names == ["id", "quality", "name"]
    bulk = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert bulk.num_rows == 2


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # as fast, same checks
def test_flight_refuses_with_the_sql_endpoints_codes(served: Any) -> None:
    endpoints, _keys = served
    client, options = endpoints.flight("alice")
    refused: list[tuple[fl.Ticket, type[Exception], str]] = [
        (ticket(project="other", table="secret"), fl.FlightUnauthorizedError, "42501"),
        (ticket(project="demo", table="other/secret"), fl.FlightUnauthorizedError, "42501"),
        (ticket(project="demo", sql="DELETE FROM wine"), fl.FlightServerError, "25006"),
        (
            ticket(project="demo", sql="SELECT * FROM read_csv('/etc/passwd')"),
            fl.FlightServerError,
            "42501",
        ),
        (ticket(project="demo", table="nosuch"), fl.FlightServerError, "42P01"),
        (fl.Ticket(b"not json"), fl.FlightServerError, "22023"),
    ]
    for bad, kind, code in refused:
        with pytest.raises(kind, match=rf"\[{code}\]"):
            client.do_get(bad, options).read_all()
    anonymous = fl.FlightClient(f"grpc://127.0.0.1:{endpoints.flight_port}")
    with pytest.raises(fl.FlightUnauthenticatedError):
        anonymous.do_get(ticket(project="demo", table="wine")).read_all()
    with pytest.raises(fl.FlightUnauthenticatedError, match="28P01"):
        anonymous.authenticate_basic_token("alice", "wrong")
    bearer = fl.FlightCallOptions(
        headers=[(b"authorization", b"Bearer " + endpoints.token("alice").encode())]
    )
    assert anonymous.do_get(ticket(project="demo", table="wine"), bearer).read_all().num_rows == 2
