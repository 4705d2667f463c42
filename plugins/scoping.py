"""Projects as a security boundary for the catalog's API and pages.

Airflow's role decides whether a user may read or change the catalog at all
(:mod:`.auth`); the project grants (:mod:`digitalhub_airflow.access.permissions`)
decide which projects: lists show only readable projects, and another project's
dataset, model or service answers 403 (a styled page for the pages). Changes need a
write grant on the project on top of the Airflow permission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request

if TYPE_CHECKING:
    from digitalhub_airflow.access.principal import Principal
    from digitalhub_airflow.hub import DataHub


def principal(request: Request) -> Principal:
    """Who asks, with their Airflow roles (once per request)."""
    found = getattr(request.state, "dhub_principal", None)
    if found is None:
        from digitalhub_airflow.plugins.auth import principal_from_request

        found = principal_from_request(request)
        request.state.dhub_principal = found
    return found  # type: ignore[no-any-return]


def readable(request: Request, hub: DataHub) -> frozenset[str] | None:
    """The projects the asker may read; None: every project (admins)."""
    from digitalhub_airflow.access.permissions import readable_projects

    return readable_projects(hub.catalog, principal(request))


def require_project(request: Request, hub: DataHub, project: str, *, write: bool = False) -> None:
    """PermissionDeniedError (403) unless the asker may read (``write``: change) ``project``."""
    from digitalhub_airflow.access.permissions import Level, require

    require(hub.catalog, principal(request), project, Level.WRITE if write else Level.READ)


def only_readable(
    request: Request, hub: DataHub, items: list[Any], field: str = "project"
) -> list[Any]:
    """``items`` (dicts with a project) limited to the readable projects."""
    allowed = readable(request, hub)
    if allowed is None:
        return items
    return [item for item in items if item[field] in allowed]


def scoped_graph(request: Request, hub: DataHub, graph: dict[str, Any]) -> dict[str, Any]:
    """A lineage graph without the nodes (and their edges) of projects the asker may not
    read; ``hidden`` says how many were left out."""
    from digitalhub_airflow.keys import parse_key

    allowed = readable(request, hub)
    if allowed is None:
        return graph
    keep = {n["key"] for n in graph["nodes"] if parse_key(n["key"]).project in allowed}
    return {
        **graph,
        "nodes": [n for n in graph["nodes"] if n["key"] in keep],
        "edges": [e for e in graph["edges"] if e["source"] in keep and e["target"] in keep],
        "hidden": len(graph["nodes"]) - len(keep),
    }
