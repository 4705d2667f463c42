"""``CommitDatasetOperator``: commit a path, glob or ``s3://`` URI as a new version."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.keys import as_dataset_key
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.assets import (
    announce,
    commit_alias,
    dataset_asset,
    is_templated,
    producer_of,
)

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.commit import CommitResult
    from digitalhub_airflow.hub import DataHub

log = logging.getLogger(__name__)


def commit_and_announce(
    context: Any, hub: DataHub, target: str, source: Any, kind: str, **options: Any
) -> CommitResult:
    """Commit, record the producing task, and put the version on the Asset event."""
    result = hub.commit(target, source, kind=kind, producer=producer_of(context), **options)
    data = result.to_json()
    announce(context, dataset_asset(result.version.dataset), data)
    state = "committed" if result.created else "unchanged, reusing"
    log.info("%s v%s: %s", state, data["seq"], data["key"])
    return result


class CommitDatasetOperator(DigitalHubOperator):
    """Commit ``source`` as a version of ``target``; returns the version as XCom.

    :param target: ``store://<project>/dataitem/<kind>/<name>`` or ``<project>/<name>``.
    :param source: a file, a folder, a glob or an ``s3://`` URI.
    :param kind: ``table`` (CSV, Parquet, JSON lines) or ``files``.
    :param schema_policy: ``any`` or ``additive`` (refuse dropped or retyped columns).
    :param aliases: aliases to move to the new version, besides ``latest``.
    """

    template_fields: Sequence[str] = ("target", "source", "message", "aliases")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        target: str,
        source: str,
        kind: str = "table",
        message: str = "",
        schema_policy: str = "any",
        aliases: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        outlet = (
            commit_alias(kwargs["task_id"]) if is_templated(target) else dataset_asset(target, kind)
        )
        kwargs["outlets"] = [*kwargs.get("outlets", []), outlet]
        super().__init__(**kwargs)
        self.target = target
        self.source = source
        self.kind = kind
        self.message = message
        self.schema_policy = schema_policy
        self.aliases = list(aliases)

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [], [str(as_dataset_key(self.target, self.kind))]

    def perform(self, context: Any) -> dict[str, Any]:
        with self.task_hub() as hub:
            result = commit_and_announce(
                context,
                hub,
                self.target,
                self.source,
                self.kind,
                message=self.message,
                schema_policy=self.schema_policy,
                aliases=self.aliases,
            )
        self.task_io.wrote(result.version)
        return result.to_json()
