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


#: Project grants of the test users (``admin`` is an Airflow admin: every project).
GRANTS = {"viewer": "read", "nobody": "read", "op": "write", "admin": "admin"}


def grant_users(hub: Any, project: str) -> None:
    """Give the test users their usual level on ``project``."""
    from digitalhub_airflow.access.permissions import grant

    for user, level in GRANTS.items():
        grant(hub.catalog, project, f"user:{user}", level, by="tests")


def catalog_app(hub: Any, **providers: Any) -> Any:
    """The catalog app on ``hub``, mounted at ``/dhub`` as the plugin mounts it; the test
    users hold their grants on the projects that exist now and on ``demo``."""
    from fastapi import FastAPI

    from digitalhub_airflow.browse.read_model import list_projects
    from digitalhub_airflow.plugins.catalog_app import create_app

    for project in {"demo"} | {p["name"] for p in list_projects(hub)}:
        grant_users(hub, project)
    providers.setdefault("tracking_provider", lambda: hub_tracking(hub))
    providers.setdefault("deployers_provider", local_deployers)
    outer = FastAPI()
    outer.mount("/dhub", create_app(lambda: hub, **providers))
    return outer


def hub_tracking(hub: Any) -> Any:
    """The embedded MLflow store next to the hub's catalog (tests only need it named)."""
    from digitalhub_airflow.settings import dhub_home
    from digitalhub_airflow.training.tracking import embedded_tracking

    return embedded_tracking(dhub_home())


def local_deployers() -> dict[str, Any]:
    """The local deployer (what undeploy/rollback of a local service need)."""
    from digitalhub_airflow.serving.deploy.deployer import LocalDeployer
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment

    return {"local": LocalDeployer(lambda: ServerEnvironment({}, {}))}


@contextmanager
def open_catalog(hub: Any, **providers: Any) -> Iterator[CatalogClient]:
    """A TestClient on :func:`catalog_app` with a token per role."""
    from fastapi.testclient import TestClient

    tokens = airflow_tokens()
    with TestClient(catalog_app(hub, **providers)) as client:
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


MODEL = "store://demo/model/mlflow/wine-clf"
SERVICE = ("demo", "local", "wine")
REQUESTS = "store://demo/dataitem/table/wine-requests"


def populate_ml(hub: Any, sample: Sample) -> list[str]:
    """Three trained runs of ``wine-clf`` (v1 and v2 registered through the gate, v2
    the champion, the third a candidate) and a local service ``wine`` serving v2 that
    replaced v1 and logs its requests. Returns the runs' model keys, oldest first."""
    from digitalhub_airflow.catalog.models import GateDecision
    from digitalhub_airflow.serving.deploy.pinning import already_pinned
    from digitalhub_airflow.serving.deploy.services import RUNNING, begin_deployment, set_state
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec
    from digitalhub_airflow.training.model_catalog import ModelRecord, record_model

    keys = []
    for i, (depth, accuracy) in enumerate([(3, 0.81), (5, 0.9), (7, 0.88)], 1):
        run_id = f"{i:02d}" * 16
        key = f"{MODEL}:{run_id}"
        keys.append(key)
        record_model(
            hub,
            ModelRecord(
                key=key,
                project="demo",
                name="wine-clf",
                run_id=run_id,
                experiment_id="7",
                tracking_uri="http://trainer:tracking-pass-123@mlflow.internal:5000",
                model_uri=f"runs:/{run_id}/model",
                entrypoint="train.py",
                code_digest="c0de",
                cache_key=f"cafe{i}",
                params={"max_depth": depth},
                metrics={"accuracy": accuracy},
                datasets=[sample.wine[1]],
                target="score",
                task="classification",
                producer={**PRODUCER, "task_id": "train"},
            ),
        )
    decisions = [
        ("1", 0.8, None, None, True, "no @champion yet"),
        ("2", 0.92, "1", 0.8, True, "accuracy 0.92 beats @champion v1 (0.8)"),
    ]
    with hub.catalog.session() as session:
        for (version, value, champ, champ_value, promoted, reason), key in zip(
            decisions, keys[:2], strict=True
        ):
            session.add(
                GateDecision(
                    model_key=key,
                    run_id=key.rsplit(":", 1)[1],
                    registered_name="demo.wine-clf",
                    registered_version=version,
                    alias="champion",
                    metric="accuracy",
                    greater_is_better=True,
                    search_value=value,
                    candidate_value=value,
                    champion_version=champ,
                    champion_value=champ_value,
                    evaluation_dataset=sample.wine[2],
                    promoted=promoted,
                    reason=reason,
                    actor="trainer",
                )
            )
    for version in ("1", "2"):
        spec = ServiceSpec(
            "demo", "wine", "local", {"wine": f"models:/demo.wine-clf/{version}"},
            request_log=REQUESTS,
        )  # fmt: skip
        begin_deployment(hub, spec, already_pinned(spec.models))
        set_state(hub, spec, RUNNING, url="http://127.0.0.1:9/", pid=None)
    return keys


