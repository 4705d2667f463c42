"""Column-level lineage of a version made by a SQL transform, derived from its query.

The run of a SQL transform records its query and the exact input versions; sqlglot
traces each output column back to the input columns it is computed from, given the
inputs' schemas. The answer has the shape of OpenLineage's column lineage dataset
facet (``fields`` -> ``inputFields`` of namespace, name, field). Versions made any
other way have no column lineage (None).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.models import Relationship, Run
from digitalhub_airflow.query.sql import DS_CALL

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

NAMESPACE = "dhub"


def column_lineage(hub: DataHub, key: str) -> dict[str, Any] | None:
    """``{"run", "fields": {column: {"inputFields": [...]}}}`` of a SQL-made version."""
    from digitalhub_airflow.lineage.runs import PRODUCED_BY

    info = hub.resolve(key)
    with hub.catalog.session() as session:
        run = session.scalars(
            select(Run)
            .join(Relationship, Relationship.target == Run.key)
            .where(Relationship.source == info.key, Relationship.relation == PRODUCED_BY)
        ).first()
        recorded = run.transform if run is not None else None
        run_key = run.key if run is not None else None
    if not recorded or recorded.get("kind") != "sql" or not recorded.get("query"):
        return None
    inputs: dict[str, str] = recorded.get("inputs") or {}
    aliases = {written: f"input_{i}" for i, written in enumerate(inputs)}
    query = DS_CALL.sub(lambda m: aliases.get(m.group(1), m.group(0)), recorded["query"])
    schema = {
        aliases[written]: {c["name"]: c["type"] for c in hub.resolve(pinned).schema or []}
        for written, pinned in inputs.items()
    }
    pinned_of = {aliases[w]: p for w, p in inputs.items()}
    fields = {
        column["name"]: {"inputFields": _sources(query, column["name"], schema, pinned_of)}
        for column in info.schema or []
    }
    return {"run": run_key, "fields": fields}


def _sources(
    query: str, column: str, schema: dict[str, dict[str, str]], pinned_of: dict[str, str]
) -> list[dict[str, str]]:
    """The input columns ``column`` of the query's result is computed from."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage

    try:
        node = lineage(column, query, schema=schema, dialect="duckdb")
    except (SqlglotError, KeyError, ValueError):
        return []
    found = []
    for leaf in node.walk():
        if leaf.downstream or not isinstance(leaf.source, exp.Table):
            continue
        table = leaf.source.name
        if table in pinned_of:
            field = leaf.name.rsplit(".", 1)[-1]
            entry = {"namespace": NAMESPACE, "name": pinned_of[table], "field": field}
            if entry not in found:
                found.append(entry)
    return found
