"""The plugin API never answers 500 to a client's body, query or path: deep JSON, random
bytes, wrong types, huge strings and odd path segments are 4xx with a JSON ``detail``
(the hardening issue; FastAPI turns a body it cannot parse, ``RecursionError`` included,
into a 400, and the catalog's typed errors into their statuses)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitalhub_airflow.json_limits import MAX_JSON_DEPTH
from tests.ui_testlib import CatalogClient, open_catalog, populate
from tests.unit.dhub_testlib import make_hub

ALIAS = "/dhub/api/v1/datasets/demo/table/wine/aliases/staging"
RELEASE = "/dhub/api/v1/datasets/demo/table/wine/versions/v3/release"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogClient]:
    home = tmp_path_factory.mktemp("ui-fuzz")
    with make_hub(home / "hub") as hub:
        populate(hub, home / "data")
        with open_catalog(hub) as opened:
            yield opened


def assert_client_error(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert 400 <= status < 500, (status, response.text[:300])  # type: ignore[attr-defined]
    assert "detail" in response.json()  # type: ignore[attr-defined]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_deep_json_is_a_400_on_every_write_route(client: CatalogClient, depth: int) -> None:
    deep = b'{"version": ' + b"[" * depth + b"]" * depth + b"}"
    for method, path in (("PUT", ALIAS), ("POST", RELEASE)):
        response = client.request(
            method, path, as_user="op", content=deep, headers={"content-type": "application/json"}
        )
        assert_client_error(response)


#: Hypothesis settings of these tests: the client fixture is shared, module-wide.
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_to_a_write_route_is_answered_without_a_server_error(
    client: CatalogClient, body: bytes
) -> None:
    for method, path in (("PUT", ALIAS), ("POST", RELEASE)):
        response = client.request(
            method, path, as_user="op", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code < 500, (response.status_code, body[:100], response.text[:300])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in ".."))
def test_any_path_segment_or_query_is_answered_without_a_server_error(
    client: CatalogClient, segment: str
) -> None:
    from urllib.parse import quote

    for path in (
        f"/dhub/api/v1/projects/{quote(segment)}/datasets",
        f"/dhub/api/v1/datasets/demo/table/{quote(segment)}",
        f"/dhub/api/v1/datasets/demo/table/wine/versions/{quote(segment)}",
        f"/dhub/api/v1/datasets/demo/table/wine/versions?limit={quote(segment)}",
    ):
        response = client.get(path, as_user="viewer")
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
