"""``DeployDataServiceOperator``: a table dataset served as REST and GraphQL
(``kind: data``), deployed, recorded and rolled out like a model server.

Undeploy and roll back a data service with ``UndeployModelOperator`` and
``RollbackModelOperator``: they act on any recorded service by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from digitalhub_airflow.operators.serving import _DeployOperator


class DeployDataServiceOperator(_DeployOperator):
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
        super().__init__(project=project, name=name, target=target, spec=spec, **kwargs)
        self.dataset = dataset

    def served(self) -> dict[str, Any]:
        return {"kind": "data", "dataset": self.dataset}
