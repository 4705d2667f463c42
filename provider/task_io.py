"""What one task read and wrote: the record lineage (catalog runs, OpenLineage) is built from.

Operators fill a :class:`TaskIO` while they execute; the lineage layer turns it into
``run`` entities with ``consumes``/``produced_by`` edges and into OpenLineage facets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # DAG files build a TaskIO per operator: no catalog models at parse time
    from digitalhub_airflow.datasets.versions import VersionInfo


@dataclass
class QualityFacts:
    """Validation and profiling results for one version, as OpenLineage reports them.

    ``assertions``: ``{"assertion": str, "success": bool, "column": str | None}`` each;
    ``metrics``: ``{"rowCount": int, "bytes": int, "columnMetrics": {column: {...}}}`` in
    the shape of OpenLineage's DataQualityMetrics facet.
    """

    assertions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskIO:
    inputs: list[VersionInfo] = field(default_factory=list)
    outputs: list[VersionInfo] = field(default_factory=list)
    quality: dict[str, QualityFacts] = field(default_factory=dict)  # by version key

    def read(self, info: VersionInfo) -> VersionInfo:
        if all(i.key != info.key for i in self.inputs):
            self.inputs.append(info)
        return info

    def wrote(self, info: VersionInfo) -> VersionInfo:
        if all(o.key != info.key for o in self.outputs):
            self.outputs.append(info)
        return info
