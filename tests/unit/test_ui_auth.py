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
from tests.ui_testlib import CatalogClient, Sample, open_catalog, populate, populate_ml

#: A value for every path parameter, naming something populate()/populate_ml() created.
PATH_VALUES = {
    "project": "demo",
    "kind": "table",
    "name": "wine",
    "ref": "v3",
    "alias": "staging",
    "target": "local",
    "what": "undeploy",
    "run_id": "0123abcd",  # populate()'s run of demo/clean
}
#: Path parameters that differ by route.
NAMED = {
    "/static/{name}": "catalog.css",
    "/models/{project}/{name}": "wine-clf",
    "/runs/{project}/{kind}/{name}": "clean",
}
#: Bodies and query strings the routes need to succeed.
QUERY = {
    "/dhub/api/v1/produced": "?dag_id=ingest",
    "/dhub/ui/produced": "?dag_id=ingest",
    "/dhub/api/v1/search": "?q=wine",
    "/dhub/ui/search": "?q=wine",
}
BODY = {"PUT": {"version": "v1"}, "POST": {"reason": "reviewed"}}
#: Routes reached without login (the sign-in page's stylesheet).
PUBLIC = {"/dhub/ui/static/{name}"}
#: Form routes of the pages, with the fields each needs.
FORMS = {
    "/dhub/ui/actions/release": {"key": "store://demo/dataitem/table/wine:v3"},
    "/dhub/ui/actions/alias": {
        "dataset": "store://demo/dataitem/table/wine", "alias": "staging", "version": "v1",
    },
    "/dhub/ui/actions/alias/remove": {
        "dataset": "store://demo/dataitem/table/wine", "alias": "staging",
    },
    "/dhub/ui/actions/promote": {"model": "store://demo/model/mlflow/wine-clf", "metric": "x"},
    "/dhub/ui/actions/service": {
        "project": "demo", "target": "local", "name": "wine", "what": "undeploy",
    },
}  # fmt: skip
#: POST routes that only read: a viewer may use them.
VIEWER_POSTS = {"/dhub/api/tokens"}
#: Writes an op is allowed to try but that fail further on (no MLflow run to gate here).
OP_REFUSED_LATER = {"/dhub/api/v1/models/promote", "/dhub/ui/actions/promote"}


def routes() -> list[tuple[str, str]]:
    found = []
    for route in create_app(lambda: None).routes:
        if isinstance(route, APIRoute):
            found += [(method, "/dhub" + route.path) for method in sorted(route.methods)]
    return found


def concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        for pattern, named in NAMED.items():
            if name == "name" and pattern in path:
                return named
        if name == "kind" and "/runs/" in path:
            return "airflow"
        return PATH_VALUES[name]

    return re.sub(r"{(\w+)}", value, path) + QUERY.get(path, "")


@pytest.fixture
def catalog(ehub, tmp_path: Path) -> Iterator[tuple[CatalogClient, Sample]]:
    sample = populate(ehub, tmp_path / "data")
    populate_ml(ehub, sample)
    ehub.tag(sample.wine[0], "staging")  # what the alias routes move and remove
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
    sent = {"data": FORMS[path]} if path in FORMS else {"json": BODY.get(method)}
    if path in PUBLIC:
        assert client.request(method, url, as_user=None).status_code == 200
        return

    anonymous = client.request(method, url, as_user=None, **sent)
    assert anonymous.status_code == 401, anonymous.text
    assert "detail" in anonymous.text or "Sign in" in anonymous.text

    forged = client.request(
        method, url, as_user=None, headers={"Authorization": "Bearer not-a-real-token"}, **sent
    )
    assert forged.status_code in (401, 403)

    nobody = client.request(method, url, as_user="nobody", **sent)
    assert nobody.status_code == 403, nobody.text

    viewer = client.request(method, url, as_user="viewer", **sent)
    if method == "GET" or path in VIEWER_POSTS:
        assert viewer.status_code == 200, viewer.text[:500]
    else:
        assert viewer.status_code == 403, viewer.text
        op = client.request(method, url, as_user="op", **sent)
        if path in OP_REFUSED_LATER:
            assert op.status_code not in (401, 403), op.text
        else:
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
