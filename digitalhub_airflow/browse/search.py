"""One search box over the catalog: projects, datasets, models, services, columns, aliases.

Case-insensitive substring matches in catalog SQL, each kind bounded, so a search costs
a handful of indexed or small-table queries; columns are matched in the schema of each
dataset's newest version (prefiltered in SQL on the schema's text). ``projects`` limits
the answer to what the asker may read (None: every project).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, func, select

from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.catalog.models import (
    Alias,
    Dataset,
    ModelEntity,
    Project,
    ServiceEntity,
    Version,
)
from digitalhub_airflow.errors import InvalidKeyError
from digitalhub_airflow.keys import Key

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

MAX_PER_KIND = 25
MAX_QUERY = 100
KINDS = ("project", "dataset", "model", "service", "column", "alias")


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(hub: DataHub, text: str, projects: Collection[str] | None = None) -> dict[str, Any]:
    """Matches of ``text`` by kind: ``{"query", "items": [{"type", "project", "name", ...}]}``."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_QUERY:
        raise InvalidKeyError(f"a search needs 1 to {MAX_QUERY} characters")
    require_current(hub.catalog)
    pattern = _like(text)
    items: list[dict[str, Any]] = []

    def allowed(column: Any) -> list[Any]:
        return [] if projects is None else [column.in_(sorted(projects))]

    def like(column: Any) -> Any:
        return func.lower(column).like(pattern, escape="\\")

    with hub.catalog.session() as session:
        for (name,) in session.execute(
            select(Project.name)
            .where(like(Project.name), *allowed(Project.name))
            .limit(MAX_PER_KIND)
        ):
            items.append({"type": "project", "project": name, "name": name})
        datasets = (
            select(Project.name, Dataset.name, Dataset.kind)
            .join(Project, Project.id == Dataset.project_id)
            .where(*allowed(Project.name))
        )
        for project, name, kind in session.execute(
            datasets.where(like(Dataset.name)).limit(MAX_PER_KIND)
        ):
            key = Key(project, "dataitem", kind, name)
            items.append({"type": "dataset", "project": project, "name": name, "key": str(key)})
        for project, name in session.execute(
            select(ModelEntity.project, ModelEntity.name)
            .where(like(ModelEntity.name), *allowed(ModelEntity.project))
            .distinct()
            .limit(MAX_PER_KIND)
        ):
            items.append({"type": "model", "project": project, "name": name})
        for project, target, name, state in session.execute(
            select(
                ServiceEntity.project, ServiceEntity.target, ServiceEntity.name, ServiceEntity.state
            )
            .where(like(ServiceEntity.name), *allowed(ServiceEntity.project))
            .limit(MAX_PER_KIND)
        ):
            items.append(
                {
                    "type": "service",
                    "project": project,
                    "name": name,
                    "target": target,
                    "state": state,
                }
            )
        for project, name, kind, alias in session.execute(
            select(Project.name, Dataset.name, Dataset.kind, Alias.name)
            .join(Dataset, Dataset.id == Alias.dataset_id)
            .join(Project, Project.id == Dataset.project_id)
            .where(like(Alias.name), Alias.name != "latest", *allowed(Project.name))
            .limit(MAX_PER_KIND)
        ):
            key = Key(project, "dataitem", kind, name, alias=alias)
            items.append(
                {"type": "alias", "project": project, "name": f"@{alias}", "key": str(key)}
            )
        items += _columns(session, text, like, allowed)
    return {"query": text, "items": items, "total": len(items)}


def _columns(session: Any, text: str, like: Any, allowed: Any) -> list[dict[str, Any]]:
    """Columns of each dataset's newest version whose name contains ``text``."""
    rows = session.execute(
        select(Project.name, Dataset.name, Dataset.kind, Version.schema_json)
        .join(Project, Project.id == Dataset.project_id)
        .join(Version, (Version.dataset_id == Dataset.id) & (Version.seq == Dataset.latest_seq))
        .where(like(cast(Version.schema_json, String)), *allowed(Project.name))
        .limit(MAX_PER_KIND * 4)
    )
    found: list[dict[str, Any]] = []
    needle = text.lower()
    for project, dataset, kind, schema in rows:
        for column in schema or []:
            name = str(column.get("name", ""))
            if needle in name.lower() and len(found) < MAX_PER_KIND:
                key = Key(project, "dataitem", kind, dataset)
                found.append(
                    {
                        "type": "column",
                        "project": project,
                        "name": name,
                        "dataset": dataset,
                        "key": str(key),
                        "column_type": column.get("type"),
                    }
                )
    return found
