"""``dhub.tables``, ``dhub.datasets``, ``dhub.versions`` and ``dhub.columns``: discovery
for SQL clients, limited to the projects the user may read, as Arrow tables taken when a
session opens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


def catalog_tables(
    hub: DataHub, projects: frozenset[str] | None, here: str, operational: dict[str, str]
) -> dict[str, Any]:
    """The views' tables; ``projects`` None means every project. ``dhub.tables`` lists
    every name a query in project ``here`` can use: datasets (another project's as
    ``other/name``) and ``operational`` (``ops.<name>`` -> ``schema.table``)."""
    import pyarrow as pa
    from sqlalchemy import select

    from digitalhub_airflow.catalog.migrate import require_current
    from digitalhub_airflow.catalog.models import Dataset, Project, Version, VersionQuality
    from digitalhub_airflow.datasets.versions import aliases_by_version

    query = (
        select(Project.name, Dataset, Version, VersionQuality.state)
        .join(Dataset, Dataset.project_id == Project.id)
        .join(Version, Version.dataset_id == Dataset.id)
        .outerjoin(VersionQuality, VersionQuality.version_pk == Version.id)
        .order_by(Project.name, Dataset.name, Version.seq)
    )
    if projects is not None:
        query = query.where(Project.name.in_(sorted(projects)))
    datasets: dict[tuple[str, str], dict[str, Any]] = {}
    versions: list[dict[str, Any]] = []
    columns: list[dict[str, Any]] = []
    require_current(hub.catalog)
    with hub.catalog.session() as session:
        aliases: dict[int, dict[int, list[str]]] = {}
        for project, dataset, version, quality in session.execute(query):
            if dataset.id not in aliases:
                aliases[dataset.id] = aliases_by_version(session, dataset.id)
            key = f"store://{project}/dataitem/{dataset.kind}/{dataset.name}"
            versions.append(
                {
                    "project": project,
                    "name": dataset.name,
                    "seq": version.seq,
                    "version_id": version.version_id,
                    "key": f"{key}:{version.version_id}",
                    "aliases": ",".join(sorted(aliases[dataset.id].get(version.id, []))),
                    "quality": quality,
                    "row_count": version.row_count,
                    "size_bytes": version.size_bytes,
                    "created_by": version.created_by,
                    "created_at": version.created_at,
                }
            )
            datasets[(project, dataset.name)] = {
                "project": project,
                "name": dataset.name,
                "kind": dataset.kind,
                "key": key,
                "versions": version.seq,
                "created_at": dataset.created_at,
            }
            if version.seq == dataset.latest_seq:
                for ordinal, column in enumerate(version.schema_json or [], start=1):
                    columns.append(
                        {
                            "project": project,
                            "name": dataset.name,
                            "column_name": column["name"],
                            "data_type": column["type"],
                            "ordinal_position": ordinal,
                        }
                    )
    tables = [
        {
            "table_name": name if owner == here else f"{owner}/{name}",
            "kind": "dataset",
            "source": row["key"],
        }
        for (owner, name), row in datasets.items()
    ]
    tables += [
        {"table_name": name, "kind": "operational", "source": source}
        for name, source in operational.items()
    ]
    return {
        "tables": _table(pa, tables, TABLE_COLUMNS),
        "datasets": _table(pa, list(datasets.values()), DATASET_COLUMNS),
        "versions": _table(pa, versions, VERSION_COLUMNS),
        "columns": _table(pa, columns, COLUMN_COLUMNS),
    }


TABLE_COLUMNS = {"table_name": "string", "kind": "string", "source": "string"}
DATASET_COLUMNS = {
    "project": "string",
    "name": "string",
    "kind": "string",
    "key": "string",
    "versions": "int64",
    "created_at": "timestamp",
}
VERSION_COLUMNS = {
    "project": "string",
    "name": "string",
    "seq": "int64",
    "version_id": "string",
    "key": "string",
    "aliases": "string",
    "quality": "string",
    "row_count": "int64",
    "size_bytes": "int64",
    "created_by": "string",
    "created_at": "timestamp",
}
COLUMN_COLUMNS = {
    "project": "string",
    "name": "string",
    "column_name": "string",
    "data_type": "string",
    "ordinal_position": "int64",
}


def _table(pa: Any, rows: list[dict[str, Any]], columns: dict[str, str]) -> Any:
    types = {"string": pa.string(), "int64": pa.int64(), "timestamp": pa.timestamp("us", "UTC")}
    schema = pa.schema([(name, types[kind]) for name, kind in columns.items()])
    return pa.Table.from_pylist(rows, schema=schema)
