"""``dhub features apply``: a definition set from git into Feast's registry.

Everything is checked before anything is written: every source resolves to a Parquet
table version holding each column its views read, with compatible types. Then the set is
applied as ``feast apply`` does (objects no longer defined are deleted), the digest of
its files goes on every feature service (tag ``dhub_digest``) and into a catalog run,
with ``consumes`` edges to the exact source versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.features.config import open_feature_store
from digitalhub_airflow.features.definitions import Definitions, load_definitions
from digitalhub_airflow.features.errors import FeatureDefinitionError
from digitalhub_airflow.features.records import record
from digitalhub_airflow.features.service import DIGEST_TAG
from digitalhub_airflow.features.sources import (
    PinnedSource,
    check_columns,
    pin,
    resolve_source,
    written_key,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@dataclass
class ApplyResult:
    project: str
    digest: str
    run: str | None
    definitions: dict[str, Any]
    sources: list[PinnedSource] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.definitions,
            "project": self.project,
            "run": self.run,
            "sources": [s.to_json() for s in self.sources],
            "deleted": self.deleted,
        }


def definitions_project(hub: DataHub, found: Definitions, project: str | None) -> str:
    """The catalog project of a set: given, or the one project its sources live in."""
    if project:
        return project
    projects = {hub.key(written_key(s)).project for s in found.sources}
    if len(projects) != 1:
        raise FeatureDefinitionError(
            f"sources span projects {sorted(projects)}: name the project (--project)"
        )
    return projects.pop()


def check(hub: DataHub, found: Definitions) -> dict[str, Any]:
    """Resolve and check every source against the views that read it; write nothing."""
    entities = {e.name: e for e in found.entities}
    infos = {}
    for source in found.sources:
        info = resolve_source(hub, source)
        views = [v for v in found.views if v.batch_source.name == source.name]
        check_columns(info, views, entities)
        infos[source.name] = info
    defined = {v.name for v in found.views}
    for service in found.services:
        for projection in service.feature_view_projections:
            if projection.name not in defined:
                raise FeatureDefinitionError(
                    f"feature service {service.name!r} names feature view "
                    f"{projection.name!r}, which is not defined"
                )
    return infos


def stale_objects(store: Any, found: Definitions) -> list[Any]:
    """Registered views, services, entities and sources the set no longer defines."""
    wanted = {
        "view": {v.name for v in found.views},
        "service": {s.name for s in found.services},
        "entity": {e.name for e in found.entities},
        "source": {s.name for s in found.sources},
    }
    listed = {
        "view": store.list_feature_views(),
        "service": store.list_feature_services(),
        "entity": [e for e in store.list_entities() if not e.name.startswith("__")],
        "source": store.list_data_sources(),
    }
    return [o for kind, objs in listed.items() for o in objs if o.name not in wanted[kind]]


def apply_definitions(hub: DataHub, folder: str | Path, project: str | None = None) -> ApplyResult:
    """Check and register the definition set in ``folder``; record it in the catalog."""
    found = load_definitions(folder)
    project = definitions_project(hub, found, project)
    infos = check(hub, found)
    pinned = [pin(hub, s, infos[s.name]) for s in found.sources]
    for view in found.views:  # a view holds its own copy of its source
        pin(hub, view.batch_source, infos[view.batch_source.name])
    for service in found.services:
        service.tags[DIGEST_TAG] = found.digest
    store = open_feature_store(hub, project)
    stale = stale_objects(store, found)
    try:
        store.apply(found.objects, objects_to_delete=stale, partial=False)
    except (ValueError, TypeError) as exc:  # Feast's own checks of the objects
        raise FeatureDefinitionError(f"feast refused the definitions: {exc}") from exc
    summary = found.summary()
    run = record(
        hub,
        project,
        "apply",
        {**summary, "sources": [p.to_json() for p in pinned]},
        [p.version for p in pinned],
    )
    return ApplyResult(project, found.digest, run, summary, pinned, sorted(o.name for o in stale))
