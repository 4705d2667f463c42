"""``/dhub/ui/datasets/…/versions/{ref}/report.html``: a version's profile and validation
results as one self-contained HTML file, downloaded to share without the UI.

Behind the same login and project check as the version page; a GET computes nothing
and writes nothing (a version never profiled says so; ``dhub report`` profiles it).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from digitalhub_airflow.plugins.api_routes import VersionKey
from digitalhub_airflow.plugins.auth import can_read
from digitalhub_airflow.plugins.catalog_app import Hub

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(can_read)])


@router.get("/datasets/{project}/{kind}/{name}/versions/{ref}/report.html")
def version_report(hub: Hub, key: VersionKey) -> HTMLResponse:
    from digitalhub_airflow.reports.contents import gather
    from digitalhub_airflow.reports.html import render

    contents = gather(hub, str(key), profile_missing=False)
    version = contents.version
    filename = f"{version['dataset'].rsplit('/', 1)[-1]}-v{version['seq']}-report.html"
    return HTMLResponse(
        render(contents),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
