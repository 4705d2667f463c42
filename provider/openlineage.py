"""OpenLineage facets for the suite's operators, built from what a task read and wrote.

Every dataset has one stable identity: namespace ``store://<project>``, name
``dataitem/<kind>/<name>``; the exact version is the DatasetVersion facet. Schema,
the physical blobs (Symlinks; never credentials), output statistics and data quality
ride along. Imports of the provider and client are lazy: DAG files never pay for them.

Events go wherever the provider's transport says: a file in the embedded default
(``AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "file", "log_file_path": "…", "append": true}'``),
Marquez over HTTP in a real deployment
(``'{"type": "http", "url": "http://marquez:5000", "endpoint": "api/v1/lineage"}'``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attr

from digitalhub_airflow.keys import as_key

if TYPE_CHECKING:  # the catalog models behind VersionInfo: not at the START event
    from airflow.providers.openlineage.extractors import OperatorLineage

    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.provider.task_io import QualityFacts, TaskIO

#: Blob symlinks listed per dataset; a big file tree is summarised by its store root.
MAX_SYMLINKS = 20
RUN_FACET_SCHEMA = "https://github.com/digitalhub-airflow/spec/DigitalHubRunFacet.json"


def emission_enabled() -> bool:
    """Whether the provider will send events at all (its own switch, cached by it)."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


def dataset_identity(key: str) -> tuple[str, str]:
    """(namespace, name) of a dataset, the same for every version of it."""
    parsed = as_key(key)
    return f"store://{parsed.project}", f"{parsed.entity_type}/{parsed.kind}/{parsed.name}"


def physical_identity(location: str) -> tuple[str, str]:
    """(namespace, name) of a store location, per OpenLineage naming (file://, s3://bucket)."""
    scheme, _, rest = location.partition("://")
    if scheme == "s3":
        bucket, _, path = rest.partition("/")
        return f"s3://{bucket}", path
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}", f"/{path}"


def blob_locations(hub: DataHub, info: VersionInfo) -> list[tuple[str, str]]:
    """Where a version's bytes are: each blob, or the blob folder for a big file tree.

    Looked up by the version's exact key through the core
    (:func:`digitalhub_airflow.datasets.locations.version_locations`).
    """
    return version_symlinks(hub, [info]).get(info.key, [])


def version_symlinks(
    hub: DataHub, versions: Iterable[VersionInfo]
) -> dict[str, list[tuple[str, str]]]:
    """:func:`blob_locations` of several versions (one catalog transaction), by key."""
    from digitalhub_airflow.datasets.locations import version_locations

    found = version_locations(hub, versions, MAX_SYMLINKS)
    return {key: [physical_identity(url) for url in urls] for key, urls in found.items()}


def dataset_facets(info: VersionInfo, locations: list[tuple[str, str]]) -> dict[str, Any]:
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        schema_dataset,
        symlinks_dataset,
    )

    facets: dict[str, Any] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=info.version_id
        )
    }
    if info.schema:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=c["name"], type=c["type"], ordinal_position=i + 1
                )
                for i, c in enumerate(info.schema)
            ]
        )
    if locations:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(namespace=ns, name=name, type="FILE")
                for ns, name in locations
            ]
        )
    return facets


def quality_facets(facts: QualityFacts) -> dict[str, Any]:
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset as assertions,
    )
    from openlineage.client.facet_v2 import (
        data_quality_metrics_input_dataset as metrics,
    )

    facets: dict[str, Any] = {}
    if facts.assertions:
        facets["dataQualityAssertions"] = assertions.DataQualityAssertionsDatasetFacet(
            assertions=[
                assertions.Assertion(
                    assertion=str(a["assertion"]),
                    success=bool(a["success"]),
                    column=a.get("column"),
                )
                for a in facts.assertions
            ]
        )
    if facts.metrics:
        column_fields = {f.name for f in attr.fields(metrics.ColumnMetrics)}
        facets["dataQualityMetrics"] = metrics.DataQualityMetricsInputDatasetFacet(
            rowCount=facts.metrics.get("rowCount"),
            bytes=facts.metrics.get("bytes"),
            columnMetrics={
                column: metrics.ColumnMetrics(
                    **{k: v for k, v in values.items() if k in column_fields}
                )
                for column, values in (facts.metrics.get("columnMetrics") or {}).items()
            },
        )
    return facets


def declared_dataset(key: str, output: bool) -> Any:
    """A dataset known only by name (START, before anything was read or written)."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    namespace, name = dataset_identity(key)
    return (OutputDataset if output else InputDataset)(namespace=namespace, name=name)


def input_dataset(
    info: VersionInfo, facts: QualityFacts | None, locations: list[tuple[str, str]]
) -> Any:
    from openlineage.client.event_v2 import InputDataset

    namespace, name = dataset_identity(info.key)
    return InputDataset(
        namespace=namespace,
        name=name,
        facets=dataset_facets(info, locations),
        inputFacets=quality_facets(facts) if facts else {},
    )


def output_dataset(info: VersionInfo, locations: list[tuple[str, str]]) -> Any:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

    namespace, name = dataset_identity(info.key)
    return OutputDataset(
        namespace=namespace,
        name=name,
        facets=dataset_facets(info, locations),
        outputFacets={
            "outputStatistics": stats.OutputStatisticsOutputDatasetFacet(
                rowCount=info.row_count, size=info.size_bytes, fileCount=info.file_count
            )
        },
    )


@functools.cache
def run_facet_class() -> type:
    """Defined once per process (an attrs class costs milliseconds to build), on first
    use so that DAG files never import the client."""
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class DigitalHubRunFacet(RunFacet):
        key: str
        cacheHit: bool

        @staticmethod
        def _get_schema() -> str:
            return RUN_FACET_SCHEMA

    return DigitalHubRunFacet


def run_facet(run_key: str | None, cache_hit: bool) -> Any:
    """The catalog run this task recorded, so a lineage backend links back to it."""
    return run_facet_class()(key=run_key or "", cacheHit=cache_hit)


def started_lineage(inputs: list[str], outputs: list[str]) -> OperatorLineage:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[declared_dataset(k, output=False) for k in inputs],
        outputs=[declared_dataset(k, output=True) for k in outputs],
    )


def finished_lineage(
    task_io: TaskIO,
    locations: dict[str, list[tuple[str, str]]],
    run_key: str | None,
    cache_hit: bool = False,
) -> OperatorLineage:
    """Inputs and outputs with their exact versions, quality and statistics.

    Built from what the task recorded while it ran: the provider calls this in a forked
    process, where opening the catalog (connections come from the task supervisor) is
    neither safe nor fast.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[
            input_dataset(i, task_io.quality.get(i.key), locations.get(i.key, []))
            for i in task_io.inputs
        ],
        outputs=[output_dataset(o, locations.get(o.key, [])) for o in task_io.outputs],
        run_facets={"digitalhub": run_facet(run_key, cache_hit)} if run_key else {},
    )
