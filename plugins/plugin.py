"""The ``digitalhub`` Airflow plugin: the catalog app, its place in the UI, and macros.

* ``fastapi_apps``: the catalog's REST API and pages under ``/dhub`` (authenticated by
  :mod:`.auth`; Airflow does not protect plugin apps itself).
* ``external_views``: "Catalog" in the navigation, and a "Catalog versions" tab on DAG
  run and task instance pages listing the versions they produced.
* ``macros``: resolve a key to its exact version at render time.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin


def dhub_version(key: str) -> str:
    """Template macro: the exact version key a key resolves to right now.

    ``{{ macros.digitalhub.dhub_version('store://demo/dataitem/table/wine@prod') }}``
    pins a task to one version when it renders.
    """
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

    with DigitalHubHook().get_hub() as hub:
        return hub.resolve(key).key


class _CatalogApps:
    """``fastapi_apps``, built on first access: only the API server reads it, so the
    scheduler, workers and DAG parsing never import FastAPI routes for it."""

    def __get__(self, _obj: object, _owner: type) -> list[dict[str, Any]]:
        return _catalog_apps()


@cache
def _catalog_apps() -> list[dict[str, Any]]:
    from digitalhub_airflow.plugins.catalog_app import create_app

    return [{"app": create_app(), "url_prefix": "/dhub", "name": "DigitalHub catalog"}]


PRODUCED = "/dhub/ui/produced?dag_id={DAG_ID}&run_id={RUN_ID}"


class DigitalHubPlugin(AirflowPlugin):
    name = "digitalhub"
    macros: ClassVar[list] = [dhub_version]
    fastapi_apps = _CatalogApps()
    external_views: ClassVar[list] = [
        {
            "name": "Catalog",
            "href": "/dhub/ui/",
            "destination": "nav",
            "url_route": "dhub-catalog",
            "icon": "/dhub/ui/static/icon.svg",
        },
        {
            "name": "Catalog versions",
            "href": PRODUCED,
            "destination": "dag_run",
            "url_route": "dhub-run-versions",
        },
        {
            "name": "Catalog versions",
            "href": PRODUCED + "&task_id={TASK_ID}",
            "destination": "task_instance",
            "url_route": "dhub-task-versions",
        },
    ]
