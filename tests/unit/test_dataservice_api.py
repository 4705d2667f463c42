"""The data service over a real embedded hub, through its ASGI app: PostgREST-style
rows, content negotiation, ETags, cursors pinned to a version, alias following without
a failed request, quarantine, GraphQL with the same filters, and every bad input a 4xx
(a 500 only for a server fault, with a request id)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from digitalhub_airflow.dataservice.app import DataServiceApp
from digitalhub_airflow.dataservice.versions import ServedDataset
from digitalhub_airflow.errors import QuarantinedError
from digitalhub_airflow.hub import DataHub
from tests.unit.dhub_testlib import make_hub

WINE = "demo/wine"


def wine(rows: int = 40, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alcohol": [11.0 + (i % 7) * 0.5 + shift for i in range(rows)],
            "target": [i % 3 for i in range(rows)],
            "name": [f"w{i:03d}" for i in range(rows)],
        }
    )


class Client:
    """Sync calls into the ASGI app (no server, no socket)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://data") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.request(
            "POST", "/v1/graphql", json={"query": query, "variables": variables}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def serve(hub: DataHub, key: str, **options: Any) -> tuple[Client, ServedDataset]:
    dataset = ServedDataset(lambda: hub, key, refresh_seconds=3600, **options)
    dataset.start()
    return Client(DataServiceApp(dataset, "wine")), dataset


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, ServedDataset]]:
    """One service for the tests that only read (its setup is the slow part)."""
    with make_hub(tmp_path_factory.mktemp("served")) as hub:
        hub.commit(WINE, wine())
        client, dataset = serve(hub, WINE)
        yield client, dataset
        dataset.stop()


def test_filters_projection_and_order_answer_like_duckdb_would(served: Any) -> None:
    client, dataset = served
    response = client.get(
        "/v1/rows?select=alcohol,target&filter=target.eq.1&alcohol=gte.12&order=alcohol.desc"
        "&limit=5"
    )
    assert response.status_code == 200
    frame = wine()
    expected = duckdb.query_df(
        frame,
        "frame",
        "SELECT alcohol, target FROM frame WHERE target = 1 AND alcohol >= 12 "
        "ORDER BY alcohol DESC LIMIT 5",
    ).df()
    assert response.json() == expected.to_dict("records")
    assert response.headers["etag"] == f'"{dataset.current.info.version_id}"'
    assert response.headers["content-range"] == "0-4/*"
    # PostgREST's operators: in, not, like with '*', is.null
    names = [r["name"] for r in client.get('/v1/rows?name=in.(w001,w002,"w,x")').json()]
    assert names == ["w001", "w002"]
    assert len(client.get("/v1/rows?target=not.eq.0&limit=100").json()) == 26
    assert [r["name"] for r in client.get("/v1/rows?name=like.w00*&limit=3").json()] == [
        "w000",
        "w001",
        "w002",
    ]
    assert client.get("/v1/rows?name=is.null").json() == []


