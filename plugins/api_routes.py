"""REST API ``/dhub/api/v1``: the catalog as stable JSON, ISO timestamps, typed errors.

Dataset and version keys arrive as URL segments (``/datasets/<project>/<kind>/<name>
/versions/<v3 | id | @alias>``) and are validated by the key grammar before any query;
nothing from a request ever names a file.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from digitalhub_airflow.browse import columns
from digitalhub_airflow.browse import models as model_views
from digitalhub_airflow.browse import read_model as browse
from digitalhub_airflow.browse import services as service_views
from digitalhub_airflow.browse.runs import run_detail, run_key
from digitalhub_airflow.browse.search import search as search_catalog
from digitalhub_airflow.keys import Key, validate_name
from digitalhub_airflow.lineage.graph import MAX_DEPTH, lineage_graph
from digitalhub_airflow.plugins.auth import can_read
from digitalhub_airflow.plugins.catalog_app import Hub
from digitalhub_airflow.plugins.scoping import (
    only_readable,
    readable,
    require_project,
    scoped_graph,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

DATASET = "/datasets/{project}/{kind}/{name}"
VERSION = DATASET + "/versions/{ref}"


def dataset_in_path(request: Request, hub: Hub, project: str, kind: str, name: str) -> Key:
    """The dataset key the URL names (validated: a bad segment is a 400), in a project
    the asker may read (else 403)."""
    key = browse.version_key(project, kind, name)
    require_project(request, hub, project)
    return key


def version_in_path(
    request: Request, hub: Hub, project: str, kind: str, *, name: str, ref: str
) -> Key:
    """The version key the URL names: ``ref`` is ``v<N>``, a version id or ``@alias``."""
    key = browse.version_key(project, kind, name, ref)
    require_project(request, hub, project)
    return key


def project_in_path(request: Request, hub: Hub, project: str) -> str:
    """A project named by the URL that the asker may read (else 403)."""
    validate_name(project, "project")
    require_project(request, hub, project)
    return project


def run_in_path(
    request: Request, hub: Hub, project: str, kind: str, *, name: str, run_id: str
) -> Key:
    """The run key the URL names (``/runs/<project>/<kind>/<name>/<id>``), readable."""
    key = run_key(project, kind, name, run_id)
    require_project(request, hub, project)
    return key


DatasetKey = Annotated[Key, Depends(dataset_in_path)]
VersionKey = Annotated[Key, Depends(version_in_path)]
RunKey = Annotated[Key, Depends(run_in_path)]
RUN = "/runs/{project}/{kind}/{name}/{run_id}"
ProjectName = Annotated[str, Depends(project_in_path)]

reads = APIRouter(prefix="/api/v1", tags=["catalog"], dependencies=[Depends(can_read)])


@reads.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI schema of this API (behind the same login as everything else)."""
    return request.app.openapi()


@reads.get("/projects")
def projects(hub: Hub, request: Request) -> dict[str, Any]:
    """The projects the asker may read."""
    items = only_readable(request, hub, browse.list_projects(hub), "name")
    return {"items": items, "total": len(items)}


@reads.get("/projects/{project}/datasets")
def datasets(hub: Hub, project: ProjectName) -> dict[str, Any]:
    items = browse.list_datasets(hub, project)
    return {"items": items, "total": len(items)}


@reads.get("/projects/{project}/models")
def models(hub: Hub, project: ProjectName) -> dict[str, Any]:
    """Trained models (MLflow runs) with metrics and the dataset versions they used."""
    items = browse.list_models(hub, project)
    return {"items": items, "total": len(items)}


@reads.get("/projects/{project}/registered-models")
def registered_models(hub: Hub, project: ProjectName) -> dict[str, Any]:
    """One entry per model: registry versions, aliases, metrics, data and gate verdicts."""
    items = model_views.list_models(hub, project)
    return {"items": items, "total": len(items)}


@reads.get("/models/{project}/{name}")
def model(hub: Hub, project: ProjectName, name: str) -> dict[str, Any]:
    return model_views.model_detail(hub, project, name)


