"""The catalog's pages under ``/dhub/ui``: server-rendered, autoescaped, no inline script.

Each page is one template over the same read model as the API (:mod:`browse`), so a
page costs what its JSON costs plus rendering. Links into Airflow (DAG runs, login)
are built from the mount's root path and open in the top window, since the pages
live in the Airflow UI's frame.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from digitalhub_airflow.browse import models as model_views
from digitalhub_airflow.browse import read_model as browse
from digitalhub_airflow.browse import services as service_views
from digitalhub_airflow.browse.columns import column_lineage
from digitalhub_airflow.browse.runs import run_detail
from digitalhub_airflow.browse.search import search as search_catalog
from digitalhub_airflow.keys import parse_key
from digitalhub_airflow.lineage.graph import MAX_DEPTH, lineage_graph
from digitalhub_airflow.plugins import charts, graph_layout
from digitalhub_airflow.plugins.api_routes import (
    DatasetKey,
    ProjectName,
    RunKey,
    VersionKey,
    all_services,
)
from digitalhub_airflow.plugins.auth import can_read
from digitalhub_airflow.plugins.catalog_app import Hub
from digitalhub_airflow.plugins.scoping import only_readable, readable, scoped_graph

HERE = Path(__file__).parent
#: The only files the app serves, read once: a request never names a path.
STATIC = {
    "catalog.css": "text/css; charset=utf-8",
    "theme.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
PREVIEW_ROWS = 20

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(can_read)])
#: Served without login: the sign-in (401) page needs its stylesheet too.
public = APIRouter(prefix="/ui", include_in_schema=False)


@cache
def templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.globals.update(
        histogram_bars=charts.histogram_bars,
        value_bars=charts.value_bars,
        chart_w=charts.WIDTH,
        chart_h=charts.HEIGHT,
    )
    env.filters["when"] = lambda iso: iso.replace("T", " ")[:19] if iso else "-"
    return env


@cache
def static_file(name: str) -> bytes:
    return (HERE / "static" / name).read_bytes()


def human_size(size: int | None) -> str:
    from digitalhub_airflow.cli.support import human_size as size_text

    return size_text(size)


class Links:
    """URLs of the catalog's pages and of Airflow's, relative to where the app is mounted."""

    def __init__(self, request: Request) -> None:
        self.root = request.scope.get("root_path", "").rstrip("/")
        self.airflow = self.root.rsplit("/", 1)[0] if self.root else ""

    def ui(self, path: str = "", **query: Any) -> str:
        params = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.root}/ui/{path}" + (f"?{urlencode(params)}" if params else "")

    def dataset(self, key: str, **query: Any) -> str:
        k = parse_key(key)
        return self.ui(f"datasets/{k.project}/{k.kind}/{k.name}", **query)

    def version(self, key: str, page: str = "") -> str:
        k = parse_key(key)
        ref = k.version or (f"@{k.alias}" if k.alias else "latest")
        return self.ui(f"datasets/{k.project}/{k.kind}/{k.name}/versions/{ref}{page}")

    def run(self, key: str) -> str:
        k = parse_key(key)
        return self.ui(f"runs/{k.project}/{k.kind}/{k.name}/{k.version}")

    def dag_run(self, producer: dict[str, Any] | None) -> str | None:
        """Airflow's page of the producing task instance (or run, or DAG: what is known)."""
        if not producer or not producer.get("dag_id"):
            return None
        url = f"{self.airflow}/dags/{quote(str(producer['dag_id']), safe='')}"
        if producer.get("run_id"):
            url += f"/runs/{quote(str(producer['run_id']), safe='')}"
            if producer.get("task_id"):
                url += f"/tasks/{quote(str(producer['task_id']), safe='')}"
        return url


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    from digitalhub_airflow.plugins.action_routes import csrf_token

    html = (
        templates()
        .get_template(template)
        .render(
            links=Links(request),
            csrf=csrf_token(request),
            done=request.query_params.get("done", ""),
            q=context.pop("q", ""),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    login = None
    if status == 401:
        login = f"{Links(request).airflow}/auth/login?{urlencode({'next': str(request.url)})}"
    title = f"Error {status}"
    return render(request, "error.html", status, title=title, message=message, login=login)


@public.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    return Response(static_file(name), media_type=STATIC[name])


@router.get("/")
def projects_page(request: Request, hub: Hub) -> HTMLResponse:
    projects = only_readable(request, hub, browse.list_projects(hub), "name")
    return render(request, "projects.html", title="Catalog", projects=projects)


@router.get("/projects/{project}")
def project_page(request: Request, hub: Hub, project: ProjectName) -> HTMLResponse:
    return render(
        request,
        "project.html",
        title=project,
        project=project,
        datasets=browse.list_datasets(hub, project),
        models=model_views.list_models(hub, project),
        services=service_views.list_services(hub, project),
    )


@router.get("/models/{project}/{name}")
def model_page(request: Request, hub: Hub, project: ProjectName, name: str) -> HTMLResponse:
    model = model_views.model_detail(hub, project, name)
    return render(request, "model.html", title=name, project=project, model=model)


@router.get("/services")
def services_page(request: Request, hub: Hub) -> HTMLResponse:
    services = all_services(request, hub)
    return render(request, "services.html", title="Services", services=services)


@router.get("/services/{project}/{target}/{name}")
def service_page(
    request: Request, hub: Hub, project: ProjectName, target: str, name: str
) -> HTMLResponse:
    detail = service_views.service_detail(hub, project, target, name)
    series = charts.series(detail["traffic"], "rows")
    return render(request, "service.html", title=name, s=detail, series=series)


@router.get("/search")
def search_page(
    request: Request, hub: Hub, q: Annotated[str, Query(max_length=100)] = ""
) -> HTMLResponse:
    found = search_catalog(hub, q, readable(request, hub)) if q.strip() else None
    return render(request, "search.html", title="Search", q=q, found=found)


@router.get("/datasets/{project}/{kind}/{name}")
def dataset_page(
    request: Request,
    hub: Hub,
    key: DatasetKey,
    *,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 50,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    alias: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    quality: str | None = None,
) -> HTMLResponse:
    where = browse.VersionFilter(
        alias or None, created_after, created_before, before_seq, quality or None
    )
    page = browse.list_versions(hub, key, limit, where)
    summary = browse.dataset_summary(hub, key)
    filters = {
        "alias": alias or "",
        "created_after": created_after.isoformat() if created_after else "",
        "created_before": created_before.isoformat() if created_before else "",
        "limit": limit,
        "quality": quality or "",
    }
    return render(
        request,
        "dataset.html",
        title=summary["name"],
        dataset=summary,
        page=page,
        filters=filters,
        first_page=before_seq is None,
        quality_states=browse.QUALITY_FILTERS,
    )


@router.get("/datasets/{project}/{kind}/{name}/versions/{ref}")
def version_page(request: Request, hub: Hub, key: VersionKey) -> HTMLResponse:
    detail = browse.version_detail(hub, key)
    rows = browse.preview(hub, parse_key(detail["key"]), PREVIEW_ROWS)
    lineage = column_lineage(hub, detail["key"])
    return render(
        request, "version.html", title=detail["short_id"], v=detail, preview=rows, columns=lineage
    )


@router.get("/datasets/{project}/{kind}/{name}/versions/{ref}/lineage")
def lineage_page(
    request: Request,
    hub: Hub,
    key: VersionKey,
    *,
    direction: Literal["both", "upstream", "downstream"] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 5,
    expand: Annotated[list[str] | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The lineage graph; runs of one task collapse into a counted node (``expand``
    names the ``<dag_id>.<task_id>`` groups to open)."""
    full = scoped_graph(request, hub, lineage_graph(hub, str(key), direction, depth).to_json())
    opened = frozenset(expand or ())
    graph = graph_layout.collapse(full, opened)
    links = Links(request)
    here = links.version(full["root"], "/lineage")

    def href_of(node: dict[str, Any]) -> str | None:
        if node.get("type") == "dataitem":
            return links.version(node["key"], "/lineage") + f"?direction={direction}&depth={depth}"
        if node.get("type") == "group":
            query = [("direction", direction), ("depth", depth)]
            query += [("expand", task) for task in sorted(opened | {node["task"]})]
            return f"{here}?{urlencode(query)}"
        return links.run(node["key"]) if node.get("type") == "run" else None

    drawing = graph_layout.layout(graph, href_of)
    return render(
        request,
        "lineage.html",
        title=f"lineage of {parse_key(graph['root']).name}",
        graph=graph,
        full=full,
        expanded=sorted(opened),
        drawing=drawing,
        node_w=graph_layout.NODE_W,
        node_h=graph_layout.NODE_H,
        direction=direction,
        depth=depth,
    )


@router.get("/runs/{project}/{kind}/{name}/{run_id}")
def run_page(request: Request, hub: Hub, key: RunKey) -> HTMLResponse:
    """A run: its Airflow task instance and the versions it consumed and produced."""
    detail = run_detail(hub, key, readable(request, hub))
    return render(request, "run.html", title=f"run {detail['name']}", run=detail)


@router.get("/produced")
def produced_page(
    request: Request, hub: Hub, dag_id: str, run_id: str | None = None, task_id: str | None = None
) -> HTMLResponse:
    items = only_readable(request, hub, browse.versions_produced_by(hub, dag_id, run_id, task_id))
    return render(
        request,
        "produced.html",
        title=f"versions produced by {dag_id}",
        items=items,
        producer={"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
    )
