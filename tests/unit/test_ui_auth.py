"""Every route of the catalog app, with and without Airflow credentials.

The route table is read from the app itself, so a route added without an auth
dependency fails here: no credentials -> 401, a user without a role -> 403, a viewer
reads (200) but may not write (403), an op may write (200).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from digitalhub_airflow.datasets.versions import QUARANTINED
from digitalhub_airflow.plugins.catalog_app import create_app
from digitalhub_airflow.quality.state import set_state
from tests.ui_testlib import CatalogClient, Sample, open_catalog, populate

#: A value for every path parameter, naming something populate() created.
PATH_VALUES = {
    "project": "demo",
    "kind": "table",
    "name": "wine",
    "ref": "v3",
    "alias": "staging",
    "name_static": "catalog.css",
}
#: Bodies and query strings the routes need to succeed.
QUERY = {"/dhub/api/v1/produced": "?dag_id=ingest", "/dhub/ui/produced": "?dag_id=ingest"}
BODY = {"PUT": {"version": "v1"}, "POST": {"reason": "reviewed"}}


def routes() -> list[tuple[str, str]]:
    found = []
    for route in create_app(lambda: None).routes:
        if isinstance(route, APIRoute):
            found += [(method, "/dhub" + route.path) for method in sorted(route.methods)]
    return found


def concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if path.endswith("/static/{name}"):
            return PATH_VALUES["name_static"]
        return PATH_VALUES[name]

    return re.sub(r"{(\w+)}", value, path) + QUERY.get(path, "")


@pytest.fixture
def catalog(ehub, tmp_path: Path) -> Iterator[tuple[CatalogClient, Sample]]:
    sample = populate(ehub, tmp_path / "data")
    with ehub.catalog.session() as session:
        from sqlalchemy import select

        from digitalhub_airflow.catalog.models import Version

        v3 = session.scalar(select(Version.id).where(Version.seq == 3, Version.kind == "table"))
        set_state(session, v3, QUARANTINED, "tester", "failed validation")
    with open_catalog(ehub) as client:
        yield client, sample


ROUTES = routes()


def test_the_app_has_read_and_write_routes() -> None:
    methods = {m for m, _ in ROUTES}
    assert {"GET", "PUT", "POST"} <= methods
    assert len(ROUTES) >= 15


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_requires_airflow_auth(catalog, method: str, path: str) -> None:
    client, _ = catalog
    url = concrete(path)
    body = BODY.get(method)

    anonymous = client.request(method, url, as_user=None, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert "detail" in anonymous.text or "Sign in" in anonymous.text

    forged = client.request(
        method, url, as_user=None, json=body, headers={"Authorization": "Bearer not-a-real-token"}
    )
    assert forged.status_code in (401, 403)

    nobody = client.request(method, url, as_user="nobody", json=body)
    assert nobody.status_code == 403, nobody.text

    viewer = client.request(method, url, as_user="viewer", json=body)
    if method == "GET":
        assert viewer.status_code == 200, viewer.text[:500]
    else:
        assert viewer.status_code == 403, viewer.text
        op = client.request(method, url, as_user="op", json=body)
        assert op.status_code == 200, op.text


def test_the_ui_session_cookie_authenticates_too(catalog) -> None:
    client, _ = catalog
    response = client.client.get(
        "/dhub/api/v1/projects", cookies={"_token": client.tokens["viewer"]}
    )
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["items"]] == ["demo"]


def test_a_page_without_login_offers_airflow_sign_in(catalog) -> None:
    client, _ = catalog
    response = client.get("/dhub/ui/", as_user=None)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/auth/login?next=' in response.text
