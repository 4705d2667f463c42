"""A data service deployed like a model service, on both backends: ``dhub deploy
--dataset`` runs ``dhub serve-data`` as a managed local process behind the gateway
check (the service's key, or a token with READ on its project), it follows ``latest``
to a new version while an open cursor keeps reading the old one, its ``/metrics`` count
the requests, and ``dhub undeploy`` stops it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd

from digitalhub_airflow.access import Principal, grant
from digitalhub_airflow.access.tokens import issue
from digitalhub_airflow.hub import DataHub

KEY = "data-service-key-42"
SECRET = "data-service-token-secret"
WINE = "store://demo/dataitem/table/wine"


def wine(rows: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alcohol": [11.0 + i * 0.1 + shift for i in range(rows)],
            "target": [i % 3 for i in range(rows)],
        }
    )


def test_a_data_service_deploys_follows_latest_and_checks_project_tokens(
    hub: DataHub, dhub: Any
) -> None:
    first = hub.commit(WINE, wine(30)).version
    grant(hub.catalog, "demo", "user:alice", "read", by="tests")
    grant(hub.catalog, "other", "user:bob", "read", by="tests")
    gate = {"DHUB_SERVING_API_KEY": KEY, "DHUB_TOKEN_SECRET": SECRET}
    record = dhub.json("deploy", "demo/wine-data", "--dataset", WINE, "--set", "port=0", **gate)
    url = record["url"]
    assert record["state"] == "running" and record["spec"]["kind"] == "data"
    try:
        alice = issue(Principal("alice"), SECRET.encode(), 600)
        bob = issue(Principal("bob"), SECRET.encode(), 600)
        with httpx.Client(base_url=url, timeout=30) as client:

            def rows(query: str, credential: str | None = KEY) -> httpx.Response:
                headers = {"Authorization": f"Bearer {credential}"} if credential else {}
                return client.get(f"/v1/rows?{query}", headers=headers)

            page = rows("select=alcohol,target&filter=target.eq.1&order=alcohol.desc&limit=4")
            assert page.status_code == 200 and len(page.json()) == 4
            assert page.headers["etag"] == f'"{first.version_id}"'
            assert rows("limit=1", alice).status_code == 200
            refused = rows("limit=1", bob)
            assert (
                refused.status_code == 403 and "'bob' may not read project 'demo'" in refused.text
            )
            assert rows("limit=1", None).status_code == 401
            cursor = page.headers["x-next-cursor"]
            # latest moves: the service switches within its refresh, the cursor does not
            second = hub.commit(WINE, wine(5, shift=50)).version
            deadline = time.monotonic() + 30
            while rows("limit=1").headers["etag"] != f'"{second.version_id}"':
                assert time.monotonic() < deadline, "the service never followed latest"
                time.sleep(0.5)
            rest = rows(
                f"select=alcohol,target&filter=target.eq.1&order=alcohol.desc&limit=4&cursor={cursor}"
            )
            assert rest.headers["etag"] == f'"{first.version_id}"' and len(rest.json()) == 4
            metrics = client.get("/metrics", headers={"X-API-Key": KEY}).text
            assert (
                'dhub_serving_requests_total{model="wine-data",protocol="rest",status="200"}'
                in metrics
            )
    finally:
        stopped = dhub.json("undeploy", "demo/wine-data")
    assert stopped["state"] == "stopped"
