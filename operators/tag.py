"""``TagDatasetOperator``: point an alias (``prod``, ``champion``…) at a version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digitalhub_airflow.operators.base import DigitalHubOperator


class TagDatasetOperator(DigitalHubOperator):
    """Move ``alias`` to the version ``key`` names (``:vN``, ``:<id>``, ``@alias``, latest)."""

    template_fields: Sequence[str] = ("key", "alias")

    def __init__(
        self,
        *,
        key: str,
        alias: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.alias = alias

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [self.key], []

    def perform(self, context: Any) -> dict[str, Any]:
        with self.task_hub() as hub:
            info = hub.tag(self.key, self.alias)
        self.task_io.read(info)  # an alias move writes no version
        self.log.info("@%s -> %s (v%s)", self.alias, info.key, info.seq)
        return info.to_json()