@reads.get("/projects/{project}/services")
def project_services(hub: Hub, project: ProjectName) -> dict[str, Any]:
    items = service_views.list_services(hub, project)
    return {"items": items, "total": len(items)}


@reads.get("/services")
def services(hub: Hub, request: Request) -> dict[str, Any]:
    """Services of every project the asker may read."""
    items = all_services(request, hub)
    return {"items": items, "total": len(items)}


@reads.get("/services/{project}/{target}/{name}")
def service(hub: Hub, project: ProjectName, target: str, name: str) -> dict[str, Any]:
    """State, URL, pinned models, spec and the one it replaced, history, stats, drift."""
    return service_views.service_detail(hub, project, target, name)


@reads.get("/search")
def search(
    hub: Hub, request: Request, q: Annotated[str, Query(min_length=1, max_length=100)]
) -> dict[str, Any]:
    """Projects, datasets, models, services, columns and aliases whose name holds ``q``."""
    return search_catalog(hub, q, readable(request, hub))


def all_services(request: Request, hub: DataHub) -> list[dict[str, Any]]:
    """Services of every readable project, by project."""
    names = only_readable(request, hub, browse.list_projects(hub), "name")
    return [s for p in names for s in service_views.list_services(hub, p["name"])]


@reads.get(DATASET)
def dataset(hub: Hub, key: DatasetKey) -> dict[str, Any]:
    return browse.dataset_summary(hub, key)


@reads.get(DATASET + "/versions")
def versions(
    hub: Hub,
    key: DatasetKey,
    *,
    limit: Annotated[int, Query(ge=1, le=browse.MAX_PAGE)] = 50,
    before_seq: Annotated[int | None, Query(ge=1, description="page cursor")] = None,
    alias: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    quality: Literal[browse.QUALITY_FILTERS] | None = None,  # type: ignore[valid-type]
) -> dict[str, Any]:
    """Versions newest first; continue with ``before_seq=<next_before_seq>``."""
    where = browse.VersionFilter(alias, created_after, created_before, before_seq, quality)
    return browse.list_versions(hub, key, limit, where).to_json()


@reads.get(VERSION)
def version(hub: Hub, key: VersionKey) -> dict[str, Any]:
    """Schema, files, location, parent diff, profile and validation results."""
    return browse.version_detail(hub, key)


@reads.get(VERSION + "/preview")
def preview(
    hub: Hub, key: VersionKey, rows: Annotated[int, Query(ge=1, le=browse.PREVIEW_MAX_ROWS)] = 20
) -> dict[str, Any]:
    """The first rows of a table version (cells as bounded strings)."""
    return browse.preview(hub, key, rows)


@reads.get(VERSION + "/lineage")
def lineage(
    hub: Hub,
    request: Request,
    key: VersionKey,
    direction: Literal["both", "upstream", "downstream"] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="version steps")] = 5,
) -> dict[str, Any]:
    """Runs and versions upstream and downstream: ``{"root", "nodes", "edges"}``."""
    return scoped_graph(request, hub, lineage_graph(hub, str(key), direction, depth).to_json())


@reads.get(RUN)
def run(request: Request, hub: Hub, key: RunKey) -> dict[str, Any]:
    """A run: its Airflow task instance, state, and the versions it consumed and produced
    (those of unreadable projects counted in ``hidden``)."""
    return run_detail(hub, key, readable(request, hub))


@reads.get(VERSION + "/column-lineage")
def column_lineage(hub: Hub, key: VersionKey) -> dict[str, Any]:
    """Input columns of each output column, for a version a SQL transform made
    (OpenLineage column lineage facet shape); ``fields`` is null otherwise."""
    found = columns.column_lineage(hub, str(key))
    return found or {"run": None, "fields": None}


@reads.get("/produced")
def produced(
    hub: Hub, request: Request, dag_id: str, run_id: str | None = None, task_id: str | None = None
) -> dict[str, Any]:
    """Versions a DAG run (or one task of it) produced: where Airflow's links land."""
    items = only_readable(request, hub, browse.versions_produced_by(hub, dag_id, run_id, task_id))
    return {"items": items, "total": len(items)}


router = APIRouter()
router.include_router(reads)
