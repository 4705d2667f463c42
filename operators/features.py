"""Feature store operators: register definitions, materialise, build a training set.

Thin wrappers over :mod:`digitalhub_airflow.features`. A features DAG applies the
definitions from git, then materialises on each new version of the source dataset::

    with DAG("features", schedule=[dataset_asset("demo/wine-orders")]):
        apply = ApplyFeaturesOperator(task_id="apply", folder="dags/features")
        apply >> MaterializeFeaturesOperator(task_id="materialize", project="demo")

Each reports the exact source versions it read, so the task's catalog run gets its
``consumes`` edges; the definition digest and window go on the run's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.assets import announce, dataset_asset, is_templated


class _FeaturesOperator(DigitalHubOperator):
    def read_versions(self, hub: Any, keys: list[str]) -> None:
        for key in keys:
            self.task_io.read(hub.resolve(key))


class ApplyFeaturesOperator(_FeaturesOperator):
    """Register the Feast definitions in ``folder`` (``dhub features apply``)."""

    template_fields: Sequence[str] = ("folder", "project")

    def __init__(self, *, folder: str, project: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder
        self.project = project

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.features.apply import apply_definitions

        with self.task_hub() as hub:
            result = apply_definitions(hub, self.folder, self.project or None)
            self.read_versions(hub, [s.version for s in result.sources])
        self.log.info("applied %s (digest %s)", self.folder, result.digest)
        return result.to_json()


class MaterializeFeaturesOperator(_FeaturesOperator):
    """Load the online store up to ``end`` (ISO time; default: the run's data interval
    end, or when an Asset-triggered run was due); incremental unless ``start`` is given."""

    template_fields: Sequence[str] = ("project", "end", "start", "views")

    def __init__(
        self,
        *,
        project: str,
        end: str | None = None,
        start: str | None = None,
        views: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.end = end
        self.start = start
        self.views = list(views)

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.features.materialize import materialize

        end = (
            datetime.fromisoformat(str(self.end))
            if self.end
            else context.get("data_interval_end") or context["dag_run"].run_after
        )
        start = datetime.fromisoformat(str(self.start)) if self.start else None
        with self.task_hub() as hub:
            result = materialize(hub, self.project, end, start, self.views or None)
            self.read_versions(hub, [s.version for s in result.sources])
        self.log.info("materialized %s: %d rows", ", ".join(result.views), result.rows)
        return result.to_json()


class BuildTrainingSetOperator(_FeaturesOperator):
    """Commit the point-in-time join of ``entities`` with ``service`` to ``target``."""

    template_fields: Sequence[str] = ("service", "entities", "target", "message")

    def __init__(
        self,
        *,
        service: str,
        entities: str,
        target: str,
        timestamp_column: str = "event_timestamp",
        message: str = "",
        **kwargs: Any,
    ) -> None:
        if not is_templated(target):
            kwargs["outlets"] = [*kwargs.get("outlets", []), dataset_asset(target)]
        super().__init__(**kwargs)
        self.service = service
        self.entities = entities
        self.target = target
        self.timestamp_column = timestamp_column
        self.message = message

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.features.training_set import build_training_set

        with self.task_hub() as hub:
            result = build_training_set(
                hub,
                self.service,
                self.entities,
                self.target,
                timestamp=self.timestamp_column,
                message=self.message,
            )
        for info in result.inputs:
            self.task_io.read(info)
        self.task_io.wrote(result.version)
        announce(context, dataset_asset(result.version.dataset), result.version.to_json())
        return result.to_json()
