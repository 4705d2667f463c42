"""Gateway auth of model and data services: the service's API key or a project token
with READ on the service's project; a token for project A is a 403 on project B's
service, a forged or expired one a 401 — for both kinds of service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from digitalhub_airflow.access import Principal, grant
from digitalhub_airflow.access.tokens import issue
from digitalhub_airflow.dataservice.app import DataServiceApp
from digitalhub_airflow.dataservice.versions import ServedDataset
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.runtime.api_key import API_KEY_ENV, AUTH_ENV, PROJECT_ENV, protect
from digitalhub_airflow.serving.runtime.app import ServerPlan, ServingApp

KEY = "service-key-0123"
SECRET = "token-secret-for-the-test"
ALICE = Principal("alice")  # READ on project a
BOB = Principal("bob")  # READ on project b only


def get(app: Any, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


def token(principal: Principal, ttl: int = 600) -> str:
    return issue(principal, SECRET.encode(), ttl)


@pytest.fixture
def services(ehub: DataHub) -> Iterator[dict[str, tuple[Any, str]]]:
    """Project a's model service and data service, each behind the gateway check."""
    grant(ehub.catalog, "a", "user:alice", "read", by="admin")
    grant(ehub.catalog, "b", "user:bob", "read", by="admin")
    ehub.commit("a/wine", pd.DataFrame({"alcohol": [13.0, 12.0], "target": [1, 0]}))
    dataset = ServedDataset(lambda: ehub, "a/wine", refresh_seconds=3600)
    dataset.start()
    env = {API_KEY_ENV: KEY, PROJECT_ENV: "a", "DHUB_TOKEN_SECRET": SECRET}
    yield {
        "model": (protect(ServingApp(ServerPlan([])), env, lambda: ehub.catalog), "/v2"),
        "data": (protect(DataServiceApp(dataset, "wine"), env, lambda: ehub.catalog), "/v1/rows"),
    }
    dataset.stop()


@pytest.mark.parametrize("kind", ["model", "data"])
def test_the_key_or_a_token_with_read_on_the_project_opens_the_service(
    services: dict, kind: str
) -> None:
    app, path = services[kind]
    assert get(app, path, KEY).status_code == 200
    assert get(app, path, token(ALICE)).status_code == 200
    admin = Principal("root", is_admin=True)
    assert get(app, path, token(admin)).status_code == 200


@pytest.mark.parametrize("kind", ["model", "data"])
def test_a_token_of_another_project_is_403_and_a_bad_one_401(services: dict, kind: str) -> None:
    app, path = services[kind]
    wrong_project = get(app, path, token(BOB))
    assert wrong_project.status_code == 403
    assert "'bob' may not read project 'a'" in wrong_project.text
    forged = token(ALICE)[:-4] + "AAAA"
    assert get(app, path, forged).status_code == 401
    expired = issue(ALICE, SECRET.encode(), 1)
    time.sleep(1.1)
    refused = get(app, path, expired)
    assert refused.status_code == 401 and "expired" in refused.text
    assert get(app, path).status_code == 401
    assert SECRET not in refused.text and KEY not in refused.text


def test_token_mode_refuses_the_key_path_and_health_needs_nothing(ehub: DataHub) -> None:
    grant(ehub.catalog, "a", "user:alice", "read", by="admin")
    env = {AUTH_ENV: "token", PROJECT_ENV: "a", "DHUB_TOKEN_SECRET": SECRET, API_KEY_ENV: KEY}
    app = protect(ServingApp(ServerPlan([])), env, lambda: ehub.catalog)
    assert get(app, "/v2", KEY).status_code == 401  # token mode: the key is not a token
    assert get(app, "/v2", token(ALICE)).status_code == 200
    assert get(app, "/v2/health/live").status_code == 200
