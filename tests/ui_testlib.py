"""The catalog app under FastAPI's TestClient, with real Airflow JWTs.

Tokens are minted and checked by Airflow's own SimpleAuthManager (the one
``airflow standalone`` uses), exactly as the API server does: a signed JWT in
``Authorization: Bearer`` or the UI's ``_token`` cookie. Checking a token consults
Airflow's revoked-token table, so that one table is created in Airflow's configured
metadata database if it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Users of the test app by role; ``nobody`` is authenticated but has no role at all.
ROLES = {"admin": "admin", "op": "op", "viewer": "viewer", "nobody": None}


@dataclass
class CatalogClient:
    """A TestClient on the catalog app plus a token per role."""

    client: Any
    tokens: dict[str, str]

    def get(self, path: str, as_user: str | None = "viewer", **kwargs: Any) -> Any:
        return self.request("GET", path, as_user, **kwargs)

    def request(self, method: str, path: str, as_user: str | None = "viewer", **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if as_user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[as_user]}"
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, path: str, **kwargs: Any) -> Any:
        response = self.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.json() if "json" in response.headers["content-type"] else response.text


def airflow_tokens() -> dict[str, str]:
    """Tokens for each role, from the auth manager Airflow itself would use."""
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "catalog-tests-jwt-secret")
    from airflow import settings
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.revoked_token import RevokedToken

    RevokedToken.__table__.create(settings.engine, checkfirst=True)
    manager = create_auth_manager()
    return {
        name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))
        for name, role in ROLES.items()
    }


@contextmanager
def open_catalog(hub: Any) -> Iterator[CatalogClient]:
    """The catalog app on ``hub``, mounted at ``/dhub`` as the plugin mounts it."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from digitalhub_airflow.plugins.catalog_app import create_app

    tokens = airflow_tokens()
    outer = FastAPI()
    outer.mount("/dhub", create_app(lambda: hub))
    with TestClient(outer) as client:
        yield CatalogClient(client, tokens)


WINE = "store://demo/dataitem/table/wine"
CLEAN = "store://demo/dataitem/table/clean"
PRODUCER = {"dag_id": "ingest", "run_id": "manual__2026-01-01T00:00:00+00:00", "try_number": 1}


@dataclass
class Sample:
    """What :func:`populate` committed."""

    wine: list[str]  # version keys, v1 first
    clean: str
    run: str


def populate(hub: Any, folder: Path) -> Sample:
    """demo/wine v1..v3 (v2 adds a column, @prod on v2) and demo/clean made from wine v3
    by a recorded run, every version with an Airflow producer."""
    from digitalhub_airflow.catalog.models import utcnow
    from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec, record_run

    folder.mkdir(parents=True, exist_ok=True)
    tables = [
        "id,name\n1,alpha\n2,beta\n",
        "id,name,score\n1,alpha,0.5\n2,beta,1.5\n",
        "id,name,score\n1,alpha,0.5\n2,beta,1.5\n3,gamma,2.5\n",
    ]
    wine = []
    for seq, text in enumerate(tables, 1):
        path = folder / f"wine{seq}.csv"
        path.write_text(text, encoding="utf-8")
        producer = {**PRODUCER, "task_id": f"load_{seq}"}
        wine.append(hub.commit(WINE, path, message=f"load {seq}", producer=producer).key)
    hub.tag(wine[1], "prod")
    clean_path = folder / "clean.csv"
    clean_path.write_text("id,score\n1,0.5\n", encoding="utf-8")
    clean = hub.commit(CLEAN, clean_path, producer={**PRODUCER, "task_id": "clean"}).key
    spec = RunSpec(
        "demo", "clean", "0123abcd", dag_id="ingest", run_id=PRODUCER["run_id"], task_id="clean"
    )
    with hub.catalog.session() as session:
        run = record_run(session, spec, RunOutcome(SUCCESS, [wine[2]], [clean]), utcnow())
    return Sample(wine, clean, run)
