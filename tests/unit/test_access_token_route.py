"""``POST /dhub/api/tokens``: a logged-in Airflow user gets a token for themselves, with
their role, that the SQL endpoint and Flight accept; nobody else gets one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from digitalhub_airflow.access.tokens import verify
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.settings import token_secret
from tests.ui_testlib import CatalogClient, open_catalog


@pytest.fixture
def catalog(ehub: DataHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[CatalogClient]:
    monkeypatch.setenv("DHUB_TOKEN_SECRET", "route-test-secret-0123456789")
    with open_catalog(ehub) as client:
        yield client


def test_a_user_gets_a_token_naming_them_and_their_role(catalog: CatalogClient) -> None:
    response = catalog.request("POST", "/dhub/api/tokens?ttl_s=600", as_user="viewer")
    assert response.status_code == 200, response.text
    body = response.json()
    principal = verify(body["token"], token_secret())
    assert (principal.name, principal.roles, principal.is_admin) == (
        "viewer",
        frozenset({"viewer"}),
        False,
    )
    assert body["expires_in"] == 600
    admin = catalog.request("POST", "/dhub/api/tokens", as_user="admin").json()
    assert verify(admin["token"], token_secret()).is_admin


def test_no_login_no_token_and_lifetimes_are_bounded(catalog: CatalogClient) -> None:
    assert catalog.request("POST", "/dhub/api/tokens", as_user=None).status_code == 401
    too_long = catalog.request("POST", "/dhub/api/tokens?ttl_s=99999999", as_user="viewer")
    assert too_long.status_code == 400
