"""``DeployDataServiceOperator``: a table dataset served as REST and GraphQL
(``kind: data``), deployed, recorded and rolled out like a model server.

Undeploy and roll back a data service with ``UndeployModelOperator`` and
``RollbackModelOperator``: they act on any recorded service by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from digitalhub_airflow.operators.serving import _ServingOperator


class DeployDataServiceOperator(_ServingOperator):
    """Deploy (or update) a data service.

    :param project: the catalog project of the service.
    :param name: the service's name (a Kubernetes name for ``kubernetes``).
    :param dataset: the table it serves: a version (``…:v3``, ``…:<id>``) it stays on, or
        an alias (``…@prod``, or none for ``latest``) it follows as it moves.
    :param target: ``local`` or ``kubernetes``.
    :param spec: the other fields of the spec (``port``, ``replicas``, ``exposure``,
        ``allow_quarantined``…), see :class:`~digitalhub_airflow.serving.deploy.spec.ServiceSpec`.
    """

    template_fields: Sequence[str] = ("project", "name", "dataset", "target", "spec")
    template_fields_renderers: ClassVar[dict[str, str]] = {"spec": "json"}

    def __init__(
        self,
        *,
        project: str,
        name: str,
        dataset: str,
        target: str = "local",
        spec: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.name = name
        self.dataset = dataset
        self.target = target
        self.spec = spec or {}

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.deployer import start_deploy
        from digitalhub_airflow.serving.deploy.spec import spec_from_json

        fields = {**self.spec, "project": self.project, "name": self.name, "kind": "data"}
        spec = spec_from_json({**fields, "target": self.target, "dataset": self.dataset})
        with self.task_hub() as hub:
            started = start_deploy(hub, self.deployer(spec.target), spec, self.desired)
        return self.finish(started)

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return super().rollout_complete(context, event)["records"][0]
