"""``/dhub/ui/features/{project}``: the project's feature views (Feast), each with the
dataset version it reads, how far it is materialised, and whether its dataset has moved
on since; the feature services with their definition digest; recent applies and
materialisations. One template over :func:`digitalhub_airflow.browse.features.feature_overview`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from digitalhub_airflow.browse.features import feature_overview
from digitalhub_airflow.plugins.api_routes import ProjectName
from digitalhub_airflow.plugins.auth import can_read
from digitalhub_airflow.plugins.catalog_app import Hub
from digitalhub_airflow.plugins.page_routes import render

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(can_read)])


@router.get("/features/{project}")
def features_page(request: Request, hub: Hub, project: ProjectName) -> HTMLResponse:
    overview = feature_overview(hub, project)
    return render(request, "features.html", title=f"{project} features", f=overview)
