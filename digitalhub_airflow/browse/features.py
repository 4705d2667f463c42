"""Feature views as the Catalog page and ``dhub features list`` show them.

For each registered view: its features and entities, the dataset key it follows and
the exact version it is pinned to, how far it is materialised (freshness), and the
newest source version (so a page shows when a view lags its dataset). Services list
their views and definition digest; recent apply and materialise runs come from the
catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DhubError
from digitalhub_airflow.keys import validate_name

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Apply and materialise runs listed per project.
RECENT_RUNS = 10


def _view(hub: DataHub, view: Any) -> dict[str, Any]:
    from digitalhub_airflow.features.sources import KEY_TAG, VERSION_TAG

    source = view.batch_source
    key = source.tags.get(KEY_TAG)
    try:
        latest = hub.resolve(key).key if key else None
    except DhubError:
        latest = None
    end = view.most_recent_end_time
    pinned = source.tags.get(VERSION_TAG)
    return {
        "name": view.name,
        "entities": list(view.entities),
        "features": [f.name for f in view.features],
        "ttl_s": view.ttl.total_seconds() if view.ttl else None,
        "key": key,
        "version": pinned,
        "latest_version": latest,
        "behind_latest": bool(latest and pinned and latest != pinned),
        "materialized_to": end.isoformat() if end else None,
    }


def feature_overview(hub: DataHub, project: str) -> dict[str, Any]:
    """The project's feature views, services and recent feature-store runs."""
    from digitalhub_airflow.features.config import open_feature_store
    from digitalhub_airflow.features.records import latest_runs
    from digitalhub_airflow.features.service import service_digest

    validate_name(project, "project")
    store = open_feature_store(hub, project)
    return {
        "project": project,
        "feature_views": [_view(hub, v) for v in sorted(store.list_feature_views(), key=_name)],
        "services": [
            {
                "name": s.name,
                "views": [p.name for p in s.feature_view_projections],
                "digest": service_digest(s),
            }
            for s in sorted(store.list_feature_services(), key=_name)
        ],
        "applies": latest_runs(hub, project, "apply", RECENT_RUNS),
        "materializations": latest_runs(hub, project, "materialize", RECENT_RUNS),
    }


def _name(obj: Any) -> str:
    return str(obj.name)