LINEAGE_ROOT = "store://p/dataitem/table/out:00000000"


def fan_in(mapped: int, inputs: int) -> dict[str, Any]:
    """``out`` made by one task from ``mapped`` runs of a mapped task, each reading
    one of ``inputs`` input versions."""
    nodes = [{"key": LINEAGE_ROOT, "type": "dataitem", "label": "out v1", "distance": 0}]
    edges = []
    merge = "store://p/run/airflow/merge:ffffffff"
    nodes.append({"key": merge, "type": "run", "label": "merge", "distance": 1,
                  "dag_id": "d", "task_id": "merge", "state": "success"})  # fmt: skip
    edges.append(
        {
            "source": LINEAGE_ROOT,
            "relation": "produced_by",
            "target": merge,
            "direction": "upstream",
        }
    )
    for i in range(mapped):
        part = f"store://p/dataitem/table/part:{i:08x}"
        run = f"store://p/run/airflow/split:{i:08x}"
        source = f"store://p/dataitem/table/in{i % inputs}:{i % inputs:08x}"
        nodes.append({"key": part, "type": "dataitem", "label": f"part v{i}", "distance": 2})
        nodes.append({"key": run, "type": "run", "label": f"split[{i}]", "distance": 3,
                      "dag_id": "d", "task_id": "split", "state": "success"})  # fmt: skip
        if i < inputs:
            nodes.append({"key": source, "type": "dataitem", "label": f"in{i}", "distance": 4})
        edges += [
            {"source": merge, "relation": "consumes", "target": part, "direction": "upstream"},
            {"source": part, "relation": "produced_by", "target": run, "direction": "upstream"},
            {"source": run, "relation": "consumes", "target": source, "direction": "upstream"},
        ]
    return {"root": LINEAGE_ROOT, "nodes": nodes, "edges": edges}


def render_lineage(graph: dict[str, Any], expand: frozenset[str] = frozenset()) -> Any:
    """The lineage page's drawing and markup of ``graph`` (collapsed but ``expand``)."""
    from digitalhub_airflow.plugins import graph_layout
    from digitalhub_airflow.plugins.page_routes import templates

    drawing = graph_layout.layout(graph_layout.collapse(graph, expand), lambda n: "/x")
    page = templates().get_template("lineage.html").render(
        links=_Links(), csrf="", done="", q="", title="t", graph=graph, full=graph,
        expanded=sorted(expand), drawing=drawing, node_w=graph_layout.NODE_W,
        node_h=graph_layout.NODE_H, direction="both", depth=5,
    )  # fmt: skip
    return page, drawing


class _Links:
    def ui(self, path: str = "", **_: Any) -> str:
        return f"/dhub/ui/{path}"

    def version(self, key: str, page: str = "") -> str:
        return f"/v/{key}{page}"

    def dataset(self, key: str, **_: Any) -> str:
        return f"/d/{key}"
