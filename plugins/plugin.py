"""The ``digitalhub`` Airflow plugin: macros to resolve dataset keys in templates."""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin


def dhub_version(key: str) -> str:
    """Template macro: the exact version key a key resolves to right now.

    ``{{ macros.digitalhub.dhub_version('store://demo/dataitem/table/wine@prod') }}``
    pins a task to one version when it renders.
    """
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

    with DigitalHubHook().get_hub() as hub:
        return hub.resolve(key).key


class DigitalHubPlugin(AirflowPlugin):
    name = "digitalhub"
    macros: ClassVar[list] = [dhub_version]