def test_content_negotiation_serves_csv_parquet_and_arrow(served: Any) -> None:
    client, _ = served
    query = "/v1/rows?select=name,target&order=name&limit=3"
    csv = client.get(query, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"] == "text/csv"
    assert csv.text.splitlines() == ['"name","target"', '"w000",0', '"w001",1', '"w002",2']
    parquet = client.get(query, headers={"Accept": "application/vnd.apache.parquet"})
    assert pq.read_table(io.BytesIO(parquet.content)).column("name").to_pylist() == [
        "w000",
        "w001",
        "w002",
    ]
    stream = client.get(
        query, headers={"Accept": "text/html;q=0.9, application/vnd.apache.arrow.stream"}
    )
    table = pa.ipc.open_stream(stream.content).read_all()
    assert table.schema.names == ["name", "target"] and table.num_rows == 3
    refused = client.get(query, headers={"Accept": "application/xml"})
    assert refused.status_code == 406 and "application/json" in refused.json()["message"]


def test_etag_answers_not_modified_and_openapi_names_every_column(served: Any) -> None:
    client, dataset = served
    etag = client.get("/v1/rows?limit=1").headers["etag"]
    assert client.get("/v1/rows?limit=1", headers={"If-None-Match": etag}).status_code == 304
    doc = client.get("/v1/openapi.json").json()
    assert (
        doc["openapi"].startswith("3.")
        and doc["info"]["version"] == dataset.current.info.version_id
    )
    row = doc["components"]["schemas"]["Row"]["properties"]
    assert row["alcohol"]["type"] == "number" and row["target"]["type"] == "integer"
    names = {p["name"] for p in doc["paths"]["/v1/rows"]["get"]["parameters"]}
    assert {"select", "order", "limit", "cursor", "filter", "alcohol", "target", "name"} <= names


def test_cursors_page_through_one_version_even_after_the_alias_moves(ehub: DataHub) -> None:
    first = ehub.commit(WINE, wine(40)).version
    client, dataset = serve(ehub, WINE)
    page = client.get("/v1/rows?order=alcohol.desc&limit=15")
    seen = page.json()
    cursor = page.headers["x-next-cursor"]
    # a new version moves latest: new requests read it, the open cursor does not
    second = ehub.commit(WINE, wine(10, shift=100.0)).version
    dataset.refresh()
    assert client.get("/v1/rows?limit=1").headers["etag"] == f'"{second.version_id}"'
    while cursor:
        page = client.get(f"/v1/rows?order=alcohol.desc&limit=15&cursor={cursor}")
        assert page.status_code == 200 and page.headers["etag"] == f'"{first.version_id}"'
        seen += page.json()
        cursor = page.headers.get("x-next-cursor")
    assert len(seen) == 40 and {r["name"] for r in seen} == set(wine(40)["name"])
    assert [r["alcohol"] for r in seen] == sorted((r["alcohol"] for r in seen), reverse=True)
    # a cursor replayed with other filters is refused, not misread
    other = client.get(
        f"/v1/rows?order=alcohol&limit=15&cursor={page.request.url.params.get('cursor')}"
    )
    assert other.status_code == 400 and "same" in other.json()["message"]
    dataset.stop()


def test_no_request_fails_while_the_alias_moves(ehub: DataHub) -> None:
    ehub.commit(WINE, wine())
    client, dataset = serve(ehub, WINE)
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.get("/v1/rows?filter=target.eq.1&limit=5").status_code)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        for shift in (1.0, 2.0, 3.0):
            ehub.commit(WINE, wine(shift=shift))
            dataset.refresh()
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) == {200}
    assert dataset.current.info.seq == 4
    dataset.stop()


