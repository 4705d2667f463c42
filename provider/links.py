"""The button on a task instance's page that opens what the task wrote in the catalog.

Airflow 3 computes operator links on the worker right after the task ran and keeps
them as XCom, so the link can point at the exact version written (one output) or at
the list of everything this task instance produced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink

from digitalhub_airflow.keys import parse_key

if TYPE_CHECKING:
    from airflow.models.taskinstancekey import TaskInstanceKey


def catalog_root() -> str:
    """The catalog app's path: ``/dhub`` under Airflow's base URL path (no host)."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    return urlsplit(base).path.rstrip("/") + "/dhub"


def version_page(key: str) -> str:
    k = parse_key(key)
    return (
        f"{catalog_root()}/ui/datasets/{k.project}/{k.kind}/{k.name}/versions/"
        f"{quote(k.version or 'latest', safe='')}"
    )


def produced_page(dag_id: str, run_id: str, task_id: str | None = None) -> str:
    query = {"dag_id": dag_id, "run_id": run_id, **({"task_id": task_id} if task_id else {})}
    return f"{catalog_root()}/ui/produced?{urlencode(query)}"


class CatalogVersionsLink(BaseOperatorLink):
    """ "Catalog": the version this task wrote, or all versions of this task instance."""

    name = "Catalog"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        task_io = getattr(operator, "task_io", None)
        outputs = list(getattr(task_io, "outputs", []) or [])
        if len(outputs) == 1:
            return version_page(outputs[0].key)
        return produced_page(ti_key.dag_id, ti_key.run_id, ti_key.task_id)
