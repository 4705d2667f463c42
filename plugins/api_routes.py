"""REST API ``/dhub/api/v1``: the catalog as stable JSON, ISO timestamps, typed errors.

Dataset and version keys arrive as URL segments (``/datasets/<project>/<kind>/<name>
/versions/<v3 | id | @alias>``) and are validated by the key grammar before any query;
nothing from a request ever names a file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from digitalhub_airflow.browse import read_model as browse
from digitalhub_airflow.keys import Key
from digitalhub_airflow.lineage.graph import MAX_DEPTH, lineage_graph
from digitalhub_airflow.plugins.auth import Editor, can_edit, can_read
from digitalhub_airflow.plugins.catalog_app import Hub

DATASET = "/datasets/{project}/{kind}/{name}"
VERSION = DATASET + "/versions/{ref}"


def dataset_in_path(project: str, kind: str, name: str) -> Key:
    """The dataset key the URL names (validated: a bad segment is a 400)."""
    return browse.version_key(project, kind, name)


def version_in_path(project: str, kind: str, name: str, ref: str) -> Key:
    """The version key the URL names: ``ref`` is ``v<N>``, a version id or ``@alias``."""
    return browse.version_key(project, kind, name, ref)


DatasetKey = Annotated[Key, Depends(dataset_in_path)]
VersionKey = Annotated[Key, Depends(version_in_path)]

reads = APIRouter(prefix="/api/v1", tags=["catalog"], dependencies=[Depends(can_read)])
writes = APIRouter(prefix="/api/v1", tags=["catalog changes"], dependencies=[Depends(can_edit)])


@reads.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI schema of this API (behind the same login as everything else)."""
    return request.app.openapi()


@reads.get("/projects")
def projects(hub: Hub) -> dict[str, Any]:
    items = browse.list_projects(hub)
    return {"items": items, "total": len(items)}


@reads.get("/projects/{project}/datasets")
def datasets(hub: Hub, project: str) -> dict[str, Any]:
    items = browse.list_datasets(hub, project)
    return {"items": items, "total": len(items)}


@reads.get("/projects/{project}/models")
def models(hub: Hub, project: str) -> dict[str, Any]:
    """Trained models (MLflow runs) with metrics and the dataset versions they used."""
    items = browse.list_models(hub, project)
    return {"items": items, "total": len(items)}


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
    key: VersionKey,
    direction: Literal["both", "upstream", "downstream"] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="version steps")] = 5,
) -> dict[str, Any]:
    """Runs and versions upstream and downstream: ``{"root", "nodes", "edges"}``."""
    return lineage_graph(hub, str(key), direction, depth).to_json()


@reads.get("/produced")
def produced(
    hub: Hub, dag_id: str, run_id: str | None = None, task_id: str | None = None
) -> dict[str, Any]:
    """Versions a DAG run (or one task of it) produced: where Airflow's links land."""
    items = browse.versions_produced_by(hub, dag_id, run_id, task_id)
    return {"items": items, "total": len(items)}


@writes.put(DATASET + "/aliases/{alias}")
def move_alias(
    hub: Hub,
    user: Editor,
    dataset: DatasetKey,
    alias: str,
    version: Annotated[str, Body(embed=True, description="v<N>, a version id or @alias")],
) -> dict[str, Any]:
    """Point ``alias`` at a version; the move is recorded with the Airflow user's name."""
    key = browse.version_key(dataset.project, dataset.kind or "", dataset.name or "", version)
    return hub.tag(key, alias, actor=user.get_name()).to_json()


@writes.post(VERSION + "/release")
def release(
    hub: Hub,
    user: Editor,
    key: VersionKey,
    reason: Annotated[str, Body(embed=True, max_length=1000)] = "",
) -> dict[str, Any]:
    """Let a quarantined version through again (after a person reviewed it)."""
    from digitalhub_airflow.quality.state import release as release_version

    why = f"released by {user.get_name()} in the web UI" + (f": {reason}" if reason else "")
    return release_version(hub, str(key), why).to_json()


router = APIRouter()
router.include_router(reads)
router.include_router(writes)