def test_a_quarantined_version_is_served_only_when_asked_for(ehub: DataHub) -> None:
    from digitalhub_airflow.catalog.models import Version
    from digitalhub_airflow.quality.state import set_state

    good = ehub.commit(WINE, wine()).version
    bad = ehub.commit(WINE, wine(shift=50)).version
    with ehub.catalog.session() as session:
        row = session.query(Version).filter_by(version_id=bad.version_id).one()
        set_state(session, row.id, "quarantined", "tester", "failed its suite")
    with pytest.raises(QuarantinedError, match="allow_quarantined"):
        serve(ehub, f"{WINE}:v2")
    client, dataset = serve(ehub, f"{WINE}:v2", allow_quarantined=True)
    assert client.get("/v1/rows?limit=1").headers["etag"] == f'"{bad.version_id}"'
    # latest skips it; a cursor naming it is refused by a service that did not allow it
    latest, following = serve(ehub, WINE)
    assert latest.get("/v1/rows?limit=1").headers["etag"] == f'"{good.version_id}"'
    crafted = client.get("/v1/rows?limit=2").headers["x-next-cursor"]
    refused = latest.get(f"/v1/rows?limit=2&cursor={crafted}")
    assert refused.status_code == 409 and "quarantined" in refused.json()["message"]
    dataset.stop()
    following.stop()


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("/v1/rows?nope=eq.1", 400, "column 'nope' does not exist"),
        ("/v1/rows?select=alcohol,nope", 400, "column 'nope' does not exist"),
        ("/v1/rows?order=nope.desc", 400, "column 'nope' does not exist"),
        ("/v1/rows?target=eq.1%3BDROP%20TABLE%20rows", 400, "is not a value of it"),
        ("/v1/rows?target=eq.1)%20OR%20(1=1", 400, "is not a value of it"),
        ("/v1/rows?target=between.1", 400, "not OPERATOR.VALUE"),
        ("/v1/rows?limit=100000000", 400, "out of range"),
        ("/v1/rows?limit=-1", 400, "not a whole number"),
        ("/v1/rows?cursor=not-a-cursor", 400, "cursor is malformed"),
        ("/v1/rows?cursor=WyJ4IiwxLCJ5Il0", 400, "cursor is malformed"),
        ("/v1/rows?limit=1&limit=2", 400, "given twice"),
        ("/v1/rows?offset=100", 400, "X-Next-Cursor"),
        ("/v1/rows?order=alcohol.sideways", 400, "not asc, desc"),
        ("/v1/rows?" + "a" * 9000, 414, "query string"),
        ("/v1/nothing", 404, "no route"),
    ],
)
def test_bad_input_is_a_clear_4xx(served: Any, query: str, status: int, words: str) -> None:
    client, _ = served
    response = client.get(query)
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["message"] and set(body) >= {"code", "message", "details", "hint"}


def test_injection_in_a_text_value_is_only_a_value(served: Any) -> None:
    client, _ = served
    response = client.get("/v1/rows?name=eq.w001'%20OR%20'1'='1")
    assert response.status_code == 200 and response.json() == []
    assert len(client.get("/v1/rows?limit=100").json()) == 40  # the table is intact


def test_graphql_takes_the_same_filters_and_projects_the_selection(served: Any) -> None:
    client, dataset = served
    answer = client.graphql(
        'query($f: [String!]) { rows(filter: $f, order: "name", limit: 2) '
        "{ version next_cursor rows { name target } } }",
        f=["target.eq.2", "alcohol.gt.11"],
    )
    page = answer["data"]["rows"]
    assert page["rows"] == [{"name": "w002", "target": 2.0}, {"name": "w005", "target": 2.0}]
    assert page["version"] == dataset.current.info.key and page["next_cursor"]
    after = client.graphql(
        'query($c: String) { rows(filter: ["target.eq.2", "alcohol.gt.11"], order: "name", '
        "limit: 2, after: $c) { rows { name target } } }",
        c=page["next_cursor"],
    )
    assert [r["name"] for r in after["data"]["rows"]["rows"]] == ["w008", "w011"]
    refused = client.graphql('{ rows(filter: ["nope.eq.1"]) { rows { name } } }')
    assert "column 'nope' does not exist" in refused["errors"][0]["message"]
    too_big = client.request("POST", "/v1/graphql", content=b"{" * 300_000)
    assert too_big.status_code == 413
    deep = client.request("POST", "/v1/graphql", content=b"[" * 100 + b"]" * 100)
    assert deep.status_code == 400 and "deeper" in deep.json()["message"]


def test_a_server_fault_is_a_500_with_a_request_id_and_no_detail(
    ehub: DataHub, caplog: pytest.LogCaptureFixture
) -> None:
    ehub.commit(WINE, wine())
    client, dataset = serve(ehub, WINE)
    dataset.current.database.close()  # the version's database is gone: a server fault
    response = client.get("/v1/rows")
    assert response.status_code == 500
    body = response.json()
    assert (
        body["message"] == "internal error"
        and body["request_id"] == response.headers["x-request-id"]
    )
    assert body["request_id"] in caplog.text
    metrics = client.get("/metrics").text
    assert 'dhub_serving_requests_total{model="wine",protocol="rest",status="500"} 1.0' in metrics
