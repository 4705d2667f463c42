"""Services as the Services page and the API show them: state, models, history, health.

Everything comes from the catalog: the service entity (what runs, the spec it
replaced, the last statistics read from its ``/metrics``), its state history, the
drift reports stored for its request log, and the request log's versions (one per
flushed batch of requests), which give the traffic over time without asking the
running server anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.keys import validate_name

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.services import ServiceRecord

#: Drift reports and request-log batches shown per service.
MAX_REPORTS = 10
MAX_POINTS = 60


def _summary(record: ServiceRecord) -> dict[str, Any]:
    from digitalhub_airflow.browse.read_model import scrub_url

    data = record.to_json()
    data["url"] = scrub_url(record.url) if record.url else None
    data.pop("pid", None)
    data["request_log"] = record.spec.get("request_log")
    data["kind"] = record.spec.get("kind", "model")  # model specs before kinds: "model"
    data["dataset"] = record.spec.get("dataset")  # what a data service serves
    data["can_roll_back"] = record.previous_spec is not None
    return data


def list_services(hub: DataHub, project: str) -> list[dict[str, Any]]:
    """The project's services (model and data services), by target and name."""
    from digitalhub_airflow.serving.deploy.services import list_services as listed

    validate_name(project, "project")
    return [_summary(r) for r in listed(hub, project)]


def service_detail(hub: DataHub, project: str, target: str, name: str) -> dict[str, Any]:
    """A service with its history, statistics, traffic series and drift reports."""
    from digitalhub_airflow.serving.deploy.services import find_service, history

    validate_name(project, "project")
    validate_name(name, "service name")
    record = find_service(hub, project, target, name)
    if record is None:
        raise NotFoundError(f"service {target}/{name} does not exist in project {project}")
    data = _summary(record)
    data["history"] = list(reversed(history(hub, project, target, name)))
    data["traffic"] = traffic(hub, data["request_log"]) if data["request_log"] else []
    data["drift"] = drift(hub, data["request_log"]) if data["request_log"] else []
    return data


def traffic(hub: DataHub, request_log: str) -> list[dict[str, Any]]:
    """Requests logged per batch (request-log version), oldest first: the time series."""
    try:
        versions = hub.log(request_log, limit=MAX_POINTS)
    except NotFoundError:
        return []
    return [
        {"at": v.created_at.isoformat(), "rows": v.row_count or 0, "version": v.key}
        for v in reversed(versions)
    ]


def drift(hub: DataHub, request_log: str) -> list[dict[str, Any]]:
    """The newest drift reports of the request log: per feature PSI or JS and thresholds."""
    from digitalhub_airflow.serving.monitoring.drift import drift_reports

    try:
        reports = drift_reports(hub, request_log, MAX_REPORTS)
    except NotFoundError:
        return []
    return [
        {
            "id": r["id"],
            "status": r.get("status"),
            "reference": r.get("reference"),
            "window": r.get("window", {}),
            "model": r.get("model"),
            "thresholds": r.get("thresholds", {}),
            "columns": [
                {k: c.get(k) for k in ("name", "kind", "metric", "value", "status")}
                for c in r.get("columns", [])
            ],
            "created_by": r["created_by"],
            "created_at": r["created_at"],
        }
        for r in reports
    ]
