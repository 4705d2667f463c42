"""``TagDatasetOperator``: point an alias (``prod``, ``champion``…) at a version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from digitalhub_airflow.hooks.digitalhub import DigitalHubHook


class TagDatasetOperator(BaseOperator):
    """Move ``alias`` to the version ``key`` names (``:vN``, ``:<id>``, ``@alias``, latest)."""

    template_fields: Sequence[str] = ("key", "alias")

    def __init__(
        self,
        *,
        key: str,
        alias: str,
        catalog_conn_id: str = "dhub_catalog",
        store_conn_id: str = "dhub_store",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.alias = alias
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        with DigitalHubHook(self.catalog_conn_id, self.store_conn_id).get_hub() as hub:
            info = hub.tag(self.key, self.alias)
        self.log.info("@%s -> %s (v%s)", self.alias, info.key, info.seq)
        return info.to_json()
